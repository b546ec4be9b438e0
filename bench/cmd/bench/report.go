package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results is everything one run measured; it is written as JSON.
type Results struct {
	Machine  Machine      `json:"machine"`
	Started  time.Time    `json:"started"`
	ElapsedS float64      `json:"elapsed_s"`
	Quick    bool         `json:"quick"`
	Trials   int          `json:"trials"`
	Ns       []int        `json:"ns"`
	Cells    []*Cell      `json:"cells"`
	Loss     []*LossCell  `json:"loss,omitempty"`
	Leave    []*LeaveCell `json:"leave,omitempty"`
	Targets  []Target     `json:"targets"`
	Source   string       `json:"peer_source"`
	MLSeeds  string       `json:"ml_seeds"`
	Notes    []string     `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs    int     `json:"cpus"`
	Model   string  `json:"cpu_model"`
	MemGiB  float64 `json:"mem_gib"`
	Kernel  string  `json:"kernel"`
	Go      string  `json:"go"`
	LoadAvg string  `json:"loadavg_at_start"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.Model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(string(b), "MemTotal: %f kB", &kb)
		m.MemGiB = math.Round(kb/1024/1024*10) / 10
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %.1f GiB RAM, Linux %s, %s, load average at start %s",
		m.CPUs, m.Model, m.MemGiB, m.Kernel, m.Go, m.LoadAvg)
}

func (r *Results) cell(variant string, n int) *Cell {
	for _, c := range r.Cells {
		if c.Variant == variant && c.N == n {
			return c
		}
	}
	return nil
}

// metric is one row kind of the table.
type metric struct {
	name  string
	get   func(*Cell) []float64 // samples (p50 / max)
	value func(*Cell) float64   // a single value (CPU, RSS)
	unit  string
}

var metrics = []metric{
	{name: "formation, p50 / max", get: func(c *Cell) []float64 { return c.Formation }},
	{name: "formation: last process up → all have N, p50", get: func(c *Cell) []float64 { return c.FormationUp }},
	{name: "removal (kill -9 non-leader), p50 / max", get: func(c *Cell) []float64 { return c.Removal }},
	{name: "failover (kill -9 of node 1), p50 / max", get: func(c *Cell) []float64 { return c.Failover }},
	{name: "removal: detection → last view, p50", get: func(c *Cell) []float64 { return c.RemovalAfter }},
	{name: "failover: detection → last view, p50", get: func(c *Cell) []float64 { return c.FailoverAfter }},
	{name: "CPU per process (% of a core)", value: func(c *Cell) float64 { return c.CPU }, unit: "%"},
	{name: "RSS per process", value: func(c *Cell) float64 { return c.RSS }, unit: "MiB"},
}

// central is the number a ratio compares: p50, or the single value.
func (m metric) central(c *Cell) float64 {
	if c == nil {
		return math.NaN()
	}
	if m.value != nil {
		if c.Window == 0 {
			return math.NaN()
		}
		return m.value(c)
	}
	return p50(m.get(c))
}

func (m metric) cellText(c *Cell, maxToo bool) string {
	if c == nil {
		return "–"
	}
	if m.value != nil {
		if c.Window == 0 {
			return "–"
		}
		s := fmt.Sprintf("%.2f %s", m.value(c), m.unit)
		switch m.unit {
		case "MiB":
			s = fmt.Sprintf("%.1f %s", m.value(c), m.unit)
		case "/s":
			s = fmt.Sprintf("%.0f/s", m.value(c))
		}
		if c.Unsteady > 0 && m.unit == "%" {
			s += fmt.Sprintf(" (%d changes!)", c.Unsteady)
		}
		return s
	}
	return samplesText(m.get(c), c.Trials, len(c.Errors) > 0, maxToo)
}

// samplesText prints the p50 of xs (and the max): "failed" when there are
// none and some trial failed, with the count when fewer than trials held.
func samplesText(xs []float64, trials int, failed, maxToo bool) string {
	if len(xs) == 0 {
		if failed {
			return "failed"
		}
		return "–"
	}
	s := fmtMS(p50(xs))
	if maxToo {
		s += " / " + fmtMS(maxOf(xs))
	}
	if len(xs) < trials {
		s += fmt.Sprintf(" (%d/%d ok)", len(xs), trials)
	}
	return s
}

// table writes the results as one Markdown table: for every N, every metric,
// the variants side by side with the memberlist ÷ peer ratios.
func (r *Results) table(w io.Writer) {
	vs := allVariants()
	byKey := map[string]*variant{}
	for _, v := range vs {
		byKey[v.Key] = v
	}
	cols := []string{"peer-100ms", "peer-100ms-ff", "ml-tuned", "ratio:0", "ratio:1", "peer-default", "ml-local", "ratio:2"}
	head := []string{"N", "metric"}
	for _, c := range cols {
		if k, ok := strings.CutPrefix(c, "ratio:"); ok {
			head = append(head, pairs[k[0]-'0'].Label)
		} else {
			head = append(head, byKey[c].Label)
		}
	}
	fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat(" --- |", len(head)))
	for _, n := range r.Ns {
		for _, m := range metrics {
			row := []string{fmt.Sprint(n), m.name}
			for _, c := range cols {
				if k, ok := strings.CutPrefix(c, "ratio:"); ok {
					p := pairs[k[0]-'0']
					row = append(row, fmtRatio(m.central(r.cell(p.ML, n)), m.central(r.cell(p.Peer, n))))
					continue
				}
				row = append(row, m.cellText(r.cell(c, n), strings.Contains(m.name, "max")))
			}
			fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
		}
	}
}

// Target is one goal of issue 6 and whether this run met it.
type Target struct {
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met"` // nil: not measured in this run
}

func (r *Results) targets() []Target {
	var ts []Target
	add := func(goal, measured string, met bool, ok bool) {
		t := Target{Goal: goal, Measured: measured}
		if ok {
			t.Met = &met
		}
		ts = append(ts, t)
	}
	// held reports a cell that did not hold (no samples, errors) as missed.
	held := func(goal string, errs []string, samples []float64) bool {
		if len(samples) == 0 && len(errs) > 0 {
			add(goal, "did not hold on this machine: "+errs[0], false, true)
			return false
		}
		return true
	}
	form := func(n int, limit float64, key string) {
		c := r.cell(key, n)
		v, up, after := math.NaN(), math.NaN(), math.NaN()
		if c != nil {
			v, up, after = p50(c.Formation), p50(c.Startup), p50(c.FormationUp)
		}
		goal := fmt.Sprintf("formation N=%d ≤ %s (%s, p50)", n, fmtMS(limit), byKeyVariant(key).Label)
		if c == nil || !held(goal, c.Errors, c.Formation) {
			return
		}
		add(goal, fmt.Sprintf("p50 %s, max %s: the last process was up after %s (p50), then %s to every full view",
			fmtMS(v), fmtMS(maxOf(c.Formation)), fmtMS(up), fmtMS(after)),
			v <= limit, !math.IsNaN(v))
	}
	for _, key := range []string{"peer-100ms", "peer-default"} {
		form(16, 50, key)
		form(64, 300, key)
	}
	for _, key := range []string{"peer-100ms", "peer-default"} {
		v := byKeyVariant(key)
		limit := ms(v.Timeout) + 5
		for _, n := range r.Ns {
			if n > 64 {
				continue
			}
			c := r.cell(key, n)
			if c == nil {
				continue
			}
			goal := fmt.Sprintf("removal N=%d: kill -9 → last view p50 ≤ timeout + 5 ms = %s (%s)", n, fmtMS(limit), v.Label)
			if !held(goal, c.Errors, c.Removal) {
				continue
			}
			rem, after := p50(c.Removal), p50(c.RemovalAfter)
			add(goal, fmt.Sprintf("p50 %s, max %s", fmtMS(rem), fmtMS(maxOf(c.Removal))), rem <= limit, !math.IsNaN(rem))
			add(fmt.Sprintf("removal N=%d: leader's detection → last view p50 ≤ 5 ms (%s)", n, v.Label),
				fmt.Sprintf("p50 %s, max %s", fmtMS(after), fmtMS(maxOf(c.RemovalAfter))),
				after <= 5, !math.IsNaN(after))
			if m := r.cell("ml-tuned", n); key == "peer-100ms" && m != nil && len(m.Removal) > 0 {
				mp := p50(m.Removal)
				add(fmt.Sprintf("removal N=%d: p50 at most half of memberlist's tuned to the same period (%s)", n, v.Label),
					fmt.Sprintf("peer %s, memberlist %s (%s)", fmtMS(rem), fmtMS(mp), fmtRatio(mp, rem)),
					2*rem <= mp, !math.IsNaN(rem))
			}
		}
	}
	for _, n := range r.Ns {
		if n > 64 {
			continue
		}
		c := r.cell("peer-100ms-ff", n)
		goal := fmt.Sprintf("-fast-fail N=%d: kill -9 → new view ≤ 10 ms (p50)", n)
		if c == nil || !held(goal, c.Errors, c.Removal) {
			continue
		}
		rem := p50(c.Removal)
		slow, kills := 0, 0
		for _, d := range append(slices.Clone(c.RemovalDetect), c.FailoverDetect...) {
			kills++
			if d >= 50 {
				slow++ // a connection loss is seen within a few ms; at N ≤ 16 this is the heartbeat timeout
			}
		}
		add(goal,
			fmt.Sprintf("removal p50 %s, max %s; failover p50 %s, max %s; %d of %d kills detected 50 ms or more after the kill",
				fmtMS(rem), fmtMS(maxOf(c.Removal)), fmtMS(p50(c.Failover)), fmtMS(maxOf(c.Failover)), slow, kills),
			rem <= 10, !math.IsNaN(rem))
	}
	p, m := r.cell("peer-100ms", 16), r.cell("ml-tuned", 16)
	if p != nil && m != nil && p.Window > 0 && m.Window > 0 {
		add("CPU per process at N=16, T=100ms ≤ memberlist's",
			fmt.Sprintf("peer %.2f%%, memberlist %.2f%%", p.CPU, m.CPU), p.CPU <= m.CPU, true)
		add("RSS per process at N=16, T=100ms ≤ memberlist's",
			fmt.Sprintf("peer %.1f MiB, memberlist %.1f MiB", p.RSS, m.RSS), p.RSS <= m.RSS, true)
	} else if len(r.Cells) > 0 {
		add("CPU and RSS per process at N=16, T=100ms ≤ memberlist's", "not measured", false, false)
	}
	for _, c := range r.Leave {
		if c.Variant != leaveVariants[0] {
			continue
		}
		goal := fmt.Sprintf("leave N=%d: SIGTERM of a member and then of the leader → every survivor's view ≤ 10 ms (p50), no \"unreachable\" line (%s)",
			c.N, byKeyVariant(c.Variant).Label)
		if !held(goal, c.Errors, c.Member) {
			continue
		}
		mem, lead := p50(c.Member), p50(c.Leader)
		measured := fmt.Sprintf("member p50 %s, max %s; leader p50 %s, max %s; %d \"unreachable\" lines about them; %d of %d exited by themselves",
			fmtMS(mem), fmtMS(maxOf(c.Member)), fmtMS(lead), fmtMS(maxOf(c.Leader)), c.Unreachable,
			len(c.MemberExit)+len(c.LeaderExit), c.Leaves)
		if len(c.Errors) > 0 {
			measured += fmt.Sprintf("; %d trial(s) failed", len(c.Errors))
		}
		if m := r.leaveCell(leaveVariants[1], c.N); m != nil && len(m.Member) > 0 {
			measured += fmt.Sprintf("; memberlist: member p50 %s, leader p50 %s", fmtMS(p50(m.Member)), fmtMS(p50(m.Leader)))
		}
		add(goal, measured, mem <= 10 && lead <= 10 && c.Unreachable == 0 && len(c.Errors) == 0, true)
	}
	for _, c := range r.Loss {
		v := byKeyVariant(c.Variant)
		if v == nil || v.System != "peer" {
			continue
		}
		ml := r.lossPartner(c)
		where := fmt.Sprintf("UDP loss %s, N=%d, %s, %.0f s", fmtPct(c.Loss), c.N, v.Label, c.WindowS)
		if c.Formation == 0 {
			add(where+": no live member removed", "did not run: "+strings.Join(c.Errors, "; "), false, true)
			continue
		}
		add(where+": no live member removed, no exit, no \"unreachable\" about a live member",
			fmt.Sprintf("%d false removals, %d exits, %d such lines; %d suspicions checked, %d withdrawn",
				c.FalseRemovals, len(c.Exits), c.UnreachableLive, c.Suspicions, c.Withdrawn),
			c.FalseRemovals == 0 && len(c.Exits) == 0 && c.UnreachableLive == 0, true)
		limit := ms(v.Timeout) + 5
		measured := "not removed by every survivor"
		if c.KillRemoved {
			measured = "every survivor after " + fmtMS(c.KillMS)
		}
		if ml != nil && ml.KillRemoved {
			measured += "; memberlist " + fmtMS(ml.KillMS)
		}
		add(fmt.Sprintf("%s: kill -9 → every survivor removed it ≤ timeout + 5 ms = %s", where, fmtMS(limit)),
			measured, c.KillRemoved && c.KillMS <= limit, true)
	}
	return ts
}

// lossPartner is the memberlist cell run beside a peer loss cell.
func (r *Results) lossPartner(c *LossCell) *LossCell {
	for _, p := range pairs {
		if p.Peer != c.Variant {
			continue
		}
		for _, m := range r.Loss {
			if m.Variant == p.ML && m.N == c.N && m.Loss == c.Loss {
				return m
			}
		}
	}
	return nil
}

// lossTables writes one table per loss rate, group size and period: peer
// and memberlist side by side.
func (r *Results) lossTables(w io.Writer) {
	fmt.Fprintln(w, "UDP loss: every inbound UDP datagram dropped with the given probability by iptables in a network namespace of the group's own (TCP untouched); nobody crashes for the window, then one member is killed with SIGKILL. Counts run from the start of the group to a settle period after the kill.")
	fmt.Fprintln(w)
	for _, c := range r.Loss {
		v := byKeyVariant(c.Variant)
		if v == nil || v.System != "peer" {
			continue
		}
		m := r.lossPartner(c)
		mv := &variant{Label: "memberlist"}
		if m != nil {
			mv = byKeyVariant(m.Variant)
		}
		fmt.Fprintf(w, "UDP loss %s, N=%d, %.0f s window, kill -9 of node %d:\n\n", fmtPct(c.Loss), c.N, c.WindowS, c.Victim)
		fmt.Fprintf(w, "| metric | %s | %s |\n| --- | --- | --- |\n", v.Label, mv.Label)
		for _, row := range lossRows {
			mt := "–"
			if m != nil {
				mt = row.text(m)
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", row.name, row.text(c), mt)
		}
		fmt.Fprintln(w)
		for _, x := range []*LossCell{c, m} {
			if x == nil {
				continue
			}
			for _, d := range append(slices.Clone(x.Removals), x.Exits...) {
				fmt.Fprintf(w, "- %s: %s\n", x.Variant, d)
			}
			for _, e := range x.Errors {
				fmt.Fprintf(w, "- %s: %s\n", x.Variant, e)
			}
		}
		fmt.Fprintln(w)
	}
}

// lossRows are the rows of a loss table.
var lossRows = []struct {
	name string
	text func(*LossCell) string
}{
	{"UDP datagrams dropped", func(c *LossCell) string {
		if c.UDPSeen == 0 {
			return "–"
		}
		return fmt.Sprintf("%d of %d (%.1f %%)", c.UDPDropped, c.UDPSeen, 100*float64(c.UDPDropped)/float64(c.UDPSeen))
	}},
	{"suspicions of live members (peer: checked over TCP; memberlist: probe failed)", func(c *LossCell) string {
		what := "withdrawn"
		if c.System == "memberlist" {
			what = "refuted"
		}
		s := fmt.Sprintf("%d, %d %s", c.Suspicions, c.Withdrawn, what)
		if c.MLDeclared > 0 {
			s += fmt.Sprintf(", %d declared failed", c.MLDeclared)
		}
		return s
	}},
	{"false removals (a live member dropped by a process)", func(c *LossCell) string { return strconv.Itoa(c.FalseRemovals) }},
	{"processes exited", func(c *LossCell) string { return strconv.Itoa(len(c.Exits)) }},
	{"\"unreachable\" lines about live members", func(c *LossCell) string {
		if c.System != "peer" {
			return "–"
		}
		return strconv.Itoa(c.UnreachableLive)
	}},
	{"views exactly the group before the kill", func(c *LossCell) string {
		if c.Formation == 0 {
			return "–"
		}
		return fmt.Sprintf("%d of %d", c.Intact, c.N)
	}},
	{"kill -9: removed by every survivor after (first survivor)", func(c *LossCell) string {
		switch {
		case c.Formation == 0:
			return "did not form"
		case !c.KillRemoved:
			return "no"
		}
		return fmt.Sprintf("yes, %s (%s)", fmtMS(c.KillMS), fmtMS(c.KillFirstMS))
	}},
}

func (r *Results) leaveCell(variant string, n int) *LeaveCell {
	for _, c := range r.Leave {
		if c.Variant == variant && c.N == n {
			return c
		}
	}
	return nil
}

// leaveTable writes the leave rows: for every N, both systems at their
// defaults side by side with the memberlist ÷ peer ratio.
func (r *Results) leaveTable(w io.Writer) {
	fmt.Fprintln(w, "Graceful leave at the defaults: a fresh group per trial; once it formed and was quiet, SIGTERM to a non-leader (the kill rows' victim), then, quiet again, to node 1 (peer's leader). Times run from just before the signal to the last survivor whose membership lacks the node (peer: a view without it, after node 1 one led by the lowest survivor; memberlist: NotifyLeave, after the node's Leave).")
	fmt.Fprintln(w)
	pv, mv := byKeyVariant(leaveVariants[0]), byKeyVariant(leaveVariants[1])
	ratio := "ml÷peer"
	for _, p := range pairs {
		if p.Peer == pv.Key && p.ML == mv.Key {
			ratio = p.Label
		}
	}
	fmt.Fprintf(w, "| N | metric | %s | %s | %s |\n| --- | --- | --- | --- | --- |\n", pv.Label, mv.Label, ratio)
	var ns []int
	for _, c := range r.Leave {
		if !slices.Contains(ns, c.N) {
			ns = append(ns, c.N)
		}
	}
	for _, n := range ns {
		p, m := r.leaveCell(pv.Key, n), r.leaveCell(mv.Key, n)
		for _, row := range leaveRows {
			text := func(c *LeaveCell) string {
				if c == nil {
					return "–"
				}
				return row.text(c)
			}
			q := "–"
			if row.central != nil && p != nil && m != nil {
				q = fmtRatio(row.central(m), row.central(p))
			}
			fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", n, row.name, text(p), text(m), q)
		}
	}
	fmt.Fprintln(w)
	for _, c := range r.Leave {
		for _, s := range c.NotExited {
			fmt.Fprintf(w, "- %s N=%d %s\n", c.Variant, c.N, s)
		}
	}
}

// leaveRows are the rows of the leave table; central, where set, is the
// number the ratio compares.
var leaveRows = []struct {
	name    string
	text    func(*LeaveCell) string
	central func(*LeaveCell) float64
}{
	{"leave (SIGTERM member), p50 / max",
		func(c *LeaveCell) string { return samplesText(c.Member, c.Trials, len(c.Errors) > 0, true) },
		func(c *LeaveCell) float64 { return p50(c.Member) }},
	{"leave (SIGTERM leader), p50 / max",
		func(c *LeaveCell) string { return samplesText(c.Leader, c.Trials, len(c.Errors) > 0, true) },
		func(c *LeaveCell) float64 { return p50(c.Leader) }},
	{"SIGTERM → the process ended by itself, p50 member / leader (how many)", func(c *LeaveCell) string {
		return fmt.Sprintf("%s / %s (%d of %d)", fmtMS(p50(c.MemberExit)), fmtMS(p50(c.LeaderExit)), len(c.MemberExit)+len(c.LeaderExit), c.Leaves)
	}, nil},
	{"\"unreachable\" lines about the leaving nodes (about others)", func(c *LeaveCell) string {
		if c.System != "peer" {
			return "–"
		}
		return fmt.Sprintf("%d (%d)", c.Unreachable, c.UnreachableOther)
	}, nil},
	{"members that did not leave dropped by a process", func(c *LeaveCell) string { return strconv.Itoa(c.FalseRemovals) }, nil},
}

func maxOfCell(c *Cell, get func(*Cell) []float64) float64 {
	if c == nil {
		return math.NaN()
	}
	return maxOf(get(c))
}

func byKeyVariant(key string) *variant {
	for _, v := range allVariants() {
		if v.Key == key {
			return v
		}
	}
	return nil
}

func (r *Results) printTargets(w io.Writer) {
	for _, t := range r.Targets {
		mark := "n/a   "
		if t.Met != nil {
			mark = "MISSED"
			if *t.Met {
				mark = "met   "
			}
		}
		fmt.Fprintf(w, "- %s  %s: %s\n", mark, t.Goal, t.Measured)
	}
}

func (r *Results) printErrors(w io.Writer) {
	for _, c := range r.Cells {
		for _, e := range c.Errors {
			fmt.Fprintf(w, "- %s N=%d %s\n", c.Variant, c.N, e)
		}
	}
	for _, c := range r.Leave {
		for _, e := range c.Errors {
			fmt.Fprintf(w, "- leave %s N=%d %s\n", c.Variant, c.N, e)
		}
	}
}

// source names the peer code measured: the commit and the uncommitted files
// outside bench/ (the benchmark builds the working tree).
func source(root string) string {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	s := "commit " + strings.TrimSpace(string(head))
	st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench", ":!docs").Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		var files []string
		for _, l := range strings.Split(strings.TrimRight(string(st), "\n"), "\n") { // " M file": keep the leading space
			if len(l) > 3 {
				files = append(files, strings.TrimSpace(l[3:]))
			}
		}
		s += " with uncommitted changes in " + strings.Join(files, ", ")
	}
	return s
}
