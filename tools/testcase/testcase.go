// Package testcase holds the course's four testcases as data, checks a run's
// output against the contract, and launches a run as local processes.
//
// The checks read the peers' stderr lines (what the grading scripts read) and,
// when present, their JSON logs. tools/tools/cmd/tc, run.sh and the end-to-end tests use
// it; the Docker runner feeds it the lines of `docker compose logs`.
package testcase

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Case is one course testcase for five peers.
type Case struct {
	N    int    // 1..4
	Name string // what it shows
	// Flags per peer (index 0 is peer 1), in the course's seconds, without -h.
	Flags [5][]string
	// Survivors are the peers alive at the end; Crashed printed "crashing";
	// Removed were removed while alive and exit by themselves.
	Survivors, Crashed, Removed []int
	// Rejoined were removed while alive and joined again (-rejoin). They end
	// in the final view, like the survivors, but skip the views they were
	// not in, so the rule that one survivor's view ids are a suffix of
	// another's leaves them out. None of the course's testcases has any.
	Rejoined []int
	// Final is the view every survivor ends in.
	FinalLeader  int
	FinalMembers []int
	// Unreachable lists, per survivor, the failures it must report.
	Unreachable []string
}

// Cases are the course's testcases (spec §7).
var Cases = []Case{
	{
		N: 1, Name: "all five join",
		Flags:     [5][]string{{}, {"-d", "2"}, {"-d", "4"}, {"-d", "6"}, {"-d", "8"}},
		Survivors: []int{1, 2, 3, 4, 5}, FinalLeader: 1, FinalMembers: []int{1, 2, 3, 4, 5},
	},
	{
		N: 2, Name: "peer 5 crashes and is removed",
		Flags:     [5][]string{{}, {"-d", "2"}, {"-d", "4"}, {"-d", "6"}, {"-d", "8", "-c", "4"}},
		Survivors: []int{1, 2, 3, 4}, Crashed: []int{5}, FinalLeader: 1, FinalMembers: []int{1, 2, 3, 4},
		Unreachable: []string{"peer 5 unreachable"},
	},
	{
		N: 3, Name: "peers crash one by one until the leader is alone",
		Flags:     [5][]string{{}, {"-d", "2", "-c", "30"}, {"-d", "4", "-c", "20"}, {"-d", "6", "-c", "12"}, {"-d", "8", "-c", "4"}},
		Survivors: []int{1}, Crashed: []int{2, 3, 4, 5}, FinalLeader: 1, FinalMembers: []int{1},
		Unreachable: []string{"peer 5 unreachable", "peer 4 unreachable", "peer 3 unreachable", "peer 2 unreachable"},
	},
	{
		N: 4, Name: "the leader crashes during a DEL; peer 2 finishes it",
		Flags:     [5][]string{{"-t"}, {"-d", "2"}, {"-d", "4"}, {"-d", "6"}, {"-d", "8"}},
		Survivors: []int{2, 3, 4}, Crashed: []int{1}, Removed: []int{5}, FinalLeader: 2, FinalMembers: []int{2, 3, 4},
		Unreachable: []string{"peer 1 (leader) unreachable", "peer 5 unreachable"},
	},
}

// Lookup returns testcase n (1..4).
func Lookup(n int) (Case, bool) {
	for _, c := range Cases {
		if c.N == n {
			return c, true
		}
	}
	return Case{}, false
}

// Line is one parsed stderr line.
type Line struct {
	Peer, View, Leader int
	Members            []int  // for a view line
	Message            string // for a message line
	IsView             bool
}

var (
	viewRe = regexp.MustCompile(`^\{peer_id:(\d+), view_id: (\d+), leader: (\d+), memb_list: \[([0-9,]*)\]\}$`)
	msgRe  = regexp.MustCompile(`^\{peer_id:(\d+), view_id: (\d+), leader: (\d+), message:"(crashing|peer \d+ unreachable|peer \d+ \(leader\) unreachable)"\}$`)
)

// ParseLine parses one stderr line; anything but the assignment's three forms is an error.
func ParseLine(s string) (Line, error) {
	if m := viewRe.FindStringSubmatch(s); m != nil {
		l := Line{Peer: atoi(m[1]), View: atoi(m[2]), Leader: atoi(m[3]), IsView: true}
		for _, f := range strings.Split(m[4], ",") {
			if f == "" {
				return l, fmt.Errorf("empty member in %q", s)
			}
			l.Members = append(l.Members, atoi(f))
		}
		if !slices.IsSorted(l.Members) {
			return l, fmt.Errorf("members not in increasing order: %q", s)
		}
		return l, nil
	}
	if m := msgRe.FindStringSubmatch(s); m != nil {
		return Line{Peer: atoi(m[1]), View: atoi(m[2]), Leader: atoi(m[3]), Message: m[4]}, nil
	}
	return Line{}, fmt.Errorf("not an assignment line: %q", s)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Output is what a run produced: each peer's stderr lines, in order.
type Output struct {
	Stderr map[int][]string
}

// Done reports whether the run has reached the testcase's end: every survivor
// and every rejoined peer printed the final view.
func (c Case) Done(out Output) bool {
	for _, p := range c.Survivors {
		if !c.endsInFinal(out, p) {
			return false
		}
	}
	for _, p := range c.Rejoined {
		if c.rejoinedEnd(out, p) != nil {
			return false
		}
	}
	return true
}

// rejoinedEnd says how rejoined peer p misses the end: it must print the
// final view under the same view id as every survivor's last view (the
// same members and leader under an older id are the view it was removed
// from).
func (c Case) rejoinedEnd(out Output, p int) error {
	if !c.endsInFinal(out, p) {
		return fmt.Errorf("rejoined peer %d does not end in leader %d %v", p, c.FinalLeader, c.FinalMembers)
	}
	ids := viewIDs(out.Stderr[p])
	last := ids[len(ids)-1]
	for _, q := range c.Survivors {
		if s := viewIDs(out.Stderr[q]); len(s) > 0 && s[len(s)-1] != last {
			return fmt.Errorf("rejoined peer %d ends in view %d, survivor %d in view %d", p, last, q, s[len(s)-1])
		}
	}
	return nil
}

func (c Case) endsInFinal(out Output, p int) bool {
	lines := out.Stderr[p]
	for i := len(lines) - 1; i >= 0; i-- {
		if l, err := ParseLine(lines[i]); err == nil && l.IsView {
			return l.Leader == c.FinalLeader && slices.Equal(l.Members, c.FinalMembers)
		}
	}
	return false
}

// Check returns every way the output breaks the contract or misses the
// testcase's expected end; nil means PASS.
func (c Case) Check(out Output) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	views := map[int]Line{} // view id -> first view line seen
	for p := 1; p <= 5; p++ {
		last := 0
		seen := map[string]int{}
		for _, s := range out.Stderr[p] {
			l, err := ParseLine(s)
			if err != nil {
				fail("peer %d: %v", p, err)
				continue
			}
			if l.Peer != p {
				fail("peer %d printed peer_id %d", p, l.Peer)
			}
			if !l.IsView {
				if seen[l.Message]++; seen[l.Message] > 1 && l.Message != "crashing" {
					fail("peer %d printed %q %d times", p, l.Message, seen[l.Message])
				}
				continue
			}
			if l.View <= last {
				fail("peer %d: view %d after view %d", p, l.View, last)
			}
			last = l.View
			if !slices.Contains(l.Members, p) {
				fail("peer %d printed view %d without itself", p, l.View)
			}
			if w, ok := views[l.View]; ok && (w.Leader != l.Leader || !slices.Equal(w.Members, l.Members)) {
				fail("view %d differs: peer %d has leader %d %v, peer %d has leader %d %v",
					l.View, w.Peer, w.Leader, w.Members, p, l.Leader, l.Members)
			} else if !ok {
				views[l.View] = l
			}
		}
	}
	for _, p := range c.Survivors {
		if !c.endsInFinal(out, p) {
			fail("peer %d does not end in leader %d %v", p, c.FinalLeader, c.FinalMembers)
		}
		for _, u := range c.Unreachable {
			if !slices.ContainsFunc(out.Stderr[p], func(s string) bool { return strings.HasSuffix(s, `message:"`+u+`"}`) }) {
				fail("peer %d never printed %q", p, u)
			}
		}
	}
	for _, p := range c.Crashed {
		if !slices.ContainsFunc(out.Stderr[p], func(s string) bool { return strings.HasSuffix(s, `message:"crashing"}`) }) {
			fail("peer %d never printed crashing", p)
		}
	}
	for _, p := range c.Rejoined {
		if err := c.rejoinedEnd(out, p); err != nil {
			errs = append(errs, err)
		}
	}
	// Every survivor installed the same views from the point it joined: of two
	// survivors, the one that joined later holds a suffix of the other's views.
	for i, p := range c.Survivors {
		for _, q := range c.Survivors[i+1:] {
			a, b := viewIDs(out.Stderr[p]), viewIDs(out.Stderr[q])
			if len(a) < len(b) {
				a, b = b, a
			}
			if len(b) > 0 && !slices.Equal(b, a[len(a)-len(b):]) {
				fail("peers %d and %d installed different view sequences: %v, %v", p, q, viewIDs(out.Stderr[p]), viewIDs(out.Stderr[q]))
			}
		}
	}
	return errs
}

func viewIDs(lines []string) []int {
	var ids []int
	for _, s := range lines {
		if l, err := ParseLine(s); err == nil && l.IsView {
			ids = append(ids, l.View)
		}
	}
	return ids
}
