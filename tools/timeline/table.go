package timeline

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one line of the view history: a view's first install, a failure
// (grouped over the peers that reported it), a takeover (or a leader's new
// ballot) or an exit.
type Row struct {
	Time  time.Time
	What  string
	Peers []int  // who installed, reported or took part, in order
	Note  string // a warning (two views under one id)
}

// History is the view history, one row per view or failure, in time order.
func (l *Log) History() []Row {
	var rows []Row
	at := map[string]int{} // grouping key -> row index
	group := func(key string, e *Event, what string) {
		i, ok := at[key]
		if !ok {
			i = len(rows)
			at[key] = i
			rows = append(rows, Row{Time: e.Time, What: what})
		}
		rows[i].Peers = append(rows[i].Peers, e.Peer)
	}
	for i := range l.Events {
		e := &l.Events[i]
		switch e.Name {
		case "view_installed":
			key := "v|" + strconv.Itoa(e.ViewID)
			if i, ok := at[key]; ok && rows[i].What != viewWhat(e) {
				rows[i].Note = fmt.Sprintf("DISAGREE: peer %d installed %s", e.Peer, viewWhat(e))
			}
			group(key, e, viewWhat(e))
		case "peer_unreachable":
			what := fmt.Sprintf("peer %d unreachable", e.Subject)
			if e.WasLeader {
				what = fmt.Sprintf("peer %d (leader) unreachable", e.Subject)
			}
			group(fmt.Sprintf("u|%d|%d", e.Subject, e.ViewID), e, what)
		case "reconcile_started":
			what := fmt.Sprintf("peer %d takes over from %d (NEWLEADER)", e.Peer, e.Replaces)
			if e.Replaces == 0 {
				what = fmt.Sprintf("peer %d runs a new ballot %s (NEWLEADER)", e.Peer, e.Ballot)
			}
			group("r|"+e.RequestID, e, what)
		case "exit":
			rows = append(rows, Row{Time: e.Time, What: fmt.Sprintf("peer %d exits: %s", e.Peer, exitWhat(e.Reason)), Peers: []int{e.Peer}})
		}
	}
	return rows
}

func viewWhat(e *Event) string {
	return fmt.Sprintf("v%-3d leader %d  %s", e.ViewID, e.Leader, ids(e.Members))
}

// exitWhat explains the node's exit reasons.
func exitWhat(reason string) string {
	switch reason {
	case "crash flag":
		return "crashing (-c)"
	case "testcase 4":
		return "crashing (-t, after its DEL REQs left)"
	case "removed":
		return "removed from the view"
	case "left":
		return "left the group (LEAVE)"
	}
	return reason
}

// WriteTable prints the view history as a compact table.
func (l *Log) WriteTable(w io.Writer) error {
	start := l.Start()
	end := l.End()
	fmt.Fprintf(w, "%s: %d peers, %.2fs of logs\n", l.Dir, len(l.Peers), end.Sub(start).Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  time\twhat\tpeers")
	for _, r := range l.History() {
		ps := make([]string, len(r.Peers))
		for i, p := range r.Peers {
			ps[i] = strconv.Itoa(p)
		}
		fmt.Fprintf(tw, "  %7.3fs\t%s\t%s\n", r.Time.Sub(start).Seconds(), r.What, strings.Join(ps, " "))
		if r.Note != "" {
			fmt.Fprintf(tw, "  \t  !! %s\t\n", r.Note)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.Skipped > 0 {
		fmt.Fprintf(w, "  (%d log lines were not JSON and were skipped)\n", l.Skipped)
	}
	return nil
}
