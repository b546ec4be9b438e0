package testcase

import (
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	good := []string{
		"{peer_id:2, view_id: 3, leader: 1, memb_list: [1,2,3]}",
		`{peer_id:2, view_id: 3, leader: 1, message:"peer 3 unreachable"}`,
		`{peer_id:2, view_id: 3, leader: 1, message:"peer 1 (leader) unreachable"}`,
		`{peer_id:3, view_id: 3, leader: 1, message:"crashing"}`,
	}
	for _, s := range good {
		if _, err := ParseLine(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{
		"{peer_id:2, view_id: 3, leader: 1, memb_list: [1, 2, 3]}", // space inside [...]
		"{peer_id:2, view_id: 3, leader: 1, memb_list: [2,1]}",     // not increasing
		"{peer_id:2,view_id: 3, leader: 1, memb_list: [1]}",
		`{peer_id:2, view_id: 3, leader: 1, message:"hello"}`,
		"listening on :7000",
		"",
	}
	for _, s := range bad {
		if _, err := ParseLine(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// The checker must be able to fail: each broken output is caught.
func TestCheckCatchesBrokenRuns(t *testing.T) {
	tc1, _ := Lookup(1)
	good := Output{Stderr: map[int][]string{}}
	for p := 1; p <= 5; p++ {
		for v := max(p, 1); v <= 5; v++ {
			good.Stderr[p] = append(good.Stderr[p], viewLine(p, v, 1, v))
		}
	}
	if errs := tc1.Check(good); errs != nil {
		t.Fatalf("good run failed: %v", errs)
	}
	cases := map[string]func(o Output){
		"disagreement": func(o Output) {
			o.Stderr[3][len(o.Stderr[3])-1] = "{peer_id:3, view_id: 5, leader: 2, memb_list: [1,2,3,4,5]}"
		},
		"extra line": func(o Output) { o.Stderr[2] = append(o.Stderr[2], "debug: hello") },
		"not final":  func(o Output) { o.Stderr[4] = o.Stderr[4][:len(o.Stderr[4])-1] },
		"decreasing": func(o Output) { o.Stderr[5] = append(o.Stderr[5], viewLine(5, 4, 1, 5)) },
	}
	for name, breakIt := range cases {
		o := Output{Stderr: map[int][]string{}}
		for p, l := range good.Stderr {
			o.Stderr[p] = append([]string(nil), l...)
		}
		breakIt(o)
		if errs := tc1.Check(o); errs == nil {
			t.Errorf("%s: not caught", name)
		}
	}
}

// viewLine prints view v whose members are 1..n.
func viewLine(peer, v, leader, n int) string {
	m := make([]string, n)
	for i := range m {
		m[i] = string(rune('1' + i))
	}
	return "{peer_id:" + itoa(peer) + ", view_id: " + itoa(v) + ", leader: " + itoa(leader) + ", memb_list: [" + strings.Join(m, ",") + "]}"
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestScaleFlags(t *testing.T) {
	got := strings.Join(ScaleFlags([]string{"-t", "-d", "8", "-c", "4"}, 0.5), " ")
	if got != "-t -d 4 -c 2" {
		t.Fatalf("got %q", got)
	}
}

// A peer removed while alive that joined again (-rejoin) skips the view that
// removed it: Rejoined exempts it from the suffix rule, not from ending in
// the survivors' final view.
func TestCheckRejoined(t *testing.T) {
	out := Output{Stderr: map[int][]string{}}
	for p := 1; p <= 5; p++ {
		for v := p; v <= 5; v++ {
			out.Stderr[p] = append(out.Stderr[p], viewLine(p, v, 1, v))
		}
	}
	for _, p := range []int{1, 2, 4, 5} {
		out.Stderr[p] = append(out.Stderr[p],
			"{peer_id:"+itoa(p)+`, view_id: 5, leader: 1, message:"peer 3 unreachable"}`,
			"{peer_id:"+itoa(p)+", view_id: 6, leader: 1, memb_list: [1,2,4,5]}")
	}
	for p := 1; p <= 5; p++ {
		out.Stderr[p] = append(out.Stderr[p], viewLine(p, 7, 1, 5))
	}
	c := Case{Survivors: []int{1, 2, 4, 5}, Rejoined: []int{3}, FinalLeader: 1, FinalMembers: []int{1, 2, 3, 4, 5},
		Unreachable: []string{"peer 3 unreachable"}}
	if errs := c.Check(out); errs != nil {
		t.Fatalf("rejoin run failed: %v", errs)
	}
	if !c.Done(out) {
		t.Fatal("rejoin run not done")
	}
	asSurvivor := c
	asSurvivor.Survivors, asSurvivor.Rejoined = []int{1, 2, 3, 4, 5}, nil
	if errs := asSurvivor.Check(out); errs == nil {
		t.Error("a rejoined peer counted as a survivor passed the suffix rule")
	}
	// Peer 3 never learned it was removed: it still shows view 5, whose
	// members and leader are those of the final view 7.
	stale := Output{Stderr: map[int][]string{}}
	for p, l := range out.Stderr {
		stale.Stderr[p] = l
	}
	stale.Stderr[3] = out.Stderr[3][:len(out.Stderr[3])-1]
	if c.Done(stale) {
		t.Error("a rejoined peer left in the view it was removed from is done")
	}
	if errs := c.Check(stale); errs == nil {
		t.Error("a rejoined peer left in the view it was removed from passed")
	}
	missing := Output{Stderr: map[int][]string{}}
	for p, l := range out.Stderr {
		missing.Stderr[p] = l
	}
	missing.Stderr[3] = out.Stderr[3][:1]
	if c.Done(missing) || c.Check(missing) == nil {
		t.Error("a rejoined peer that never reached the final view passed")
	}
}
