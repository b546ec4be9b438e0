package testcase

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Event is one line of a peer's JSON log (the fields the checks use).
type Event struct {
	PeerID  int    `json:"peer_id"`
	Event   string `json:"event"`
	ViewID  int    `json:"view_id"`
	Leader  int    `json:"leader"`
	Members []int  `json:"members"`
	Level   string `json:"level"`
	Time    string `json:"time"`
}

// ReadLog reads a peer's JSON log; every line must be one JSON object.
func ReadLog(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return events, fmt.Errorf("%s:%d: not JSON: %v", path, n, err)
		}
		events = append(events, e)
	}
	return events, sc.Err()
}

// CheckLogs checks the JSON logs in dir (peer-N.jsonl) against the stderr
// lines: each log line is JSON with the right peer_id, and the view_installed
// events are exactly the views printed on stderr, up to the signal that
// ended the run (the views of the peers leaving after it are not part of
// the testcase's output).
func CheckLogs(dir string, out Output) []error {
	var errs []error
	for p := 1; p <= 5; p++ {
		path := filepath.Join(dir, fmt.Sprintf("peer-%d.jsonl", p))
		events, err := ReadLog(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var logged, printed []string
		for _, e := range events {
			if e.PeerID != p {
				errs = append(errs, fmt.Errorf("%s: peer_id %d", path, e.PeerID))
				break
			}
			if e.Event == "signal" {
				break
			}
			if e.Event == "view_installed" {
				logged = append(logged, fmt.Sprint(e.ViewID, e.Leader, e.Members))
			}
		}
		for _, s := range out.Stderr[p] {
			if l, err := ParseLine(s); err == nil && l.IsView {
				printed = append(printed, fmt.Sprint(l.View, l.Leader, l.Members))
			}
		}
		if !slices.Equal(logged, printed) {
			errs = append(errs, fmt.Errorf("peer %d: views logged %v but printed %v", p, logged, printed))
		}
	}
	return errs
}
