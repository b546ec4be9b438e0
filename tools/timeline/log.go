package timeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// ErrNoLogs is returned by Load for a directory without peer-K.jsonl files.
var ErrNoLogs = errors.New("timeline: no peer-K.jsonl logs")

// Event is one line of a peer's JSON log, with the fields the timeline uses.
// A field the line does not have, or has with another JSON type, is zero.
type Event struct {
	Time      time.Time
	Peer      int // peer_id: whose log this is
	Line      int // 1-based line number in that log
	Level     string
	Component string
	Name      string // the "event" field: view_installed, send, recv, ...

	ViewID    int
	Leader    int   // "leader" when it is a peer id (not the bool of "start")
	Members   []int // view_installed, removed
	Subject   int   // "peer": the peer an event is about (peer_unreachable, check_started, ...)
	WasLeader bool  // peer_unreachable
	Reason    string
	Op        string // "op" as logged: ADD, DEL, LEAVE
	Peers     []int  // change_started, pending_saved, pending_restarted, pending_completed
	RequestID string
	Replaces  int    // reconcile_started: the failed leader, 0 for a leader's own new ballot
	Ballot    string // "epoch/leader": step_down, outbid, reconcile_started
	Candidate int    // outbid
	Target    int    // testcase4
	Skipped   int    // testcase4

	Type string          // send, recv, stale: the message type (REQ, OK, ...)
	From int             // recv, stale
	To   []int           // send: the destinations ("to" as one id is read as a list of one)
	Msg  json.RawMessage // send, recv: the message body as logged
	Why  string          // stale, suspicion_ended, peer_revived
}

// Log is one directory of logs, merged.
type Log struct {
	Dir     string
	Peers   []int   // peers with a log, in increasing order
	Events  []Event // every peer's events, merged by time
	Skipped int     // lines that were not JSON objects
}

var logName = regexp.MustCompile(`^peer-(\d+)\.jsonl$`)

// Load reads dir/peer-K.jsonl for every K and merges them.
func Load(dir string) (*Log, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "peer-*.jsonl"))
	if err != nil {
		return nil, err
	}
	l := &Log{Dir: dir}
	var streams [][]Event
	for _, path := range paths {
		m := logName.FindStringSubmatch(filepath.Base(path))
		if m == nil {
			continue
		}
		id, _ := strconv.Atoi(m[1])
		events, skipped, err := readFile(path, id)
		if err != nil {
			return nil, err
		}
		l.Skipped += skipped
		l.Peers = append(l.Peers, id)
		streams = append(streams, events)
	}
	if len(l.Peers) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoLogs, dir)
	}
	slices.Sort(l.Peers)
	l.Events = merge(streams)
	return l, nil
}

// readFile reads one peer's log. id (from the file name) is used when a line
// has no peer_id.
func readFile(path string, id int) ([]Event, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var events []Event
	skipped := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		e, ok := parseEvent(line)
		if !ok {
			skipped++
			continue
		}
		e.Line = n
		if e.Peer == 0 {
			e.Peer = id
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("timeline: %s: %w", path, err)
	}
	return events, skipped, nil
}

// parseEvent decodes one log line; ok is false for a line that is not a JSON
// object with a time.
func parseEvent(line []byte) (Event, bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return Event{}, false
	}
	var e Event
	ts := str(raw["time"])
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Event{}, false
	}
	e.Time = t
	e.Peer = num(raw["peer_id"])
	e.Level = str(raw["level"])
	e.Component = str(raw["component"])
	e.Name = str(raw["event"])
	e.ViewID = num(raw["view_id"])
	e.Leader = num(raw["leader"])
	e.Members = nums(raw["members"])
	e.Subject = num(raw["peer"])
	e.WasLeader = boolean(raw["was_leader"])
	e.Reason = str(raw["reason"])
	e.Op = str(raw["op"])
	e.Peers = nums(raw["peers"])
	e.RequestID = str(raw["request_id"])
	e.Replaces = num(raw["replaces"])
	e.Ballot = str(raw["ballot"])
	e.Candidate = num(raw["candidate"])
	e.Target = num(raw["target"])
	e.Skipped = num(raw["skipped"])
	e.Type = str(raw["type"])
	e.From = num(raw["from"])
	e.To = nums(raw["to"])
	e.Why = str(raw["why"])
	if m := raw["msg"]; len(m) > 0 && m[0] == '{' {
		e.Msg = m
	}
	return e, true
}

func str(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) != nil {
		return ""
	}
	return s
}

func num(r json.RawMessage) int {
	var n int
	if json.Unmarshal(r, &n) != nil {
		return 0
	}
	return n
}

func boolean(r json.RawMessage) bool {
	var b bool
	return json.Unmarshal(r, &b) == nil && b
}

// nums reads a list of ids; a single id is a list of one.
func nums(r json.RawMessage) []int {
	var l []int
	if json.Unmarshal(r, &l) == nil {
		return l
	}
	if n := num(r); n != 0 {
		return []int{n}
	}
	return nil
}

// merge merges the peers' streams by time. Each stream keeps its own order
// (a peer's clock readings never reorder its own lines); a tie between peers
// goes to the lower peer id.
func merge(streams [][]Event) []Event {
	total := 0
	for _, s := range streams {
		total += len(s)
	}
	out := make([]Event, 0, total)
	heads := make([]int, len(streams))
	for len(out) < total {
		best := -1
		for i, s := range streams {
			if heads[i] == len(s) {
				continue
			}
			e := &s[heads[i]]
			if best < 0 {
				best = i
				continue
			}
			b := &streams[best][heads[best]]
			if e.Time.Before(b.Time) || e.Time.Equal(b.Time) && e.Peer < b.Peer {
				best = i
			}
		}
		out = append(out, streams[best][heads[best]])
		heads[best]++
	}
	return out
}
