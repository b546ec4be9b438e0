package main

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"
)

func TestP50(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := p50(tc.in); got != tc.want {
			t.Errorf("p50(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(p50(nil)) {
		t.Error("p50(nil) is not NaN")
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{2.345, "2.35 ms"}, {23.45, "23.4 ms"}, {234.5, "234 ms"}, {2345, "2.35 s"}, {23456, "23.5 s"}, {math.NaN(), "–"},
	} {
		if got := fmtMS(tc.v); got != tc.want {
			t.Errorf("fmtMS(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := fmtRatio(450, 150); got != "×3.00" {
		t.Errorf("fmtRatio = %q", got)
	}
	if got := fmtRatio(1, math.NaN()); got != "–" {
		t.Errorf("fmtRatio of a missing value = %q", got)
	}
}

func fakeResults() *Results {
	r := &Results{Ns: []int{5, 16}, Trials: 2, Machine: Machine{CPUs: 2, Model: "test <cpu>"}}
	for _, v := range allVariants() {
		for _, n := range r.Ns {
			f := float64(n)
			r.Cells = append(r.Cells, &Cell{
				Variant: v.Key, System: v.System, N: n, Trials: 2,
				Formation: []float64{10 * f, 12 * f}, Removal: []float64{200, 210}, Failover: []float64{220, 230},
				RemovalAfter: []float64{1, 2}, FailoverAfter: []float64{3, 4},
				CPU: 1.5, RSS: 7.2, UDP: 150, Window: 5,
			})
		}
	}
	r.Cells[0].Formation = nil // a failed cell
	r.Cells[0].Errors = []string{"trial 1: formation: timed out"}
	return r
}

func TestTableAndTargets(t *testing.T) {
	r := fakeResults()
	var b strings.Builder
	r.table(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if want := 2 + len(r.Ns)*len(metrics); len(lines) != want {
		t.Fatalf("%d table lines, want %d:\n%s", len(lines), want, b.String())
	}
	cols := strings.Count(lines[0], "|")
	for i, l := range lines {
		if strings.Count(l, "|") != cols {
			t.Errorf("line %d has %d cells, header %d: %s", i, strings.Count(l, "|"), cols, l)
		}
	}
	if !strings.Contains(b.String(), "| 5 | formation, p50 / max | failed |") {
		t.Errorf("failed cell not shown:\n%s", b.String())
	}
	r.Targets = r.targets()
	if len(r.Targets) == 0 {
		t.Fatal("no targets")
	}
}

func TestPlotIsSVG(t *testing.T) {
	var b strings.Builder
	fakeResults().plot(&b)
	d := xml.NewDecoder(strings.NewReader(b.String()))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
	if n := strings.Count(b.String(), "<polyline"); n != 2*len(allVariants())-1 {
		t.Errorf("%d lines drawn, want %d (one series lacks formation)", n, 2*len(allVariants())-1)
	}
}

func TestParseCounters(t *testing.T) {
	out := `Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
    pkts      bytes target     prot opt in     out     source               destination
   61700  5923200            17   --  *      *       0.0.0.0/0            0.0.0.0/0
    3120   299520 DROP       17   --  *      *       0.0.0.0/0            0.0.0.0/0            statistic mode random probability 0.05000000000
`
	seen, dropped, err := parseCounters(out)
	if err != nil || seen != 61700 || dropped != 3120 {
		t.Errorf("parseCounters = %d, %d, %v; want 61700, 3120, nil", seen, dropped, err)
	}
	if _, _, err := parseCounters("Chain INPUT (policy ACCEPT)\n"); err == nil {
		t.Error("no rules: no error")
	}
}

func TestReadMLLog(t *testing.T) {
	log := `2026/12/02 05:53:01.100000 [DEBUG] memberlist: Failed UDP ping: 3 (timeout reached)
2026/12/02 05:53:01.200000 [INFO] memberlist: Suspect 3 has failed, no acks received
2026/12/02 05:53:02.000000 [WARN] memberlist: Refuting a suspect message (from: 5)
2026/12/02 05:53:09.000000 [INFO] memberlist: Suspect 8 has failed, no acks received
2026/12/02 05:53:09.500000 [INFO] memberlist: Marking 8 as failed, suspect timeout reached (0 peer confirmations)
`
	kill := time.Date(2026, 12, 2, 5, 53, 8, 0, time.UTC)
	live := func(m mark) bool { return m.peer != 8 || m.at.Before(kill) }
	if got, want := readMLLog(strings.NewReader(log), live), (mlStats{suspected: 1, refuted: 1}); got != want {
		t.Errorf("readMLLog = %+v, want %+v", got, want)
	}
}

func TestParseRates(t *testing.T) {
	if r, err := parseRates("0.2,0.01"); err != nil || len(r) != 2 || r[0] != 0.01 {
		t.Errorf("parseRates = %v, %v", r, err)
	}
	for _, bad := range []string{"1", "0", "5%", "0.1,x"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q): no error", bad)
		}
	}
	if r, err := parseRates("none"); err != nil || r != nil {
		t.Errorf("parseRates(none) = %v, %v", r, err)
	}
}

func TestLossTables(t *testing.T) {
	r := &Results{Loss: []*LossCell{
		{Variant: "peer-100ms", System: "peer", N: 8, Loss: 0.05, WindowS: 30, Formation: 40, UDPSeen: 1000, UDPDropped: 50,
			Suspicions: 12, Withdrawn: 12, Intact: 8, Victim: 5, KillRemoved: true, KillMS: 190, KillFirstMS: 185},
		{Variant: "ml-tuned", System: "memberlist", N: 8, Loss: 0.05, WindowS: 30, Formation: 50, UDPSeen: 500, UDPDropped: 25,
			FalseRemovals: 1, Removals: []string{"node 2 dropped 3 at +4.000 s"}, Intact: 7, Victim: 5},
	}}
	var b strings.Builder
	r.lossTables(&b)
	mustContain(t, b.String(),
		"UDP loss 5 %, N=8, 30 s window, kill -9 of node 5:",
		"| false removals (a live member dropped by a process) | 0 | 1 |",
		"| kill -9: removed by every survivor after (first survivor) | yes, 190 ms (185 ms) | no |",
		"- ml-tuned: node 2 dropped 3 at +4.000 s",
	)
	r.Targets = r.targets()
	met := 0
	for _, tg := range r.Targets {
		if tg.Met != nil && *tg.Met {
			met++
		}
	}
	if len(r.Targets) != 2 || met != 2 {
		t.Errorf("targets %+v: want 2, both met", r.Targets)
	}
}

func TestLeaveTable(t *testing.T) {
	r := &Results{Leave: []*LeaveCell{
		{Variant: "peer-default", System: "peer", N: 5, Trials: 2, Member: []float64{3, 5}, Leader: []float64{4, 8},
			MemberExit: []float64{6, 7}, LeaderExit: []float64{9, 11}, Leaves: 4},
		{Variant: "ml-local", System: "memberlist", N: 5, Trials: 2, Member: []float64{300, 500}, Leader: []float64{400, 600},
			MemberExit: []float64{100, 100}, LeaderExit: []float64{100}, Leaves: 4,
			NotExited: []string{"trial 2: node 1 (leader) still running 1m0s after SIGTERM"}},
		{Variant: "peer-default", System: "peer", N: 16, Trials: 2, Member: []float64{12}, Leader: []float64{9}, Leaves: 2,
			MemberExit: []float64{20}, LeaderExit: []float64{30}, Unreachable: 1, Errors: []string{"trial 2: formation: timed out"}},
	}}
	var b strings.Builder
	r.leaveTable(&b)
	mustContain(t, b.String(),
		"| N | metric | peer default (500ms/1s) | memberlist DefaultLocalConfig | ml÷peer (defaults) |",
		"| 5 | leave (SIGTERM member), p50 / max | 4.00 ms / 5.00 ms | 400 ms / 500 ms | ×100 |",
		"| 5 | leave (SIGTERM leader), p50 / max | 6.00 ms / 8.00 ms | 500 ms / 600 ms | ×83.3 |",
		"| 5 | SIGTERM → the process ended by itself, p50 member / leader (how many) | 6.50 ms / 10.0 ms (4 of 4) | 100 ms / 100 ms (3 of 4) | – |",
		"| 5 | \"unreachable\" lines about the leaving nodes (about others) | 0 (0) | – | – |",
		"| 16 | leave (SIGTERM member), p50 / max | 12.0 ms / 12.0 ms (1/2 ok) | – | – |",
		"| 16 | \"unreachable\" lines about the leaving nodes (about others) | 1 (0) | – | – |",
		"- ml-local N=5 trial 2: node 1 (leader) still running 1m0s after SIGTERM",
	)
	var rows []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "|") {
			rows = append(rows, l)
		}
	}
	if want := 2 + 2*len(leaveRows); len(rows) != want {
		t.Errorf("%d table lines, want %d:\n%s", len(rows), want, b.String())
	}
	for _, l := range rows {
		if strings.Count(l, "|") != 6 {
			t.Errorf("not 5 cells: %s", l)
		}
	}
	r.Targets = r.targets()
	if len(r.Targets) != 2 {
		t.Fatalf("targets %+v: want one per N", r.Targets)
	}
	if m := r.Targets[0].Met; m == nil || !*m || !strings.Contains(r.Targets[0].Goal, "N=5") {
		t.Errorf("N=5: %+v, want met", r.Targets[0])
	}
	if m := r.Targets[1].Met; m == nil || *m {
		t.Errorf("N=16 (p50 12 ms, an unreachable line, a failed trial): %+v, want missed", r.Targets[1])
	}
}

// mustContain reports every line of want missing from got.
func mustContain(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("no %q in:\n%s", w, got)
		}
	}
}
