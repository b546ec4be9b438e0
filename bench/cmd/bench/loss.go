package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Heartbeat loss. A group runs in a network namespace of its own where the
// kernel drops a share of every inbound UDP datagram (heartbeats for peer,
// pings, acks and gossip for memberlist), while TCP is untouched (peer's
// messages and probes, memberlist's fallback pings and push/pull). Nobody
// crashes for a window; then one member is killed with SIGKILL. A live
// member that leaves some process's membership is a false removal.

// LossCell is one group of one variant run under UDP loss.
type LossCell struct {
	Variant string  `json:"variant"`
	System  string  `json:"system"`
	N       int     `json:"n"`
	Loss    float64 `json:"loss"` // the firewall rule's drop probability
	WindowS float64 `json:"window_s"`

	Formation float64 `json:"formation_ms"`
	// Inbound UDP datagrams in the namespace and how many the rule dropped,
	// from the start of the group to the end of the trial.
	UDPSeen    uint64 `json:"udp_datagrams"`
	UDPDropped uint64 `json:"udp_dropped"`
	// Suspicions of live members (any member but the victim, and the victim
	// before the kill): peer's checks (check_started), memberlist's failed
	// probes ("Suspect N has failed, no acks received"). Withdrawn: peer's
	// suspicion_ended and peer_revived; memberlist's refutations by the
	// suspect ("Refuting a suspect message", "Refuting a dead message").
	// MLDeclared: memberlist's "Marking N as failed, suspect timeout
	// reached" about a live member.
	Suspicions int `json:"suspicions"`
	Withdrawn  int `json:"suspicions_withdrawn"`
	MLDeclared int `json:"ml_declared_failed,omitempty"`
	// FalseRemovals counts every (process, live member) pair where the
	// process dropped the member; Removals says which, when.
	FalseRemovals int      `json:"false_removals"`
	Removals      []string `json:"false_removal_details,omitempty"`
	Exits         []string `json:"exits,omitempty"` // processes that ended unkilled, with peer's reason
	// UnreachableLive counts peer's "unreachable" lines about a member the
	// driver did not kill; UnreachableVictim how many survivors printed one
	// about the victim.
	UnreachableLive   int `json:"unreachable_live"`
	UnreachableVictim int `json:"unreachable_victim"`
	// Intact: processes whose membership was exactly the group just before
	// the kill.
	Intact int `json:"intact_before_kill"`

	Victim      int     `json:"victim"`
	KillRemoved bool    `json:"kill_removed_by_all"`
	KillMS      float64 `json:"kill_removal_ms"` // kill -> the last survivor without the victim
	KillFirstMS float64 `json:"kill_first_ms"`   // kill -> the first survivor without it

	Errors   []string `json:"errors,omitempty"`
	ElapsedS float64  `json:"elapsed_s"`
}

// lossPlan is one pair of variants run under loss at some rates.
type lossPlan struct {
	peer, ml string
	rates    []float64
	window   time.Duration
}

// lossReady reports why loss cannot be injected here, or nil: it needs root
// (a network namespace and iptables) and the tools.
func lossReady() error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root: a network namespace and iptables need root")
	}
	for _, tool := range []string{"unshare", "nsenter", "ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found", tool)
		}
	}
	ns, err := newNamespace(0.5)
	if err != nil {
		return err
	}
	ns.close()
	return nil
}

// namespace is a private network namespace, held open by a sleeping process
// (unshare -n), with loopback up and two rules on INPUT: the first counts
// every UDP datagram, the second drops each with probability loss.
type namespace struct{ holder *exec.Cmd }

func newNamespace(loss float64) (*namespace, error) {
	holder := exec.Command("unshare", "-n", "sleep", "86400")
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		return nil, fmt.Errorf("unshare -n: %w", err)
	}
	ns := &namespace{holder: holder}
	self, err := os.Readlink("/proc/self/ns/net")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		// The holder is in the namespace once unshare has exec'ed sleep.
		theirs, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid))
		if err == nil && err2 == nil && theirs != self {
			break
		}
		if time.Now().After(deadline) {
			ns.close()
			return nil, errors.New("unshare -n: no new network namespace after 5 s")
		}
	}
	p := strconv.FormatFloat(loss, 'f', -1, 64)
	for _, argv := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"iptables", "-A", "INPUT", "-p", "udp"},
		{"iptables", "-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"},
	} {
		if out, err := ns.output(argv...); err != nil {
			ns.close()
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return ns, nil
}

// prefix runs a command inside the namespace (nsenter execs it: the process
// started is the command itself).
func (ns *namespace) prefix() []string {
	return []string{"nsenter", "-t", strconv.Itoa(ns.holder.Process.Pid), "-n"}
}

func (ns *namespace) output(argv ...string) ([]byte, error) {
	p := append(ns.prefix(), argv...)
	return exec.Command(p[0], p[1:]...).CombinedOutput()
}

// counters returns the UDP datagrams that reached INPUT and those dropped.
func (ns *namespace) counters() (seen, dropped uint64, err error) {
	out, err := ns.output("iptables", "-L", "INPUT", "-n", "-v", "-x")
	if err != nil {
		return 0, 0, fmt.Errorf("iptables -L: %v: %s", err, out)
	}
	return parseCounters(string(out))
}

// parseCounters reads the packet counts of the two rules newNamespace adds,
// in order, from iptables -L -n -v -x.
func parseCounters(out string) (seen, dropped uint64, err error) {
	var pkts []uint64
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			pkts = append(pkts, v)
		}
	}
	if len(pkts) != 2 {
		return 0, 0, fmt.Errorf("want 2 rules in INPUT, found %d:\n%s", len(pkts), out)
	}
	return pkts[0], pkts[1], nil
}

func (ns *namespace) close() {
	ns.holder.Process.Kill()
	ns.holder.Wait()
}

// measureLoss runs one group of v under UDP loss.
func measureLoss(v *variant, bins binaries, n int, loss float64, window time.Duration, o runOpts) *LossCell {
	c := &LossCell{Variant: v.Key, System: v.System, N: n, Loss: loss, WindowS: window.Seconds()}
	began := time.Now()
	if err := lossTrial(v, bins, n, loss, window, o, c); err != nil {
		c.Errors = append(c.Errors, err.Error())
		logf(o, "    %v", err)
	}
	c.ElapsedS = time.Since(began).Seconds()
	return c
}

func lossTrial(v *variant, bins binaries, n int, loss float64, window time.Duration, o runOpts, c *LossCell) error {
	ns, err := newNamespace(loss)
	if err != nil {
		return err
	}
	defer ns.close()
	how := launch{prefix: ns.prefix()}
	if v.System == "memberlist" {
		how.extra = []string{"-log"} // its log says when it suspects a node
	}
	dir := filepath.Join(o.logs, fmt.Sprintf("loss%g-%s-N%d", 100*loss, v.Key, n))
	cl, t0, err := start(v, bins, n, dir, how)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			cl.close()
		}
	}()
	at, err := cl.wait(v.deadline(n))
	if err != nil {
		return fmt.Errorf("formation: %w", err)
	}
	c.Formation = ms(latest(at).Sub(t0))
	logf(o, "    formed in %s; %v under loss", fmtMS(c.Formation), window)
	time.Sleep(window)
	c.Intact = cl.intact()

	c.Victim = victimOf(o.seed, n, 0) // the first trial's victim
	total, _, _, err := removal(cl, v, n, c.Victim, 1, syscall.SIGKILL)
	if err != nil {
		c.Errors = append(c.Errors, fmt.Sprintf("kill -9 of %d: %v", c.Victim, err))
	} else {
		c.KillRemoved, c.KillMS = true, total
		c.KillFirstMS = ms(cl.firstDone().Sub(cl.killedAt(c.Victim)))
	}
	time.Sleep(v.settle()) // anything the kill sets off

	c.UDPSeen, c.UDPDropped, err = ns.counters()
	if err != nil {
		c.Errors = append(c.Errors, err.Error())
	}
	killAt := cl.killedAt(c.Victim)
	live := func(m mark) bool { return m.peer != c.Victim || killAt.IsZero() || m.at.Before(killAt) }
	cl.mu.Lock()
	for _, p := range cl.procs {
		for _, m := range p.checks {
			if live(m) {
				c.Suspicions++
			}
		}
		for _, m := range p.ended {
			if live(m) {
				c.Withdrawn++
			}
		}
		for _, m := range p.falsely {
			c.FalseRemovals++
			what := fmt.Sprintf("node %d dropped %d", p.id, m.peer)
			if m.peer == p.id {
				what = fmt.Sprintf("node %d was removed", p.id)
			}
			if m.view != 0 {
				what += fmt.Sprintf(" (view %d)", m.view)
			}
			c.Removals = append(c.Removals, fmt.Sprintf("%s at +%.3f s", what, m.at.Sub(t0).Seconds()))
		}
		for _, m := range p.unreach {
			if m.peer == c.Victim {
				c.UnreachableVictim++
			} else {
				c.UnreachableLive++
			}
		}
		if p.exited && !p.killed {
			c.Exits = append(c.Exits, fmt.Sprintf("node %d (%s)", p.id, orElse(p.exit, "no exit event")))
		}
	}
	cl.mu.Unlock()
	cl.close()
	closed = true
	if v.System == "memberlist" {
		for id := 1; id <= n; id++ {
			f, err := os.Open(filepath.Join(dir, fmt.Sprintf("node-%d.stderr", id)))
			if err != nil {
				c.Errors = append(c.Errors, err.Error())
				continue
			}
			s := readMLLog(f, live)
			f.Close()
			c.Suspicions += s.suspected
			c.Withdrawn += s.refuted
			c.MLDeclared += s.declared
		}
	}
	logf(o, "    %d of %d UDP datagrams dropped; %d suspicions, %d withdrawn; %d false removals, %d exits, %d unreachable lines about live members",
		c.UDPDropped, c.UDPSeen, c.Suspicions, c.Withdrawn, c.FalseRemovals, len(c.Exits), c.UnreachableLive)
	if c.KillRemoved {
		logf(o, "    kill -9 of %d: every survivor removed it after %s (the first after %s)", c.Victim, fmtMS(c.KillMS), fmtMS(c.KillFirstMS))
	}
	return nil
}

// intact counts the running processes whose membership is exactly the
// processes the driver did not kill.
func (c *cluster) intact() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for _, p := range c.procs {
		if p.killed || p.exited {
			continue
		}
		ok := true
		for _, q := range c.procs {
			if p.members[q.id] == q.killed {
				ok = false
			}
		}
		if ok {
			k++
		}
	}
	return k
}

// mlStats are the suspicions one memberlist node logged.
type mlStats struct{ suspected, refuted, declared int }

// readMLLog counts what an mlnode's -log output (memberlist's log, each
// line stamped with UTC microseconds) says about the members live reports
// as live at the time.
func readMLLog(r io.Reader, live func(mark) bool) mlStats {
	var s mlStats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		const stamp = "2006/01/02 15:04:05.000000"
		if len(l) < len(stamp) {
			continue
		}
		at, err := time.Parse(stamp, l[:len(stamp)])
		if err != nil {
			continue
		}
		about := func(before string) mark { // the node named right after before
			_, rest, _ := strings.Cut(l, before)
			id, _ := strconv.Atoi(strings.Fields(rest + " x")[0])
			return mark{at: at, peer: id}
		}
		switch {
		case strings.Contains(l, "no acks received"):
			if live(about("Suspect ")) {
				s.suspected++
			}
		case strings.Contains(l, "suspect timeout reached"):
			if live(about("Marking ")) {
				s.declared++
			}
		case strings.Contains(l, "Refuting a suspect message"), strings.Contains(l, "Refuting a dead message"):
			s.refuted++ // by the suspect itself: alive
		}
	}
	return s
}

func orElse(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// parseRates reads a comma-separated list of drop probabilities; "" and
// "none" are none.
func parseRates(s string) ([]float64, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 || r >= 1 {
			return nil, fmt.Errorf("%q: want probabilities between 0 and 1, e.g. 0.01,0.05,0.2", s)
		}
		out = append(out, r)
	}
	slices.Sort(out)
	return out, nil
}
