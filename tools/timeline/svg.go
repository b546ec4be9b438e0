package timeline

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Options shape the picture.
type Options struct {
	// Gap: a stretch longer than this with nothing drawn in it is cut out of
	// the time axis and marked with its length.
	Gap time.Duration
	// PxPerMs is the vertical scale inside a burst of activity.
	PxPerMs float64
	// LaneWidth is the horizontal room of one peer, labels included.
	LaneWidth int
	// Title heads the picture; empty means the log directory.
	Title string
}

// DefaultOptions suit the local testcases (100 ms heartbeats) and the course's
// timings alike: every second-long wait is cut, a round of messages is
// spread over a few dozen pixels.
var DefaultOptions = Options{Gap: 150 * time.Millisecond, PxPerMs: 0.4, LaneWidth: 200}

// Colours of the message types (MessageTypes order) and of the marks.
var typeColour = map[string]string{
	"JOIN":          "#7f8c8d",
	"QUEUED":        "#8d6e63",
	"REQ":           "#e67e22",
	"OK":            "#27ae60",
	"NEWVIEW":       "#2e6fd8",
	"NEWLEADER":     "#8e44ad",
	"PENDING_REPLY": "#c2185b",
	"PROBE":         "#00838f",
	"PROBE_ACK":     "#3fa9b5",
	"LEAVE":         "#b7950b",
}

const (
	colView   = "#1f3f8f"
	colFail   = "#d62728"
	colNote   = "#555555"
	colFaint  = "#999999"
	colBand   = "#eeeeee"
	leftAxis  = 78
	minWidth  = 760 // room for the legend
	fontStack = "DejaVu Sans, Verdana, Arial, sans-serif"
)

// mark is an event drawn on a lane with a label.
type mark struct {
	kind  string // view, fail, suspect, crash, exit, stop, note, takeover, start, proc
	label string
	title string
}

// markOf says how an event is drawn, if it is drawn as a mark.
func markOf(e *Event) (mark, bool) {
	switch e.Name {
	case "view_installed":
		return mark{"view", fmt.Sprintf("v%d %s L%d", e.ViewID, ids(e.Members), e.Leader),
			fmt.Sprintf("peer %d installs view %d: leader %d, members %s", e.Peer, e.ViewID, e.Leader, ids(e.Members))}, true
	case "peer_unreachable":
		s := fmt.Sprintf("%d unreachable", e.Subject)
		if e.WasLeader {
			s = fmt.Sprintf("%d (leader) unreachable", e.Subject)
		}
		return mark{"fail", s, fmt.Sprintf("peer %d: peer %s in view %d", e.Peer, s, e.ViewID)}, true
	case "exit":
		switch e.Reason {
		case "crash flag", "testcase 4":
			return mark{"crash", "crashing", "exit: " + e.Reason}, true
		}
		return mark{"exit", "exit: " + e.Reason, "exit: " + e.Reason}, true
	case "fatal":
		return mark{"crash", "fatal error", "fatal error"}, true
	case "stopped":
		return mark{"stop", "stopped (second signal)", "a second signal stopped it at once, without leaving"}, true
	case "start":
		return mark{"start", "start", "the protocol starts (after -d)"}, true
	case "listening":
		if e.Component == "" { // the command's line, once per process
			return mark{"proc", "", "process started, sockets bound; waits -d"}, true
		}
	case "reconcile_started":
		if e.Replaces == 0 { // a leader's new ballot for itself (outbid, voter_failed)
			return mark{"takeover", "new ballot " + e.Ballot,
				fmt.Sprintf("NEWLEADER round %s, ballot %s: the leader runs a new ballot", e.RequestID, e.Ballot)}, true
		}
		return mark{"takeover", fmt.Sprintf("takes over from %d", e.Replaces),
			fmt.Sprintf("NEWLEADER round %s, ballot %s, replaces %d", e.RequestID, e.Ballot, e.Replaces)}, true
	case "pending_saved":
		return mark{"note", fmt.Sprintf("pending %s %s", e.Op, ids(e.Peers)),
			fmt.Sprintf("saved pending %s %s (request %s, view %d)", e.Op, ids(e.Peers), e.RequestID, e.ViewID)}, true
	case "pending_restarted":
		return mark{"note", fmt.Sprintf("restart %s %s", e.Op, ids(e.Peers)),
			fmt.Sprintf("restarting pending %s %s (request %s): it cannot have committed", e.Op, ids(e.Peers), e.RequestID)}, true
	case "pending_completed":
		return mark{"note", fmt.Sprintf("complete %s %s", e.Op, ids(e.Peers)),
			fmt.Sprintf("proposing pending %s %s (request %s) again: it may have committed", e.Op, ids(e.Peers), e.RequestID)}, true
	case "change_started":
		return mark{"note", fmt.Sprintf("change %s %s", e.Op, ids(e.Peers)),
			fmt.Sprintf("view change %s %s started (request %s)", e.Op, ids(e.Peers), e.RequestID)}, true
	case "testcase4":
		return mark{"note", fmt.Sprintf("-t: DEL %d, REQ to %s", e.Target, ids(e.To)),
			fmt.Sprintf("TESTCASE 4: DEL of %d sent to %s, not to the next leader %d", e.Target, ids(e.To), e.Skipped)}, true
	case "new_leader":
		return mark{"note", fmt.Sprintf("follows %d", e.Leader), fmt.Sprintf("following leader %d (ballot %s)", e.Leader, e.Ballot)}, true
	case "step_down":
		return mark{"note", "steps down", fmt.Sprintf("a higher ballot %s leads: no longer leading", e.Ballot)}, true
	case "outbid":
		return mark{"note", fmt.Sprintf("outbids %d", e.Candidate),
			fmt.Sprintf("candidate %d challenges this live leader with ballot %s: new ballot above it", e.Candidate, e.Ballot)}, true
	case "no_quorum":
		return mark{"note", "no quorum", "too few members answer to change the view or take over: waiting"}, true
	case "check_started":
		return mark{"suspect", fmt.Sprintf("checks %d", e.Subject),
			fmt.Sprintf("peer %d suspects peer %d (view %d): probing it over TCP", e.Peer, e.Subject, e.ViewID)}, true
	case "probe_timeout":
		return mark{"note", fmt.Sprintf("no answer from %d", e.Subject), fmt.Sprintf("peer %d did not answer the probe in time", e.Subject)}, true
	case "suspicion_ended":
		return mark{"note", fmt.Sprintf("%d is alive", e.Subject), fmt.Sprintf("suspected peer %d is alive: %s", e.Subject, e.Why)}, true
	case "peer_revived":
		return mark{"note", fmt.Sprintf("%d alive again", e.Subject),
			fmt.Sprintf("peer %d, found unreachable, is alive: %s", e.Subject, e.Why)}, true
	case "restart_claimed":
		return mark{"suspect", fmt.Sprintf("%d restarted?", e.Subject),
			fmt.Sprintf("a JOIN says peer %d's process restarted: probing it", e.Subject)}, true
	case "probe_other_incarnation":
		return mark{"note", fmt.Sprintf("%d restarted", e.Subject),
			fmt.Sprintf("another process of peer %d answered the probe: the one in the view is gone", e.Subject)}, true
	case "leaving":
		return mark{"note", "leaving", fmt.Sprintf("leaving the group gracefully (view %d): LEAVE to the others", e.ViewID)}, true
	case "detector_stalled":
		return mark{"note", "detector stalled", "the detector could not run for longer than the timeout"}, true
	}
	return mark{}, false
}

// placed is a drawn event and its height.
type placed struct {
	ev   int
	y    float64
	mark mark
	has  bool // has a mark
}

// gapBand is a cut quiet stretch between y0 and y1.
type gapBand struct {
	y0, y1 float64
	d      time.Duration
}

// Vertical room, in pixels: between two events of one lane, between two
// labelled marks of one lane, and from a send down to its receive.
const (
	sepAny   = 10
	sepMark  = 16
	sepArrow = 12
)

// layout gives every drawn event its height. Time runs down; the height grows
// with the time since the previous drawn event, by at most the cut height;
// events of one lane keep their distance (sepAny, sepMark) and a receive sits
// below its send (sepArrow) so the arrow slopes down.
func (l *Log) layout(arrows []Arrow, o Options, top float64) ([]placed, map[int]float64, []gapBand) {
	drawn := map[int]bool{}
	roomy := map[int]bool{} // sends whose arrow carries a label need a mark's room
	recvOf := map[int]int{} // recv event -> send event
	for _, a := range arrows {
		drawn[a.Send] = true
		if a.Recv >= 0 {
			drawn[a.Recv] = true
			recvOf[a.Recv] = a.Send
			roomy[a.Send] = roomy[a.Send] || (!answers[a.Type] && !a.Stale)
		}
	}
	gapPx := float64(o.Gap.Milliseconds()) * o.PxPerMs
	cut := gapPx + 18
	var out []placed
	yOf := map[int]float64{}
	var bands []gapBand
	lastAny := map[int]float64{}
	lastMark := map[int]float64{}
	prevY := top
	var prevT time.Time
	restarted := map[int]map[string]bool{} // per peer, since its takeover
	for i := range l.Events {
		e := &l.Events[i]
		m, isMark := markOf(e)
		switch e.Name {
		case "reconcile_started":
			restarted[e.Peer] = nil
		case "pending_restarted":
			// One takeover restarts at most one operation; a repeated line
			// (older nodes logged it once per member that reported it) is
			// drawn once.
			if restarted[e.Peer][m.label] {
				isMark = false
			} else {
				if restarted[e.Peer] == nil {
					restarted[e.Peer] = map[string]bool{}
				}
				restarted[e.Peer][m.label] = true
			}
		}
		if !isMark && !drawn[i] {
			continue
		}
		y := prevY
		if !prevT.IsZero() {
			dt := e.Time.Sub(prevT)
			if dt > o.Gap {
				bands = append(bands, gapBand{prevY + 6, prevY + cut - 6, dt})
				y += cut
			} else if dt > 0 {
				y += float64(dt) / float64(time.Millisecond) * o.PxPerMs
			}
		}
		if v, ok := lastAny[e.Peer]; ok {
			y = math.Max(y, v+sepAny)
		}
		if isMark || roomy[i] {
			if v, ok := lastMark[e.Peer]; ok {
				y = math.Max(y, v+sepMark)
			}
		}
		if s, ok := recvOf[i]; ok {
			if sy, ok := yOf[s]; ok {
				y = math.Max(y, sy+sepArrow)
			}
		}
		lastAny[e.Peer] = y
		if isMark || roomy[i] {
			lastMark[e.Peer] = y
		}
		yOf[i] = y
		out = append(out, placed{ev: i, y: y, mark: m, has: isMark})
		prevY, prevT = y, e.Time
	}
	return out, yOf, bands
}

// WriteSVG draws the run: one lane per peer, time running down.
func (l *Log) WriteSVG(w io.Writer, o Options) error {
	if o.Gap <= 0 {
		o.Gap = DefaultOptions.Gap
	}
	if o.PxPerMs <= 0 {
		o.PxPerMs = DefaultOptions.PxPerMs
	}
	if o.LaneWidth <= 0 {
		o.LaneWidth = DefaultOptions.LaneWidth
	}
	if o.Title == "" {
		o.Title = l.Dir
	}
	arrows := l.Arrows()
	lanes := append([]int(nil), l.Peers...)
	for _, a := range arrows {
		for _, p := range []int{a.From, a.To} {
			if !slices.Contains(lanes, p) {
				lanes = append(lanes, p)
			}
		}
	}
	slices.Sort(lanes)
	width := max(leftAxis+len(lanes)*o.LaneWidth+10, minWidth)
	items, rows := legendLayout(float64(width))
	top := 40 + float64(rows)*18 + 40 // title, legend, lane names
	pl, yOf, bands := l.layout(arrows, o, top)
	x := map[int]float64{}
	for i, p := range lanes {
		x[p] = float64(leftAxis + i*o.LaneWidth + 20)
	}
	bottom := top
	if n := len(pl); n > 0 {
		bottom = pl[n-1].y
	}
	height := int(bottom) + 50

	b := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="11">`+"\n",
		width, height, width, height, fontStack)
	p("<title>%s</title>\n", esc("timeline of "+o.Title))
	p(`<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", width, height)
	p("<defs>\n")
	for _, t := range MessageTypes {
		p(`<marker id="ah-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`+"\n", t, typeColour[t])
	}
	p("</defs>\n")

	// Title and legend.
	start := l.Start()
	end := l.End()
	p(`<text x="10" y="20" font-size="14" font-weight="bold">%s</text>`+"\n",
		esc(fmt.Sprintf("%s — %d peers, %.2f s, time runs down", o.Title, len(l.Peers), end.Sub(start).Seconds())))
	p(`<g class="legend">`)
	for _, it := range items {
		drawLegendSymbol(p, it.kind, it.x, it.y)
		colour := "black"
		if c, ok := typeColour[it.kind]; ok {
			colour = c
		}
		p(`<text x="%.0f" y="%.0f" fill="%s">%s</text>`+"\n", it.x+30, it.y+4, colour, esc(it.text))
	}
	p("</g>\n")
	for _, id := range lanes {
		p(`<text x="%.0f" y="%.0f" font-size="13" font-weight="bold" text-anchor="middle">peer %d</text>`+"\n", x[id], top-14, id)
	}

	// Lanes: dotted while the process waits (-d), solid once the protocol runs.
	first, begun, last, ended := map[int]float64{}, map[int]float64{}, map[int]float64{}, map[int]string{}
	for _, q := range pl {
		e := &l.Events[q.ev]
		if _, ok := first[e.Peer]; !ok {
			first[e.Peer] = q.y
		}
		if q.has && q.mark.kind == "start" {
			begun[e.Peer] = q.y
		}
		last[e.Peer] = q.y
		if q.has && (q.mark.kind == "crash" || q.mark.kind == "exit" || q.mark.kind == "stop") {
			ended[e.Peer] = q.mark.kind
		}
	}
	for _, id := range lanes {
		lx := x[id]
		y0, ok := first[id]
		if !ok {
			p(`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-dasharray="1 4"/>`+"\n", lx, top, lx, bottom, colFaint)
			p(`<text x="%.0f" y="%.0f" fill="%s" font-size="9" text-anchor="middle">(no log)</text>`+"\n", lx, top-2, colFaint)
			continue
		}
		y1 := last[id]
		if ended[id] == "" {
			y1 = bottom + 10
		}
		solid := y0
		if s, ok := begun[id]; ok {
			solid = s
			p(`<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="%s" stroke-width="1.2" stroke-dasharray="2 3"/>`+"\n", lx, y0, lx, s, colFaint)
		}
		p(`<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#333" stroke-width="1.6"/>`+"\n", lx, solid, lx, y1)
	}

	// Cut quiet stretches.
	for _, g := range bands {
		p(`<rect x="0" y="%.1f" width="%d" height="%.1f" fill="%s"/>`, g.y0, width, g.y1-g.y0, colBand)
		p(`<line x1="0" y1="%.1f" x2="%d" y2="%.1f" stroke="#cccccc" stroke-dasharray="6 4"/>`, g.y0, width, g.y0)
		p(`<line x1="0" y1="%.1f" x2="%d" y2="%.1f" stroke="#cccccc" stroke-dasharray="6 4"/>`, g.y1, width, g.y1)
		p(`<text x="%d" y="%.1f" fill="%s" font-size="10" text-anchor="end">%s</text>`+"\n", leftAxis-8, (g.y0+g.y1)/2+4, colNote, esc("⋯ "+fmtDur(g.d)))
	}

	// Time axis: elapsed time next to marks, where there is room.
	lastAxis := -100.0
	for _, q := range pl {
		if !q.has || q.y-lastAxis < 26 {
			continue
		}
		lastAxis = q.y
		p(`<text x="%d" y="%.1f" fill="%s" font-size="9" text-anchor="end">%s</text>`+"\n", leftAxis-8, q.y+3, colFaint,
			esc(fmt.Sprintf("%.3fs", l.Events[q.ev].Time.Sub(start).Seconds())))
	}

	// Arrows. Each send's arrow to the nearest lane carries its label.
	labelled := map[int]int{} // send event -> arrow index
	for i, a := range arrows {
		if a.Lost() || a.Stale || answers[a.Type] {
			continue
		}
		if j, ok := labelled[a.Send]; !ok || math.Abs(x[a.To]-x[a.From]) < math.Abs(x[arrows[j].To]-x[a.From]) {
			labelled[a.Send] = i
		}
	}
	for i, a := range arrows {
		c := typeColour[a.Type]
		if c == "" {
			c = colNote
		}
		x1, y1 := x[a.From], yOf[a.Send]
		x2 := x[a.To]
		dir := 1.0
		if x2 < x1 {
			dir = -1
		}
		tip := fmt.Sprintf("%s %d→%d", a.Label, a.From, a.To)
		if len(a.Msg) > 0 {
			tip += "\n" + string(a.Msg)
		}
		if a.Lost() {
			// Never received: dashed all the way to the destination's lane,
			// ending in a cross instead of an arrowhead.
			ex, ey := x2-dir*4, y1+sepArrow
			p(`<g><title>%s</title><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.2" stroke-dasharray="4 3" opacity="0.8"/>`,
				esc(tip+" (never received)"), x1, y1, ex, ey, c)
			drawX(p, ex, ey, 3.5, c, 1.4)
			p("</g>\n")
			continue
		}
		y2 := yOf[a.Recv]
		extra := ""
		if a.Stale {
			extra = ` stroke-dasharray="2 2" opacity="0.4"`
			tip += " (ignored: stale)"
		}
		p(`<g><title>%s</title><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.3"%s marker-end="url(#ah-%s)"/></g>`+"\n",
			esc(tip), x1, y1, x2-dir*1.5, y2, c, extra, a.Type)
		if labelled[a.Send] == i {
			// In the free strip just left of the first lane the arrow crosses
			// (right of the labels of the lane before it).
			lx := x2 - 6
			if dir > 0 {
				lx = x1 + float64(o.LaneWidth) - 6
			} else {
				lx = x1 - 6
			}
			ly := y1 + (y2-y1)*(lx-x1)/(x2-x1) - 3
			if dir < 0 {
				ly = y1 + (y2-y1)*0.05 - 3
			}
			p(`<text x="%.1f" y="%.1f" fill="%s" font-size="9" text-anchor="end" stroke="white" stroke-width="3" paint-order="stroke">%s</text>`+"\n",
				lx, ly, c, esc(a.Label))
		}
	}

	// Marks and their labels, on top.
	for _, q := range pl {
		if !q.has {
			continue
		}
		e := &l.Events[q.ev]
		lx, ly := x[e.Peer], q.y
		p(`<g><title>%s</title>`, esc(q.mark.title))
		drawMark(p, q.mark.kind, lx, ly)
		colour, size, weight := colNote, 10, "normal"
		switch q.mark.kind {
		case "view":
			colour, size, weight = colView, 11, "bold"
		case "fail", "crash":
			colour, weight = colFail, "bold"
		case "suspect":
			colour = colFail
		case "takeover":
			colour, weight = typeColour["NEWLEADER"], "bold"
		case "start", "stop", "exit":
			colour = colFaint
		}
		if q.mark.label != "" {
			p(`<text x="%.1f" y="%.1f" fill="%s" font-size="%d" font-weight="%s" stroke="white" stroke-width="3" paint-order="stroke">%s</text>`,
				lx+8, ly+4, colour, size, weight, esc(q.mark.label))
		}
		p("</g>\n")
	}
	p("</svg>\n")
	return b.Flush()
}

// legendItem is one entry of the legend: a symbol and its text at (x, y).
type legendItem struct {
	kind, text string
	x, y       float64
}

// legendLayout flows the legend into rows of the given width.
func legendLayout(width float64) ([]legendItem, int) {
	var items []legendItem
	for _, t := range MessageTypes {
		items = append(items, legendItem{kind: t, text: t})
	}
	items = append(items,
		legendItem{kind: "view", text: "view installed: vID [members] L=leader"},
		legendItem{kind: "suspect", text: "suspected: probing it"},
		legendItem{kind: "fail", text: "peer unreachable"},
		legendItem{kind: "crash", text: "crash (-c, -t)"},
		legendItem{kind: "exit", text: "exit (removed, left)"},
		legendItem{kind: "takeover", text: "takes over as leader, or new ballot"},
		legendItem{kind: "note", text: "protocol step"},
		legendItem{kind: "wait", text: "process up, waiting (-d)"},
		legendItem{kind: "lost", text: "sent, never received"},
		legendItem{kind: "stale", text: "received, ignored (stale)"},
		legendItem{kind: "band", text: "quiet time cut out (its length on the left)"},
	)
	x, y, rows := 10.0, 38.0, 1
	for i := range items {
		w := 30 + float64(len(items[i].text))*6.1 + 18
		if x+w > width && x > 10 {
			x, y = 10, y+18
			rows++
		}
		items[i].x, items[i].y = x, y
		x += w
	}
	return items, rows
}

func drawLegendSymbol(p func(string, ...any), kind string, x, y float64) {
	if c, ok := typeColour[kind]; ok {
		p(`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="1.6" marker-end="url(#ah-%s)"/>`, x, y, x+24, y, c, kind)
		return
	}
	switch kind {
	case "lost":
		p(`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="1.4" stroke-dasharray="4 3"/>`, x, y, x+18, y, colNote)
		drawX(p, x+21, y, 3.5, colNote, 1.4)
	case "stale":
		p(`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="1.4" stroke-dasharray="2 2" opacity="0.4"/>`, x, y, x+24, y, colNote)
	case "wait":
		p(`<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="1.2" stroke-dasharray="2 3"/>`, x, y, x+24, y, colFaint)
	case "band":
		p(`<rect x="%.0f" y="%.0f" width="24" height="10" fill="%s"/>`, x, y-5, colBand)
	default:
		drawMark(p, kind, x+12, y)
	}
}

// drawMark draws the symbol of a mark kind centred on (x, y).
func drawMark(p func(string, ...any), kind string, x, y float64) {
	switch kind {
	case "view":
		p(`<rect x="%.1f" y="%.1f" width="8" height="8" fill="%s"/>`, x-4, y-4, colView)
	case "fail":
		p(`<circle cx="%.1f" cy="%.1f" r="4.5" fill="%s"/>`, x, y, colFail)
	case "suspect":
		p(`<circle cx="%.1f" cy="%.1f" r="4" fill="white" stroke="%s" stroke-width="1.6"/>`, x, y, colFail)
	case "crash":
		drawX(p, x, y, 6, colFail, 3)
	case "exit":
		drawX(p, x, y, 5, colNote, 2)
	case "stop":
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, x-6, y, x+6, y, colFaint)
	case "takeover":
		p(`<path d="M%.1f,%.1f l5,5 l-5,5 l-5,-5 z" fill="%s"/>`, x, y-5, typeColour["NEWLEADER"])
	case "start":
		p(`<circle cx="%.1f" cy="%.1f" r="3" fill="white" stroke="#333" stroke-width="1.4"/>`, x, y)
	case "note":
		p(`<circle cx="%.1f" cy="%.1f" r="2.2" fill="%s"/>`, x, y, colNote)
	case "proc":
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, x-5, y, x+5, y, colFaint)
	}
}

func drawX(p func(string, ...any), x, y, r float64, colour string, w float64) {
	p(`<path d="M%.1f,%.1f L%.1f,%.1f M%.1f,%.1f L%.1f,%.1f" stroke="%s" stroke-width="%.1f"/>`,
		x-r, y-r, x+r, y+r, x-r, y+r, x+r, y-r, colour, w)
}

func fmtDur(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
