package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"peer/tools/testcase"
)

// A pulled cable must not split the group (spec §5 "Partitions", §6
// invariant 7). Five peers, each in a network namespace of its own on a
// switch of the test's own, form a group; then the network between one side
// and the other is cut for cutFor, well past the failure timeout and the
// probe timeout, and healed:
//
//   - member: peer 3 alone is cut off;
//   - leader: peer 1, the leader, is cut off;
//   - split:  peers 1 and 2 | peers 3, 4 and 5 (each side still connected
//     within itself).
//
// Each runs with -rejoin (the end: all five in one view, led by the
// majority's leader) and without (the end: the majority in one view, the
// cut-off peers exited with code 0 once they learned they were removed).
// Checked over every stderr line of every peer (testcase.Case.Check): a view
// id never names two views, each peer's view ids increase, every majority
// peer reports each cut-off peer unreachable once; and in time: the majority
// installs a view without the cut-off side before the heal, the cut-off side
// installs nothing while cut (it has no quorum), and after the heal the
// expected end comes within waitLimit, after which nothing more happens for
// partitionSettle.
//
// The cut is an iptables rule in the INPUT chain of every peer's namespace
// that drops what comes from the other side: both directions are cut, a
// sender sees no error (no refusal, no reset: the cable is pulled, not the
// process killed), and on the heal the rules go and the same addresses work
// again. It needs root, unshare, nsenter, ip and iptables; without them the
// test is skipped. The six runs go in parallel, each on its own namespaces
// and subnet 10.200.N.0/24; nothing is made in the test's own namespace.

const (
	// cutFor is how long the cut lasts: the 6 s, against a failure
	// timeout (hbTimeout, 1 s) plus a probe timeout (1.1 s, the default for
	// these flags).
	cutFor = 6 * time.Second
	// partitionSettle is how long nothing may happen after the end.
	partitionSettle = 3 * time.Second
)

// partition is one way to cut the group of five.
type partition struct {
	name        string
	cut         []int    // the side without a quorum
	leader      int      // the majority's leader after the cut
	unreachable []string // what every majority peer reports
}

var partitions = []partition{
	{name: "member", cut: []int{3}, leader: 1, unreachable: []string{"peer 3 unreachable"}},
	{name: "leader", cut: []int{1}, leader: 2, unreachable: []string{"peer 1 (leader) unreachable"}},
	{name: "split", cut: []int{1, 2}, leader: 3, unreachable: []string{"peer 1 (leader) unreachable", "peer 2 unreachable"}},
}

func TestPartition(t *testing.T) {
	subnet := 0
	for _, p := range partitions {
		for _, rejoin := range []bool{true, false} {
			subnet++
			name := p.name + "/exit"
			if rejoin {
				name = p.name + "/rejoin"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				partitionRun(t, p, rejoin, subnet)
			})
		}
	}
}

func partitionRun(t *testing.T, p partition, rejoin bool, subnet int) {
	const size = 5
	all := []int{1, 2, 3, 4, 5}
	majority := slices.DeleteFunc(slices.Clone(all), func(id int) bool { return slices.Contains(p.cut, id) })
	peerBinary(t) // skips in short mode, before any namespace is made
	l := newLAN(t, subnet, size)

	// The logs stay when the test fails.
	dir, err := os.MkdirTemp("", "partition-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs kept in %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	})
	var hostsText strings.Builder
	for id := 1; id <= size; id++ {
		fmt.Fprintln(&hostsText, l.addr(id))
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.txt"), []byte(hostsText.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := clusterFrom(t, dir, hbFlags...)
	c.prefixOf = func(id int) []string { return l.peers[id-1].prefix() }
	var extra []string
	if rejoin {
		extra = []string{"-rejoin"}
	}
	for _, id := range all {
		c.start(id, extra...)
	}
	c.waitView(all...)
	m := c.mark()

	l.cut(t, p.cut, majority)
	cutAt := time.Now()
	healAt := cutAt.Add(cutFor)
	v, ok := c.viewBefore(healAt, majority...)
	if !ok {
		t.Fatalf("the majority %v did not install a view of itself within the %v cut", majority, cutFor)
	}
	majorityAfter := time.Since(cutAt)
	if v.Leader != p.leader {
		t.Fatalf("the majority's view %d %v is led by %d, want %d", v.View, v.Members, v.Leader, p.leader)
	}
	time.Sleep(time.Until(healAt)) // the rest of the cut: the scenario itself
	for _, id := range p.cut {
		for _, s := range c.since(m, id) {
			if line, err := testcase.ParseLine(s); err == nil && line.IsView {
				t.Errorf("cut-off peer %d installed a view while cut: %s", id, s)
			}
		}
	}
	c.checkAlive(all...) // nobody gives up while cut: the cut side waits
	drops := l.heal(t)
	healedAt := time.Now()
	if drops == 0 {
		t.Error("the rules dropped nothing: the cut did not reach the peers")
	}
	if t.Failed() {
		t.FailNow()
	}

	final := majority
	if rejoin {
		final = all
		c.waitView(all...)
	} else {
		for _, id := range p.cut {
			q := c.proc(id)
			select {
			case <-q.done:
			case <-time.After(time.Until(healedAt.Add(waitLimit))):
				t.Fatalf("cut-off peer %d did not exit within %v of the heal", id, waitLimit)
			}
			if code := q.exitCode(); code != 0 {
				t.Fatalf("cut-off peer %d exited with code %d", id, code)
			}
			if len(q.events("removed")) != 1 {
				t.Fatalf("cut-off peer %d exited without logging that it was removed", id)
			}
		}
	}
	endAfter := time.Since(healedAt)
	end := c.waitView(final...)
	if end.Leader != p.leader {
		t.Fatalf("final view %d %v led by %d, want %d", end.View, end.Members, end.Leader, p.leader)
	}
	t.Logf("cut %v: the majority's view %d %v (leader %d) %v after the cut; healed after %v (%d packets dropped); the end, view %d %v, %v after the heal",
		p.cut, v.View, v.Members, v.Leader, majorityAfter.Round(time.Millisecond), cutFor, drops, end.View, end.Members, endAfter.Round(time.Millisecond))
	for _, id := range p.cut {
		t.Logf("cut-off peer %d printed while cut and after: %q", id, c.since(m, id))
	}

	// Nothing more happens: no view, no report, nobody exits.
	settled := c.mark()
	time.Sleep(partitionSettle)
	for _, id := range final {
		c.checkLines(settled, id)
	}
	c.checkAlive(final...)

	// Every line of the run, against the contract.
	out := testcase.Output{Stderr: map[int][]string{}}
	for _, id := range all {
		out.Stderr[id] = c.proc(id).stderr()
	}
	tc := testcase.Case{Survivors: majority, FinalLeader: p.leader, FinalMembers: final, Unreachable: p.unreachable}
	if rejoin {
		tc.Rejoined = p.cut
	} else {
		tc.Removed = p.cut
	}
	for _, err := range tc.Check(out) {
		t.Error(err)
	}
}

// viewBefore waits until every peer in members has installed one view with
// exactly those members, or deadline passes.
func (c *cluster) viewBefore(deadline time.Time, members ...int) (testcase.Line, bool) {
	for {
		var v testcase.Line
		ok := true
		for i, id := range members {
			l, seen := c.proc(id).lastView()
			if !seen || !slices.Equal(l.Members, members) || i > 0 && (l.View != v.View || l.Leader != v.Leader) {
				ok = false
				break
			}
			v = l
		}
		if ok {
			return v, true
		}
		if time.Now().After(deadline) {
			return testcase.Line{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lan is a switch, a bridge in a network namespace of its own, and one
// namespace per peer joined to it by a veth pair: peer id is 10.200.S.id/24
// on its eth0, for the lan's subnet S. Every link is made inside the
// namespaces, none in the test's own; they all go with their namespaces.
type lan struct {
	subnet int
	sw     *namespace
	peers  []*namespace // peers[id-1]
}

// newLAN makes the switch and size peer namespaces, or skips the test when
// it cannot (no root, a tool missing, no bridge or veth in the kernel).
func newLAN(t *testing.T, subnet, size int) *lan {
	t.Helper()
	l := &lan{subnet: subnet, sw: netns(t)}
	l.sw.run(t, "ip", "link", "add", "br0", "type", "bridge", "forward_delay", "0")
	l.sw.run(t, "ip", "link", "set", "br0", "up")
	for id := 1; id <= size; id++ {
		ns := netns(t)
		port := "p" + strconv.Itoa(id)
		l.sw.run(t, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(ns.holder.Process.Pid))
		l.sw.run(t, "ip", "link", "set", port, "master", "br0", "up")
		ns.run(t, "ip", "addr", "add", l.addr(id)+"/24", "dev", "eth0")
		ns.run(t, "ip", "link", "set", "eth0", "up")
		ns.run(t, "ip", "link", "set", "lo", "up")
		ns.run(t, "iptables", "-L", "INPUT", "-n") // iptables works in a namespace
		l.peers = append(l.peers, ns)
	}
	return l
}

func (l *lan) addr(id int) string { return fmt.Sprintf("10.200.%d.%d", l.subnet, id) }

func (l *lan) addrs(ids []int) string {
	var a []string
	for _, id := range ids {
		a = append(a, l.addr(id))
	}
	return strings.Join(a, ",")
}

// cut drops, in every namespace of each side, what comes from the other
// side: both directions, silently. The rules go in at once.
func (l *lan) cut(t *testing.T, a, b []int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(a)+len(b))
	for _, side := range [][2][]int{{a, b}, {b, a}} {
		for _, id := range side[0] {
			wg.Go(func() {
				cmd := l.peers[id-1].cmd("iptables", "-A", "INPUT", "-s", l.addrs(side[1]), "-j", "DROP")
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("peer %d: iptables: %v: %s", id, err, out)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// heal removes every rule and returns how many packets they dropped.
func (l *lan) heal(t *testing.T) int {
	t.Helper()
	var wg sync.WaitGroup
	counts := make([]int, len(l.peers))
	for i, ns := range l.peers {
		wg.Go(func() {
			// What the rules dropped, read just before they go.
			out, err := ns.cmd("iptables", "-L", "INPUT", "-n", "-v", "-x").CombinedOutput()
			if err == nil {
				for _, line := range strings.Split(string(out), "\n") {
					if f := strings.Fields(line); len(f) > 2 && f[2] == "DROP" {
						n, _ := strconv.Atoi(f[0])
						counts[i] += n
					}
				}
			}
			if out, err := ns.cmd("iptables", "-F", "INPUT").CombinedOutput(); err != nil {
				t.Errorf("peer %d: iptables -F: %v: %s", i+1, err, out)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	return total
}
