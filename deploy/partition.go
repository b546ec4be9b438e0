package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"peer/tools/testcase"
)

// The partition runs cut containers off the compose network for cutFor, well
// past a failure timeout and a probe timeout (1 s and 1.5 s by default), and
// reconnect them (spec §5 "Partitions", §6 invariant 7). The group is
// PartitionFile's: every peer runs with -rejoin, so the end is all five in
// one view again, led by the majority's leader. Checked, besides Case.Check
// over every stderr line (one view id names one view, view ids increase, one
// unreachable line per failure) and CheckLogs:
//
//   - the majority installs a view without the cut-off side before the
//     reconnection, and the cut-off side installs none while cut (it has no
//     quorum);
//   - all five are in one view within healLimit of the reconnection, the
//     cut-off peers under the same view id as the others (Case.Rejoined),
//     each having logged that it was removed;
//   - then nothing more is printed for quiet.
//
// docker network disconnect takes the container's interface away, so a
// peer cut off alone has no network at all. For the 2 | 3 split the two cut
// containers are first connected to a network of their own (sideNetwork),
// where Docker's DNS gives each the other's new address, and then
// disconnected from the compose network; the reconnection reverses it. The
// peers use a resolved address for hosts.CacheTTL before they look the name
// up again, so the two may or may not reach each other on the side network
// during the cut: when they do not, each reports the other unreachable,
// which the run notes rather than fails (docs/docker.md). Reconnected in the
// order of their old addresses, the containers get those addresses back (the
// engine hands out the lowest free one): the runner checks that they do, so
// that no peer sends to a stale address for a cache period after the heal.
const (
	cutFor = 6 * time.Second
	// healLimit is the bound from the reconnection to the end.
	healLimit = 15 * time.Second
)

// Partitions are the partition runs, in the order ./run.sh docker runs them.
var Partitions = []Fault{
	partitionFault("partition-member", "member three", []int{3}, 1, "peer 3 unreachable"),
	partitionFault("partition-leader", "leader one", []int{1}, 2, "peer 1 (leader) unreachable"),
	partitionFault("partition-split", "one and two (on a network of their own)", []int{1, 2}, 3,
		"peer 1 (leader) unreachable", "peer 2 unreachable"),
}

// partitionFault cuts peers off and reconnects them; leader leads the
// majority afterwards, and every majority peer reports unreachable.
func partitionFault(name, who string, cut []int, leader int, unreachable ...string) Fault {
	all := []int{1, 2, 3, 4, 5}
	majority := slices.DeleteFunc(slices.Clone(all), func(p int) bool { return slices.Contains(cut, p) })
	return Fault{
		Name: name,
		What: fmt.Sprintf("%s cut off the network for %v (docker network disconnect), then reconnected: the majority goes on under peer %d, the cut-off side changes nothing, and joins again (-rejoin)",
			who, cutFor, leader),
		File: PartitionFile,
		steps: func(ctx context.Context, g *Group) (testcase.Case, []int, error) {
			c := testcase.Case{Survivors: majority, Rejoined: cut, FinalLeader: leader, FinalMembers: all, Unreachable: unreachable}
			if err := upAll(ctx, g); err != nil {
				return c, nil, err
			}
			return c, nil, partition(ctx, g, c, expect(majority, leader))
		},
		extra: func(out testcase.Output, logs string) []error {
			var errs []error
			for _, p := range cut {
				errs = append(errs, loggedEvent(logs, p, "removed")...)
			}
			return errs
		},
	}
}

// partition cuts c.Rejoined off for cutFor, waits for the end majority
// (before the reconnection), reconnects, and waits for c's end.
func partition(ctx context.Context, g *Group, c testcase.Case, majority testcase.Case) (err error) {
	before := g.Snapshot()
	k, err := g.Cut(ctx, c.Rejoined)
	healed := false
	defer func() {
		if k != nil && !healed { // not reconnected yet: leave nothing behind
			err = errors.Join(err, k.Heal(context.WithoutCancel(ctx)))
		}
	}()
	if err != nil {
		return err
	}
	healAt := k.at.Add(cutFor)
	if err := g.Wait(ctx, fmt.Sprintf("the majority %v in one view led by %d, before the reconnection", majority.Survivors, majority.FinalLeader),
		time.Until(healAt), done(majority)); err != nil {
		return fmt.Errorf("the majority did not go on while cut: %w", err)
	}
	g.Note("cut -> the majority's view %v: %.1fs", majority.Survivors, time.Since(k.at).Seconds())
	select {
	case <-time.After(time.Until(healAt)):
	case <-ctx.Done():
		return ctx.Err()
	}
	during := g.Snapshot()
	for _, p := range c.Rejoined {
		for _, s := range during.Out.Stderr[p][len(before.Out.Stderr[p]):] {
			if l, err := testcase.ParseLine(s); err == nil && l.IsView {
				return fmt.Errorf("cut-off peer %d installed a view while cut: %s", p, s)
			}
		}
	}
	// Whether the cut-off peers reached each other: a fact to report, not a
	// check (docs/docker.md says why they may not).
	for _, p := range c.Rejoined {
		var lost []int
		for _, q := range c.Rejoined {
			if q != p && slices.ContainsFunc(during.Out.Stderr[p][len(before.Out.Stderr[p]):], func(s string) bool {
				return strings.Contains(s, fmt.Sprintf(`message:"peer %d unreachable"`, q)) ||
					strings.Contains(s, fmt.Sprintf(`message:"peer %d (leader) unreachable"`, q))
			}) {
				lost = append(lost, q)
			}
		}
		if len(lost) > 0 {
			g.Note("while cut, peer %d reported %v, on its side, unreachable", p, lost)
		}
	}
	healed = true
	if err := k.Heal(ctx); err != nil {
		return err
	}
	g.Note("cut for %.1fs (first disconnection to first reconnection)", k.healed.Sub(k.at).Seconds())
	healedAt := k.healed
	if err := g.Wait(ctx, "all five in one view again", waitChange, done(c)); err != nil {
		return err
	}
	took := time.Since(healedAt)
	g.Note("reconnection -> all five in one view: %.1fs", took.Seconds())
	if took > healLimit {
		return fmt.Errorf("all five were in one view %.1fs after the reconnection, over %v", took.Seconds(), healLimit)
	}
	end := g.Snapshot()
	g.Say("watching all five for %v", quiet)
	select {
	case <-time.After(quiet):
	case <-ctx.Done():
		return ctx.Err()
	}
	after := g.Snapshot()
	for p := 1; p <= 5; p++ {
		if n := len(end.Out.Stderr[p]); len(after.Out.Stderr[p]) > n {
			return fmt.Errorf("peer %d printed after the end: %q", p, after.Out.Stderr[p][n:])
		}
	}
	return nil
}

// Cut is a set of containers taken off the compose network.
type Cut struct {
	g     *Group
	peers []int
	addrs map[int]netip.Addr // each one's address on the compose network
	side  string             // the network the cut containers share, if any
	// at is when the disconnections began, healed when the reconnections
	// began.
	at, healed time.Time
}

// network is the compose network's name on the engine.
func (g *Group) network() string { return g.Project + "_" + Network }

// sideNetwork is the network two or more cut containers share.
func (g *Group) sideNetwork() string { return g.Project + "_side" }

// address is peer p's address on network.
func (g *Group) address(ctx context.Context, p int, network string) (netip.Addr, error) {
	out, err := output(ctx, "docker", "inspect", "-f",
		`{{with index .NetworkSettings.Networks "`+network+`"}}{{.IPAddress}}{{end}}`, Names[p-1])
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(strings.TrimSpace(out))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("deploy: %s has no address on %s (%q)", Names[p-1], network, strings.TrimSpace(out))
	}
	return a, nil
}

// Cut takes peers off the compose network. Two or more are first connected
// to a network of their own (labelled with the project, so that Down and
// Clear remove it should Heal not run), so that they still reach each
// other. The disconnections run at once.
func (g *Group) Cut(ctx context.Context, peers []int) (*Cut, error) {
	k := &Cut{g: g, peers: slices.Clone(peers), addrs: map[int]netip.Addr{}}
	for _, p := range peers {
		a, err := g.address(ctx, p, g.network())
		if err != nil {
			return nil, err
		}
		k.addrs[p] = a
	}
	if len(peers) > 1 {
		k.side = g.sideNetwork()
		g.Say("docker network create %s", k.side)
		if _, err := output(ctx, "docker", "network", "create", "--label", "com.docker.compose.project="+g.Project, k.side); err != nil {
			return nil, err
		}
		for _, p := range peers {
			g.Say("docker network connect --alias %s %s %s", Names[p-1], k.side, Names[p-1])
			if _, err := output(ctx, "docker", "network", "connect", "--alias", Names[p-1], k.side, Names[p-1]); err != nil {
				return k, err
			}
		}
	}
	g.Say("docker network disconnect %s %s", g.network(), names(peers))
	k.at = time.Now()
	return k, each(peers, func(p int) error {
		_, err := output(ctx, "docker", "network", "disconnect", g.network(), Names[p-1])
		return err
	})
}

// Heal connects the cut containers to the compose network again, in the
// order of their old addresses so that each gets its own back, with the
// service name as an alias as compose gives it; then takes them off the
// side network and removes it. It checks that the addresses are the old
// ones.
func (k *Cut) Heal(ctx context.Context) error {
	g := k.g
	order := slices.SortedFunc(slices.Values(k.peers), func(a, b int) int { return k.addrs[a].Compare(k.addrs[b]) })
	var errs []error
	k.healed = time.Now()
	for _, p := range order {
		if a, err := g.address(ctx, p, g.network()); err == nil && a == k.addrs[p] {
			continue // still connected (the cut failed before it)
		}
		g.Say("docker network connect --alias %s %s %s", Names[p-1], g.network(), Names[p-1])
		if _, err := output(ctx, "docker", "network", "connect", "--alias", Names[p-1], g.network(), Names[p-1]); err != nil {
			errs = append(errs, err)
			continue
		}
		if a, err := g.address(ctx, p, g.network()); err != nil {
			errs = append(errs, err)
		} else if a != k.addrs[p] {
			errs = append(errs, fmt.Errorf("deploy: %s came back as %s, not %s: peers that cached the old address would send there until it expires", Names[p-1], a, k.addrs[p]))
		}
	}
	if k.side != "" {
		g.Say("docker network disconnect %s %s; docker network rm %s", k.side, names(k.peers), k.side)
		each(k.peers, func(p int) error {
			_, err := output(ctx, "docker", "network", "disconnect", k.side, Names[p-1])
			return err // not connected, if the cut failed early
		})
		if _, err := output(ctx, "docker", "network", "rm", k.side); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// each runs f for every peer at once and joins the errors.
func each(peers []int, f func(p int) error) error {
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() { errs[i] = f(p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func names(peers []int) string {
	var s []string
	for _, p := range peers {
		s = append(s, Names[p-1])
	}
	return strings.Join(s, " ")
}
