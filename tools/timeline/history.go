package timeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MessageTypes are the protocol messages the timeline draws, in legend order
// (the names codec gives them). Heartbeats are never logged.
var MessageTypes = []string{"JOIN", "QUEUED", "REQ", "OK", "NEWVIEW", "NEWLEADER", "PENDING_REPLY", "PROBE", "PROBE_ACK", "LEAVE"}

// answers are the message types whose arrows carry no label: replies whose
// request is labelled already (the tooltip still names them).
var answers = map[string]bool{"OK": true, "PROBE_ACK": true}

// Arrow is one message from one peer to one other: a send event paired with
// its receive event, if any.
type Arrow struct {
	Type     string
	From, To int
	Send     int // index of the send event in Log.Events
	Recv     int // index of the receive event, or -1: never received
	Stale    bool
	Label    string          // a short description: "REQ DEL [5]"
	Msg      json.RawMessage // the body as logged
}

// Lost reports whether no receive matched the arrow.
func (a *Arrow) Lost() bool { return a.Recv < 0 }

// Arrows pairs every logged send with its receive. Arrows are in the order of
// their send events, destinations in the order logged.
func (l *Log) Arrows() []Arrow {
	var arrows []Arrow
	queues := map[string][]int{} // match key -> arrows not yet received, in send order
	for i := range l.Events {
		e := &l.Events[i]
		if e.Name != "send" || e.Type == "" {
			continue
		}
		for _, to := range e.To {
			a := Arrow{Type: e.Type, From: e.Peer, To: to, Send: i, Recv: -1, Msg: e.Msg, Label: msgLabel(e.Type, e.Msg)}
			key := matchKey(e.Type, e.Peer, to, e.Msg)
			queues[key] = append(queues[key], len(arrows))
			arrows = append(arrows, a)
		}
	}
	for i := range l.Events {
		e := &l.Events[i]
		if e.Name != "recv" {
			continue
		}
		key := matchKey(e.Type, e.From, e.Peer, e.Msg)
		q := queues[key]
		if len(q) == 0 {
			continue
		}
		a := &arrows[q[0]]
		queues[key] = q[1:]
		a.Recv = i
		// The node logs "stale" right after the "recv" it ignores.
		for j := i + 1; j < len(l.Events); j++ {
			n := &l.Events[j]
			if n.Peer != e.Peer || n.Component != e.Component {
				continue // another peer, or the wire logging from its goroutines
			}
			a.Stale = n.Name == "stale" && n.Type == e.Type && n.From == e.From
			break
		}
	}
	return arrows
}

// matchKey identifies a message on one connection: type, ends and content.
func matchKey(typ string, from, to int, msg json.RawMessage) string {
	return typ + "|" + strconv.Itoa(from) + "|" + strconv.Itoa(to) + "|" + canonical(msg)
}

// canonical re-encodes a message body with sorted keys, exact numbers, and
// empty lists equal to null (a nil slice may come back from the decoder as
// an empty one or the other way round).
func canonical(msg json.RawMessage) string {
	if len(msg) == 0 {
		return ""
	}
	d := json.NewDecoder(bytes.NewReader(msg))
	d.UseNumber()
	var v map[string]any
	if d.Decode(&v) != nil {
		return string(msg)
	}
	for k, x := range v {
		if l, ok := x.([]any); ok && len(l) == 0 {
			v[k] = nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return string(msg)
	}
	return string(b)
}

// body is the union of the logged message fields the labels use.
type body struct {
	RequestID   uint64
	ViewID      int
	Op          int
	Peers       []int
	Members     []int
	Leader      int
	Joiner      int
	Replaces    int
	EpochLeader int
}

// Operation numbers as in codec (protocol constants).
var opNames = map[int]string{1: "ADD", 2: "DEL", 3: "PENDING", 4: "NOTHING", 5: "LEAVE", 6: "LEAD"}

// msgLabel is a short description of a message: "REQ DEL [5]", "NEWVIEW v6",
// "QUEUED 4 L1" (joiner 4 is queued by leader 1).
func msgLabel(typ string, msg json.RawMessage) string {
	var b body
	if len(msg) > 0 {
		json.Unmarshal(msg, &b)
	}
	switch typ {
	case "JOIN":
		if b.Joiner != 0 {
			return fmt.Sprintf("JOIN %d", b.Joiner)
		}
	case "REQ":
		return fmt.Sprintf("REQ %s %s", opNames[b.Op], ids(b.Peers))
	case "OK":
		return fmt.Sprintf("OK %s", reqID(b.RequestID))
	case "NEWVIEW":
		return fmt.Sprintf("NEWVIEW v%d", b.ViewID)
	case "NEWLEADER":
		return "NEWLEADER"
	case "PENDING_REPLY":
		if b.Op == 4 || b.Op == 0 {
			return "NOTHING"
		}
		return fmt.Sprintf("pending %s %s", opNames[b.Op], ids(b.Peers))
	case "QUEUED":
		if b.Joiner != 0 {
			return fmt.Sprintf("QUEUED %d L%d", b.Joiner, b.Leader)
		}
	case "PROBE_ACK":
		if b.EpochLeader != 0 { // 0: the peer is in no view
			return fmt.Sprintf("PROBE_ACK L%d", b.EpochLeader)
		}
	}
	return typ
}

// reqID renders a request id as the node logs it: leader.counter.
func reqID(r uint64) string {
	return strconv.FormatUint(r>>32, 10) + "." + strconv.FormatUint(r&0xffffffff, 10)
}

// ids renders a list of ids as the assignment prints them: [1,2,3].
func ids(l []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, p := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(p))
	}
	b.WriteByte(']')
	return b.String()
}

// View is one view id as the peers installed it.
type View struct {
	ID       int
	Leader   int
	Members  []int
	First    time.Time // the first install
	By       []int     // the peers that installed it, in install order
	Conflict []string  // other (leader, members) installed under the same id
}

// Views returns every installed view id in increasing order.
func (l *Log) Views() []View {
	byID := map[int]*View{}
	for _, e := range l.Events {
		if e.Name != "view_installed" {
			continue
		}
		v := byID[e.ViewID]
		if v == nil {
			v = &View{ID: e.ViewID, Leader: e.Leader, Members: e.Members, First: e.Time}
			byID[e.ViewID] = v
		} else if v.Leader != e.Leader || !slices.Equal(v.Members, e.Members) {
			v.Conflict = append(v.Conflict, fmt.Sprintf("peer %d: leader %d %s", e.Peer, e.Leader, ids(e.Members)))
		}
		v.By = append(v.By, e.Peer)
	}
	out := make([]View, 0, len(byID))
	for _, v := range byID {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Start is the time of the first event.
func (l *Log) Start() time.Time {
	if len(l.Events) == 0 {
		return time.Time{}
	}
	return l.Events[0].Time
}

// End is the time of the latest event.
func (l *Log) End() time.Time {
	var end time.Time
	for _, e := range l.Events {
		if e.Time.After(end) {
			end = e.Time
		}
	}
	return end
}
