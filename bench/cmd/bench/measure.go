package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cell is every measurement of one variant at one N. Durations are in
// milliseconds, one entry per successful trial.
type Cell struct {
	Variant string `json:"variant"`
	System  string `json:"system"`
	N       int    `json:"n"`
	Trials  int    `json:"trials"`

	Formation []float64 `json:"formation_ms"` // all started -> last process shows N members
	// Startup: all started -> the last process started its protocol (the
	// operating system's and the runtime's share of Formation); FormationUp:
	// from then -> the last process shows N members (the protocol's share).
	Startup     []float64 `json:"startup_ms"`
	FormationUp []float64 `json:"formation_after_last_up_ms"`
	Removal     []float64 `json:"removal_ms"` // kill -9 of a non-leader -> last survivor without it
	// RemovalDetect: kill -> the leader logged the victim unreachable (peer);
	// kill -> first survivor dropped it (memberlist).
	RemovalDetect []float64 `json:"removal_detect_ms"`
	// RemovalAfter: that detection -> last survivor's new view.
	RemovalAfter []float64 `json:"removal_after_detect_ms"`
	// Failover: kill -9 of the leader (peer: node 1; memberlist: node 1,
	// the seed, which it treats like any node) -> last survivor has the new
	// leader's view without it.
	Failover       []float64 `json:"failover_ms"`
	FailoverDetect []float64 `json:"failover_detect_ms"`
	FailoverAfter  []float64 `json:"failover_after_detect_ms"`

	// Steady state, first trial only: CPU in percent of one core, mean per
	// process, and resident memory in MiB, mean per process.
	CPU    float64 `json:"cpu_percent"`
	RSS    float64 `json:"rss_mib"`
	Window float64 `json:"window_s"`
	// UDP is the machine's Udp InDatagrams per second in the window divided
	// by N: datagrams received per process if nothing else runs (the JSON
	// only: on a shared machine other work inflates it).
	UDP      float64 `json:"udp_per_process_per_s"`
	Unsteady int     `json:"membership_changes_in_window"`
	LaunchMS float64 `json:"launch_ms"` // time to start all N processes (first trial)
	// Settle: formation -> every process shows the whole group and nothing
	// changed for the quiet period (memberlist keeps refuting suspicions for
	// a while after a crowded start).
	Settle   []float64 `json:"settle_ms"`
	Errors   []string  `json:"errors,omitempty"`
	ElapsedS float64   `json:"elapsed_s"`
}

// settleLimit bounds the wait for a quiet group.
const settleLimit = 30 * time.Second

type runOpts struct {
	trials  int
	window  time.Duration
	logs    string
	verbose bool
	seed    uint64
}

// measure runs the trials of one cell. Each trial is a fresh group: form it,
// (first trial) measure the steady state, kill a non-leader, then kill the
// leader.
func measure(v *variant, bins binaries, n int, o runOpts) *Cell {
	c := &Cell{Variant: v.Key, System: v.System, N: n, Trials: o.trials}
	began := time.Now()
	runTrials(o, &c.Errors, func() bool { return len(c.Formation) == 0 }, func(k int) error {
		return trial(v, bins, n, k, o, c)
	})
	c.ElapsedS = time.Since(began).Seconds()
	return c
}

// runTrials runs trial k for k = 0 .. o.trials-1, recording the failures in
// errs. It gives up after two failures, or after a first trial that failed
// with nothing measured (empty): the machine does not hold this cell.
func runTrials(o runOpts, errs *[]string, empty func() bool, trial func(k int) error) {
	failed := 0
	for k := range o.trials {
		if err := trial(k); err != nil {
			*errs = append(*errs, fmt.Sprintf("trial %d: %v", k+1, err))
			logf(o, "    trial %d: %v", k+1, err)
			failed++
			if k == 0 && empty() || failed == 2 {
				break // save the time
			}
		}
	}
}

// victimOf is the non-leader that trial k at group size n takes out: the
// same for every variant, for the kill and the leave rows (and the loss
// rows take the first trial's).
func victimOf(seed uint64, n, k int) int {
	rng := rand.New(rand.NewPCG(seed, uint64(n*1000+k)))
	return 2 + rng.IntN(n-1)
}

func trial(v *variant, bins binaries, n, k int, o runOpts, c *Cell) error {
	dir := filepath.Join(o.logs, fmt.Sprintf("%s-N%d-t%d", v.Key, n, k+1))
	cl, t0, err := start(v, bins, n, dir, launch{})
	if err != nil {
		return err
	}
	defer cl.close()
	launched := time.Since(t0)

	at, err := cl.wait(v.deadline(n))
	if err != nil {
		return fmt.Errorf("formation: %w", err)
	}
	form := ms(latest(at).Sub(t0))
	c.Formation = append(c.Formation, form)
	up := cl.lastUp()
	if !up.IsZero() {
		c.FormationUp = append(c.FormationUp, ms(latest(at).Sub(up)))
		c.Startup = append(c.Startup, ms(up.Sub(t0)))
	}
	logf(o, "    trial %d: formation %s (last process up after %s)", k+1, fmtMS(form), fmtMS(ms(up.Sub(t0))))

	settled, err := cl.settle(v.settle(), settleLimit)
	c.Settle = append(c.Settle, ms(settled))
	if err != nil {
		return err
	}
	if settled > 2*v.settle() {
		logf(o, "    trial %d: settled after %s", k+1, fmtMS(ms(settled)))
	}
	if k == 0 {
		c.LaunchMS = ms(launched)
		before := cl.changes()
		udp0, _ := udpReceived()
		cpu, rss, err := steady(cl.pids(cl.alive()), o.window)
		if err != nil {
			return err
		}
		udp1, err := udpReceived()
		if err == nil {
			c.UDP = float64(udp1-udp0) / o.window.Seconds() / float64(n)
		}
		c.CPU, c.RSS, c.Window = cpu, rss, o.window.Seconds()
		c.Unsteady = cl.changes() - before
		logf(o, "    steady state: %.2f%% CPU, %.1f MiB RSS per process (%d membership changes in the window)", cpu, rss, c.Unsteady)
	}

	victim := victimOf(o.seed, n, k)
	rem, det, after, err := removal(cl, v, n, victim, 1, syscall.SIGKILL)
	if err != nil {
		return fmt.Errorf("removal of %d: %w", victim, err)
	}
	c.Removal = append(c.Removal, rem)
	c.RemovalDetect = append(c.RemovalDetect, det)
	c.RemovalAfter = append(c.RemovalAfter, after)
	logf(o, "    trial %d: removal of %d: %s (detected %s, then %s)", k+1, victim, fmtMS(rem), fmtMS(det), fmtMS(after))

	if n < 3 {
		return nil
	}
	if _, err := cl.settle(v.settle(), settleLimit); err != nil {
		return fmt.Errorf("after the removal: %w", err)
	}
	alive := cl.alive()
	next := alive[1] // the lowest survivor once 1 is gone
	fo, det, after, err := removal(cl, v, n-1, 1, next, syscall.SIGKILL)
	if err != nil {
		return fmt.Errorf("failover (kill 1): %w", err)
	}
	c.Failover = append(c.Failover, fo)
	c.FailoverDetect = append(c.FailoverDetect, det)
	c.FailoverAfter = append(c.FailoverAfter, after)
	logf(o, "    trial %d: failover: %s (detected %s, then %s)", k+1, fmtMS(fo), fmtMS(det), fmtMS(after))
	return nil
}

// removal sends sig to victim in a group of n alive processes (SIGKILL: a
// crash; SIGTERM: a graceful leave) and waits until every survivor has
// exactly the other n-1 members (and, for peer, leader as its leader). It
// returns signal -> last survivor, signal -> detection and detection -> last
// survivor, in ms (without a detection, as after a leave, detection is the
// last survivor).
func removal(cl *cluster, v *variant, n, victim, leader int, sig syscall.Signal) (total, detect, after float64, err error) {
	var survivors []int
	for _, id := range cl.alive() {
		if id != victim {
			survivors = append(survivors, id)
		}
	}
	if len(survivors) != n-1 {
		return 0, 0, 0, fmt.Errorf("%d alive, want %d", len(survivors)+1, n)
	}
	want := map[int]bool{}
	for _, id := range survivors {
		want[id] = true
	}
	cl.arm(survivors, func(p *proc) bool {
		if len(p.members) != len(want) {
			return false
		}
		for m := range p.members {
			if !want[m] {
				return false
			}
		}
		return !v.Leader() || p.leader == leader
	})
	tk, err := cl.kill(victim, sig)
	if err != nil {
		return 0, 0, 0, err
	}
	at, err := cl.wait(v.deadline(n))
	if err != nil {
		return 0, 0, 0, err
	}
	last := latest(at)
	var det time.Time
	if v.Leader() {
		var ok bool
		if det, ok = cl.unreachable(leader, victim); !ok {
			det = last
		}
	} else {
		det = earliest(at)
	}
	return ms(last.Sub(tk)), ms(det.Sub(tk)), ms(last.Sub(det)), nil
}

func latest(at map[int]time.Time) time.Time {
	var t time.Time
	for _, a := range at {
		if a.After(t) {
			t = a
		}
	}
	return t
}

func earliest(at map[int]time.Time) time.Time {
	var t time.Time
	for _, a := range at {
		if t.IsZero() || a.Before(t) {
			t = a
		}
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// steady samples every process's CPU time over window and its resident set
// at the end; it returns the means per process (CPU in % of one core).
func steady(pids []int, window time.Duration) (cpu, rssMiB float64, err error) {
	before := make([]time.Duration, len(pids))
	for i, pid := range pids {
		if before[i], err = cpuTime(pid); err != nil {
			return 0, 0, err
		}
	}
	t0 := time.Now()
	time.Sleep(window)
	elapsed := time.Since(t0)
	var sumCPU time.Duration
	var sumRSS float64
	for i, pid := range pids {
		after, err := cpuTime(pid)
		if err != nil {
			return 0, 0, err
		}
		sumCPU += after - before[i]
		r, err := rss(pid)
		if err != nil {
			return 0, 0, err
		}
		sumRSS += r
	}
	n := float64(len(pids))
	return 100 * sumCPU.Seconds() / elapsed.Seconds() / n, sumRSS / n, nil
}

// cpuTime is the process's user+system time from /proc/PID/stat (the kernel
// sums it over every thread, live and exited).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errNoProcStats, err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may contain spaces
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: short /proc/%d/stat", errNoProcStats, pid)
	}
	// After the comm: state(0) ... utime(11) stime(12), in clock ticks.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func rss(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errNoProcStats, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("%w: no VmRSS for %d", errNoProcStats, pid)
}

func logf(o runOpts, format string, args ...any) {
	if o.verbose {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}

// udpReceived is the machine's count of UDP datagrams delivered
// (/proc/net/snmp, Udp: InDatagrams).
func udpReceived() (uint64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "Udp:") && strings.HasPrefix(lines[i+1], "Udp:") {
			names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			for j, n := range names {
				if n == "InDatagrams" && j < len(vals) {
					return strconv.ParseUint(vals[j], 10, 64)
				}
			}
		}
	}
	return 0, fmt.Errorf("bench: no Udp InDatagrams in /proc/net/snmp")
}
