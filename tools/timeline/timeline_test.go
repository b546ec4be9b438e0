package timeline

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The testdata run: peers 1-3, peer 1 leads, adds 2 and 3, sends a DEL of 3 to
// 3 only and crashes; peer 2 takes over and installs v4 [2]; 3 is removed.
const mini = "testdata/tc4mini"

func loadMini(t *testing.T) *Log {
	t.Helper()
	l, err := Load(mini)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLoadMergesByTimeKeepingEachPeersOrder(t *testing.T) {
	l := loadMini(t)
	if !slices.Equal(l.Peers, []int{1, 2, 3}) {
		t.Fatalf("peers %v", l.Peers)
	}
	if l.Skipped != 1 {
		t.Errorf("skipped %d lines, want the truncated one", l.Skipped)
	}
	lastLine := map[int]int{}
	for i, e := range l.Events {
		if i > 0 && e.Time.Before(l.Events[i-1].Time) {
			t.Fatalf("event %d (%s of peer %d) before the one above it", i, e.Name, e.Peer)
		}
		if e.Line <= lastLine[e.Peer] {
			t.Fatalf("peer %d line %d after line %d", e.Peer, e.Line, lastLine[e.Peer])
		}
		lastLine[e.Peer] = e.Line
	}
	// A tie: peer 2 and peer 3 both log at 2.003; the lower id goes first.
	var tie []int
	for _, e := range l.Events {
		if e.Time.Equal(time.Date(2026, 1, 1, 0, 0, 2, 3e6, time.UTC)) {
			tie = append(tie, e.Peer)
		}
	}
	if !slices.IsSorted(tie) || len(tie) != 4 {
		t.Errorf("events at 2.003 by peer: %v, want 2 2 3 3", tie)
	}
	// "leader" is a bool in the start line (older nodes logged it so): read
	// as zero, not an error.
	for _, e := range l.Events {
		if e.Name == "start" && e.Leader != 0 {
			t.Errorf("start leader = %d", e.Leader)
		}
	}
}

func TestLoadWithoutLogs(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoLogs) {
		t.Fatalf("err = %v, want ErrNoLogs", err)
	}
}

func TestLenientFields(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
	}{
		{`[2,3]`, []int{2, 3}},
		{`3`, []int{3}}, // one id where a list is expected
		{`null`, nil},
		{`true`, nil},
		{`"x"`, nil},
	} {
		if got := nums(json.RawMessage(c.in)); !slices.Equal(got, c.want) {
			t.Errorf("nums(%s) = %v, want %v", c.in, got, c.want)
		}
	}
	if _, ok := parseEvent([]byte(`{"event":"x"}`)); ok {
		t.Error("a line without time parsed")
	}
}

func TestArrowsPairSendsWithReceives(t *testing.T) {
	l := loadMini(t)
	type key struct {
		typ      string
		from, to int
	}
	got := map[key][]string{}
	for _, a := range l.Arrows() {
		state := "ok"
		switch {
		case a.Lost():
			state = "lost"
		case a.Stale:
			state = "stale"
		case l.Events[a.Recv].Time.Before(l.Events[a.Send].Time):
			t.Errorf("%s %d->%d received before sent", a.Type, a.From, a.To)
		}
		got[key{a.Type, a.From, a.To}] = append(got[key{a.Type, a.From, a.To}], state)
	}
	want := map[key][]string{
		{"JOIN", 2, 1}:          {"ok"},
		{"JOIN", 3, 1}:          {"ok"},
		{"NEWVIEW", 1, 2}:       {"ok", "stale", "ok"}, // v2, v2 again (ignored), v3
		{"NEWVIEW", 1, 3}:       {"ok"},
		{"REQ", 1, 2}:           {"ok"},
		{"REQ", 1, 3}:           {"ok"}, // the -t DEL
		{"OK", 2, 1}:            {"ok"},
		{"OK", 3, 1}:            {"lost"}, // peer 1 had crashed
		{"NEWLEADER", 2, 3}:     {"ok"},
		{"PENDING_REPLY", 3, 2}: {"ok"},
		{"NEWVIEW", 2, 1}:       {"lost"}, // best effort to the removed leader
		{"NEWVIEW", 2, 3}:       {"ok"},
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%v: %v, want %v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("arrows %v", got)
	}
}

func TestMessageLabels(t *testing.T) {
	labels := map[string]bool{}
	for _, a := range loadMini(t).Arrows() {
		labels[a.Label] = true
	}
	for _, w := range []string{"JOIN 2", "REQ ADD [3]", "REQ DEL [3]", "OK 1.2", "NEWVIEW v4", "NEWLEADER", "pending DEL [3]"} {
		if !labels[w] {
			t.Errorf("no arrow labelled %q in %v", w, labels)
		}
	}
}

func TestViewsAndTable(t *testing.T) {
	l := loadMini(t)
	vs := l.Views()
	if len(vs) != 4 {
		t.Fatalf("views %+v", vs)
	}
	if v := vs[3]; v.ID != 4 || v.Leader != 2 || !slices.Equal(v.Members, []int{2}) || !slices.Equal(v.By, []int{2}) {
		t.Errorf("v4 = %+v", v)
	}
	if v := vs[2]; !slices.Equal(v.By, []int{1, 2, 3}) || len(v.Conflict) != 0 {
		t.Errorf("v3 = %+v", v)
	}
	var b bytes.Buffer
	if err := l.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{
		"3 peers, 2.60s",
		"1.000s  v2   leader 1  [1,2]",
		"v4   leader 2  [2]",
		"peer 1 exits: crashing (-t, after its DEL REQs left)",
		"peer 1 (leader) unreachable",
		"peer 2 takes over from 1 (NEWLEADER)",
		"peer 3 exits: removed from the view",
		"1 log lines were not JSON",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	// Grouped: one row per failure, listing who reported it, in order.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "peer 1 (leader) unreachable") && !strings.HasSuffix(strings.TrimSpace(line), "2 3") {
			t.Errorf("row %q: want reported by 2 then 3", line)
		}
	}
}

func TestTableFlagsDisagreement(t *testing.T) {
	dir := t.TempDir()
	lines := map[int]string{
		1: `{"peer_id":1,"component":"node","event":"view_installed","view_id":2,"leader":1,"members":[1,2],"time":"2026-01-01T00:00:00Z"}`,
		2: `{"peer_id":2,"component":"node","event":"view_installed","view_id":2,"leader":1,"members":[1,3],"time":"2026-01-01T00:00:01Z"}`,
	}
	for p, s := range lines {
		if err := os.WriteFile(filepath.Join(dir, "peer-"+string(rune('0'+p))+".jsonl"), []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v := l.Views(); len(v) != 1 || len(v[0].Conflict) != 1 {
		t.Fatalf("views %+v", v)
	}
	var b bytes.Buffer
	l.WriteTable(&b)
	if !strings.Contains(b.String(), "DISAGREE: peer 2 installed v2   leader 1  [1,3]") {
		t.Errorf("no disagreement in\n%s", b.String())
	}
}

// svgDoc is the part of the SVG the test looks at.
type svgElem struct {
	name  string
	attrs map[string]string
	text  string
}

func parseSVG(t *testing.T, b []byte) []svgElem {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []svgElem
	var stack []int
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := svgElem{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			stack = append(stack, len(out))
			out = append(out, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				out[stack[len(stack)-1]].text += string(tok)
			}
		}
	}
	if len(stack) != 0 {
		t.Fatal("unclosed elements")
	}
	return out
}

func TestSVG(t *testing.T) {
	l := loadMini(t)
	var b bytes.Buffer
	if err := l.WriteSVG(&b, DefaultOptions); err != nil {
		t.Fatal(err)
	}
	els := parseSVG(t, b.Bytes())
	if els[0].name != "svg" || els[0].attrs["viewBox"] == "" {
		t.Fatalf("root %+v", els[0])
	}
	texts := map[string]bool{}
	markers := map[string]int{}
	bands, lostCrosses := 0, 0
	for _, e := range els {
		texts[strings.TrimSpace(e.text)] = true
		if m := e.attrs["marker-end"]; m != "" {
			markers[m]++
		}
		if e.name == "rect" && e.attrs["fill"] == colBand {
			bands++
		}
		if e.name == "title" && strings.Contains(e.text, "never received") {
			lostCrosses++
		}
	}
	for _, w := range []string{"peer 1", "peer 2", "peer 3", "v1 [1] L1", "v3 [1,2,3] L1", "v4 [2] L2",
		"crashing", "1 (leader) unreachable", "3 unreachable", "takes over from 1", "exit: removed",
		"pending DEL [3]", "REQ DEL [3]", "⋯ 997 ms", "⋯ 396 ms"} {
		if !texts[w] {
			t.Errorf("no text %q", w)
		}
	}
	// One arrowed line per received message (12, the stale one too) plus
	// the legend's one per type.
	for _, typ := range []string{"JOIN", "REQ", "OK", "NEWVIEW", "NEWLEADER", "PENDING_REPLY"} {
		if markers["url(#ah-"+typ+")"] < 2 {
			t.Errorf("%s: %d arrows", typ, markers["url(#ah-"+typ+")"])
		}
	}
	total := 0
	for _, n := range markers {
		total += n
	}
	if total != 12+len(MessageTypes) {
		t.Errorf("%d arrowheads, want %d: %v", total, 12+len(MessageTypes), markers)
	}
	if lostCrosses != 2 {
		t.Errorf("%d lost messages drawn, want 2", lostCrosses)
	}
	if bands < 3 {
		t.Errorf("%d quiet gaps cut, want at least 3", bands)
	}
}

// Every event of one lane keeps its place: y grows with time and a receive is
// below its send.
func TestLayoutIsMonotonic(t *testing.T) {
	l := loadMini(t)
	arrows := l.Arrows()
	pl, yOf, _ := l.layout(arrows, DefaultOptions, 100)
	for i := 1; i < len(pl); i++ {
		if pl[i].y < pl[i-1].y {
			t.Fatalf("y goes up at %d", i)
		}
	}
	for _, a := range arrows {
		if !a.Lost() && yOf[a.Recv] < yOf[a.Send]+sepArrow {
			t.Errorf("%s %d->%d: recv at %.1f, send at %.1f", a.Type, a.From, a.To, yOf[a.Recv], yOf[a.Send])
		}
	}
}

// The leavemini run: peer 1 leads and answers each JOIN with QUEUED, peer 2
// checks a suspected peer 3 with a PROBE that 3 answers, then 3 leaves
// (LEAVE, REQ LEAVE [3], v4 [1,2]) and exits.
const leaveMini = "testdata/leavemini"

func TestNewerMessages(t *testing.T) {
	l, err := Load(leaveMini)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		typ      string
		from, to int
	}
	got := map[key]int{}
	labels := map[string]bool{}
	for _, a := range l.Arrows() {
		if a.Lost() || a.Stale {
			t.Errorf("%s %d->%d: lost %v, stale %v", a.Type, a.From, a.To, a.Lost(), a.Stale)
		}
		got[key{a.Type, a.From, a.To}]++
		labels[a.Label] = true
	}
	for k, n := range map[key]int{
		{"JOIN", 2, 1}: 1, {"QUEUED", 1, 2}: 1, {"NEWVIEW", 1, 2}: 3,
		{"JOIN", 3, 1}: 1, {"QUEUED", 1, 3}: 1, {"REQ", 1, 2}: 2, {"OK", 2, 1}: 2, {"NEWVIEW", 1, 3}: 2,
		{"PROBE", 2, 3}: 1, {"PROBE_ACK", 3, 2}: 1,
		{"LEAVE", 3, 1}: 1, {"LEAVE", 3, 2}: 1, {"REQ", 1, 3}: 1, {"OK", 3, 1}: 1,
	} {
		if got[k] != n {
			t.Errorf("%v: %d arrows, want %d", k, got[k], n)
		}
	}
	for _, w := range []string{"QUEUED 2 L1", "QUEUED 3 L1", "PROBE", "PROBE_ACK L1", "LEAVE", "REQ LEAVE [3]"} {
		if !labels[w] {
			t.Errorf("no arrow labelled %q in %v", w, labels)
		}
	}

	var table bytes.Buffer
	if err := l.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"v4   leader 1  [1,2]", "peer 3 exits: left the group (LEAVE)"} {
		if !strings.Contains(table.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, table.String())
		}
	}

	var b bytes.Buffer
	if err := l.WriteSVG(&b, DefaultOptions); err != nil {
		t.Fatal(err)
	}
	els := parseSVG(t, b.Bytes())
	texts := map[string]bool{}
	markers := map[string]int{}
	defs := map[string]string{} // marker id -> arrowhead colour
	for i, e := range els {
		texts[strings.TrimSpace(e.text)] = true
		if m := e.attrs["marker-end"]; m != "" {
			markers[m]++
		}
		if e.name == "marker" && i+1 < len(els) {
			defs[e.attrs["id"]] = els[i+1].attrs["fill"]
		}
	}
	for _, typ := range MessageTypes {
		if c := defs["ah-"+typ]; typeColour[typ] == "" || c != typeColour[typ] {
			t.Errorf("%s: no colour of its own (arrowhead %q)", typ, c)
		}
	}
	for _, typ := range []string{"JOIN", "QUEUED", "REQ", "OK", "NEWVIEW", "PROBE", "PROBE_ACK", "LEAVE"} {
		if markers["url(#ah-"+typ+")"] < 2 { // the legend's and at least one arrow
			t.Errorf("%s: %d arrowheads", typ, markers["url(#ah-"+typ+")"])
		}
	}
	for _, w := range []string{"QUEUED 2 L1", "PROBE", "LEAVE", "REQ LEAVE [3]", "checks 3", "3 is alive",
		"leaving", "change LEAVE [3]", "pending LEAVE [3]", "exit: left", "v4 [1,2] L1"} {
		if !texts[w] {
			t.Errorf("no text %q", w)
		}
	}
	if texts["PROBE_ACK L1"] {
		t.Error("a PROBE_ACK arrow is labelled: answers are not")
	}
}

func TestMarks(t *testing.T) {
	for _, c := range []struct {
		e           Event
		kind, label string
	}{
		{Event{Name: "check_started", Subject: 5, ViewID: 3}, "suspect", "checks 5"},
		{Event{Name: "probe_timeout", Subject: 5}, "note", "no answer from 5"},
		{Event{Name: "suspicion_ended", Subject: 5, Why: "probe answered"}, "note", "5 is alive"},
		{Event{Name: "peer_revived", Subject: 5, Why: "it leads"}, "note", "5 alive again"},
		{Event{Name: "step_down", Ballot: "3/2"}, "note", "steps down"},
		{Event{Name: "outbid", Ballot: "3/2", Candidate: 2}, "note", "outbids 2"},
		{Event{Name: "no_quorum"}, "note", "no quorum"},
		{Event{Name: "leaving", ViewID: 4}, "note", "leaving"},
		{Event{Name: "pending_completed", Op: "DEL", Peers: []int{1, 5}}, "note", "complete DEL [1,5]"},
		{Event{Name: "pending_restarted", Op: "LEAVE", Peers: []int{4}}, "note", "restart LEAVE [4]"},
		{Event{Name: "reconcile_started", Replaces: 1, Ballot: "2/2"}, "takeover", "takes over from 1"},
		{Event{Name: "reconcile_started", Replaces: 0, Ballot: "4/1"}, "takeover", "new ballot 4/1"},
		{Event{Name: "exit", Reason: "left"}, "exit", "exit: left"},
		{Event{Name: "stopped"}, "stop", "stopped (second signal)"},
	} {
		m, ok := markOf(&c.e)
		if !ok || m.kind != c.kind || m.label != c.label {
			t.Errorf("%s: %+v (drawn %v), want %s %q", c.e.Name, m, ok, c.kind, c.label)
		}
		if m.title == "" || strings.Contains(m.title, "%!") {
			t.Errorf("%s: title %q", c.e.Name, m.title)
		}
	}
	for _, name := range []string{"yield", "peer_leaving", "catch_up", "join_queued"} {
		if m, ok := markOf(&Event{Name: name}); ok {
			t.Errorf("%s drawn as %+v", name, m)
		}
	}
}

// Every event name the timeline looks for (a case of a switch on an event's
// Name, or a comparison with it) is one that some peer code still logs.
func TestEventNamesAreLogged(t *testing.T) {
	logged := map[string]bool{}
	logs := regexp.MustCompile(`Str\("event", "([a-z0-9_]+)"\)`)
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "tools" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range logs.FindAllSubmatch(src, -1) {
			logged[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !logged["view_installed"] || !logged["fatal"] {
		t.Fatalf("found no log calls under %s: %v", root, logged)
	}

	fset := token.NewFileSet()
	var files []*ast.File
	paths, _ := filepath.Glob("*.go")
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	isName := func(x ast.Expr) bool {
		s, ok := x.(*ast.SelectorExpr)
		return ok && s.Sel.Name == "Name"
	}
	used := map[string]token.Position{}
	lit := func(x ast.Expr) {
		if b, ok := x.(*ast.BasicLit); ok && b.Kind == token.STRING {
			s, _ := strconv.Unquote(b.Value)
			used[s] = fset.Position(b.Pos())
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SwitchStmt:
				if n.Tag != nil && isName(n.Tag) {
					for _, c := range n.Body.List {
						for _, x := range c.(*ast.CaseClause).List {
							lit(x)
						}
					}
				}
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && isName(n.X) {
					lit(n.Y)
				}
			}
			return true
		})
	}
	if len(used) < 10 {
		t.Fatalf("found only %v in the timeline's code", used)
	}
	for name, pos := range used {
		if !logged[name] {
			t.Errorf("%s: event %q is not logged by any peer code", pos, name)
		}
	}
}
