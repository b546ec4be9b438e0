package timeline

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	// "leader" is a bool in the start line: read as zero, not an error.
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
		{`3`, []int{3}}, // the yield event logs "to" as one id
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
	// One arrowed line per received message (12, the stale one too) plus the legend's six.
	for _, typ := range MessageTypes {
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
