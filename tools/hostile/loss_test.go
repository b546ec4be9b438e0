package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"peer/tools/testcase"
)

// Heartbeat loss must never remove a live peer: 8 peers at T = 100 ms with a
// 200 ms timeout, so that one or two lost heartbeats already make a peer
// suspect another, lose a share of every datagram for 30 s. The suspicions
// are checked over TCP and withdrawn: no view changes, no peer exits, no
// "unreachable" is printed. Then a member is killed with SIGKILL and every
// survivor removes it.
//
// The loss comes from a firewall rule in a network namespace of the test's
// own when it runs as root with unshare, nsenter and iptables (the real
// thing: the kernel drops the datagrams), and otherwise from the detector's
// test-only hook (a binary built with -tags peertest drops a share of what
// it reads, PEER_TEST_UDP_LOSS).
//
// The probe timeout is 2 s rather than the default (hb-timeout + retry
// period, at least membership.MinDefaultProbeTimeout: 1 s with these
// flags): the check must not fail because a busy CI machine kept a peer
// from running for a moment, which is another matter than lost datagrams
// (docs/benchmarks.md measures the default).

const (
	lossPeers    = 8
	lossDuration = 30 * time.Second
)

var lossFlags = []string{"-hb-interval", "100ms", "-hb-timeout", "200ms", "-probe-timeout", "2s"}

var (
	tagOnce sync.Once
	tagBin  string
	tagErr  error
)

// peertestBinary builds cmd/peer with -tags peertest once.
func peertestBinary(t *testing.T) string {
	t.Helper()
	peerBinary(t) // the build directory, and the short-mode skip
	tagOnce.Do(func() { tagBin, tagErr = testcase.BuildPeerTags(buildDir, "peertest") })
	if tagErr != nil {
		t.Fatal(tagErr)
	}
	return tagBin
}

func TestHeartbeatLoss(t *testing.T) {
	for _, loss := range []float64{0.05, 0.20} {
		t.Run(fmt.Sprintf("hook %.0f%%", 100*loss), func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, lossPeers, lossFlags...)
			c.bin = peertestBinary(t)
			c.env = []string{"PEER_TEST_UDP_LOSS=" + strconv.FormatFloat(loss, 'f', -1, 64)}
			lossRun(t, c)
		})
	}
	t.Run("iptables 20%", func(t *testing.T) {
		t.Parallel()
		ns := netns(t)
		ns.run(t, "ip", "link", "set", "lo", "up")
		ns.run(t, "iptables", "-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", "0.2", "-j", "DROP")
		c := newCluster(t, lossPeers, lossFlags...)
		c.prefix = ns.prefix()
		lossRun(t, c)
		dropped := ns.output(t, "iptables", "-L", "INPUT", "-n", "-v", "-x")
		t.Logf("firewall counters:\n%s", dropped)
	})
}

// lossRun forms the group, lets it run under loss, then kills a member.
func lossRun(t *testing.T, c *cluster) {
	all := make([]int, lossPeers)
	for i := range all {
		all[i] = i + 1
	}
	for _, id := range all {
		c.start(id)
	}
	c.waitView(all...)
	m := c.mark()
	time.Sleep(lossDuration) // the window in which nothing may happen
	c.checkAlive(all...)
	for _, id := range all {
		c.checkLines(m, id) // nothing: no view, no "unreachable"
	}
	suspected, ended := 0, 0
	for _, id := range all {
		suspected += len(c.proc(id).events("check_started"))
		ended += len(c.proc(id).events("suspicion_ended"))
	}
	if suspected == 0 {
		t.Fatal("no peer suspected another: the loss did not reach the detectors")
	}
	t.Logf("%v of loss: %d suspicions checked, %d withdrawn after a probe or a heartbeat, nothing else", lossDuration, suspected, ended)

	victim := lossPeers
	if err := c.proc(victim).cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	survivors := all[:lossPeers-1]
	c.waitView(survivors...)
	t.Logf("peer %d killed; every survivor's view without it %v later", victim, time.Since(killed).Round(time.Millisecond))
	for _, id := range survivors {
		c.checkLines(m, id, "peer "+strconv.Itoa(victim)+" unreachable", view(1, survivors...))
	}
}

// namespace is a private network namespace, held open by a sleeping process.
type namespace struct{ holder *exec.Cmd }

// netns makes a network namespace for the test, or skips it when it cannot:
// that needs root and unshare, nsenter, ip and iptables.
func netns(t *testing.T) *namespace {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and iptables")
	}
	for _, tool := range []string{"unshare", "nsenter", "ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	holder := exec.Command("unshare", "-n", "sleep", "3600")
	// The namespace goes when the holder does: with the test, or when the
	// test binary itself is killed.
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		t.Skipf("unshare -n: %v", err)
	}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	ns := &namespace{holder: holder}
	// The holder runs once unshare has made the namespace and exec'ed sleep.
	waitFor(t, "the namespace", func() bool {
		a, err1 := os.Readlink("/proc/self/ns/net")
		b, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid))
		return err1 == nil && err2 == nil && a != b
	})
	return ns
}

func (ns *namespace) prefix() []string {
	return []string{"nsenter", "-t", strconv.Itoa(ns.holder.Process.Pid), "-n"}
}

func (ns *namespace) run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := ns.cmd(argv...).CombinedOutput(); err != nil {
		t.Skipf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

func (ns *namespace) output(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := ns.cmd(argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func (ns *namespace) cmd(argv ...string) *exec.Cmd {
	p := ns.prefix()
	return exec.Command(p[0], append(p[1:], argv...)...)
}
