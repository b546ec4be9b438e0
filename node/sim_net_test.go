package node

import (
	"slices"

	"peer/codec"
)

// This file is the simulator's world: virtual time, the event queue, the TCP
// network with per-pair FIFO order, and the UDP heartbeats with the failure
// detector. sim_test.go drives it; sim_check_test.go checks the invariants.

const (
	maxSimPeers = 12
	// unitsPerTick: virtual time is counted in units; one node tick is
	// 1000 units (with the default flags a tick is 125 ms, a unit 125 µs).
	unitsPerTick = 1000
	// simRetryTicks is node.Config.RetryTicks, as cmd/peer sets it.
	simRetryTicks = 4
	// simInterval is the heartbeat period T: one retry period, as with the
	// default flags (-retry defaults to -hb-interval).
	simInterval = simRetryTicks * unitsPerTick
)

// ---- the event queue ----

type evKind uint8

const (
	evMsg   evKind = iota // deliver the head of a pair's FIFO
	evHB                  // a round of heartbeats arrives (at every receiver in mask)
	evTick                // a node's tick
	evRound               // a node's detector sends a heartbeat round
	evCall                // a scheduled action of the driver (fn)
)

type event struct {
	at    int64
	seq   uint64
	kind  evKind
	a, b  codec.PeerID // node, or from and to
	gen   uint32       // the node's incarnation, or the pair's generation
	view  codec.ViewID // heartbeat: the sender's view
	hbSeq int64        // heartbeat: its sequence number (the send time)
	call  int32        // evCall: index in sim.calls (no pointer here: the heap stays cheap to move)
	mask  uint32       // heartbeat: the receivers (bit per id)
}

// evHeap is a binary min-heap on (at, seq): one goroutine, no interface calls.
type evHeap []event

func (h *evHeap) push(e event) {
	*h = append(*h, e)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q[i].before(&q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *evHeap) pop() event {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = event{}
	q = q[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q[l].before(&q[m]) {
			m = l
		}
		if r < len(q) && q[r].before(&q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

func (e *event) before(o *event) bool {
	return e.at < o.at || e.at == o.at && e.seq < o.seq
}

func (s *sim) schedule(e event) {
	s.seq++
	e.seq = s.seq
	s.events.push(e)
}

func (s *sim) at(t int64, fn func()) {
	s.calls = append(s.calls, fn)
	s.schedule(event{at: t, kind: evCall, call: int32(len(s.calls) - 1)})
}

// ---- TCP: per-pair FIFO, random delays, pairs interleaved ----

// simNet is the cluster's network in the simulator. A frame from -> to is
// delivered after a random delay, never before an earlier frame of the same
// pair (TCP order); frames of different pairs interleave freely. Frames to a
// peer that is not running are lost (its connection is refused or reset);
// frames a crashed peer sent before it crashed stay in flight (kill -9 leaves
// what the kernel holds to be delivered). Frames to a paused peer wait.
type simNet struct {
	s    *sim
	q    [maxSimPeers + 1][maxSimPeers + 1][][]byte
	last [maxSimPeers + 1][maxSimPeers + 1]int64  // latest delivery time scheduled on the pair
	gen  [maxSimPeers + 1][maxSimPeers + 1]uint32 // bumped when the receiver's frames are lost
}

var _ network = (*simNet)(nil)

func (n *simNet) transmit(from, to codec.PeerID, frame []byte) {
	s := n.s
	if !s.c.alive[to] {
		return
	}
	at := max(s.now+s.msgDelay(), n.last[from][to])
	n.last[from][to] = at
	n.q[from][to] = append(n.q[from][to], frame)
	s.schedule(event{at: at, kind: evMsg, a: from, b: to, gen: n.gen[from][to]})
	s.stats.msgs++
}

func (n *simNet) lost(to codec.PeerID) {
	for from := range n.q {
		n.q[from][to] = nil
		n.gen[from][to]++
	}
}

// msgDelay is one TCP message's delay: usually short, sometimes long.
func (s *sim) msgDelay() int64 {
	if s.p.slowProb > 0 && s.rng.Float64() < s.p.slowProb {
		return 1 + s.rng.Int64N(s.p.slowDelay)
	}
	return 1 + s.rng.Int64N(s.p.maxDelay)
}

// deliver handles an evMsg: the head of the pair's queue reaches the receiver.
func (s *sim) deliver(e event) {
	from, to := e.a, e.b
	if e.gen != s.net.gen[from][to] || len(s.net.q[from][to]) == 0 {
		return // lost when the receiver crashed
	}
	if s.paused[to] {
		// Held in the receiver's socket buffer: read as soon as it runs again.
		e.at = s.resumeAt[to] + 1 + s.rng.Int64N(s.p.maxDelay)
		s.schedule(e)
		return
	}
	frame := s.net.q[from][to][0]
	s.net.q[from][to] = s.net.q[from][to][1:]
	m, err := codec.Unmarshal(frame)
	if err != nil {
		s.fail("unmarshal %d->%d: %v", from, to, err)
		return
	}
	if s.tracing {
		s.tracef("%d->%d %s", from, to, fmtMsg(m))
	}
	s.step(to, Receive{Msg: m})
}

// ---- UDP heartbeats and the failure detector ----

// simTracker is detector.Tracker on arrays and virtual time (the simulator
// calls it on every tick of every peer); TestSimTrackerIsTracker checks that
// both agree.
type simTracker struct {
	self     codec.PeerID
	timeout  int64
	watched  [maxSimPeers + 1]bool
	reported [maxSimPeers + 1]bool
	deadline [maxSimPeers + 1]int64
	buf      []codec.PeerID
}

func (t *simTracker) SetMembers(members []codec.PeerID, now int64) {
	var next [maxSimPeers + 1]bool
	for _, p := range members {
		if p == t.self || int(p) > maxSimPeers || next[p] {
			continue
		}
		next[p] = true
		if !t.watched[p] {
			t.deadline[p], t.reported[p] = now+t.timeout, false
		}
	}
	t.watched = next
}

func (t *simTracker) Observe(p codec.PeerID, now int64) {
	if int(p) > maxSimPeers || !t.watched[p] || t.reported[p] {
		return
	}
	t.deadline[p] = max(t.deadline[p], now+t.timeout)
}

func (t *simTracker) Expired(now int64) []codec.PeerID {
	t.buf = t.buf[:0]
	for p := range t.watched {
		if t.watched[p] && !t.reported[p] && t.deadline[p] <= now {
			t.reported[p] = true
			t.buf = append(t.buf, codec.PeerID(p))
		}
	}
	return t.buf
}

func (t *simTracker) Refresh(now int64) {
	for p := range t.watched {
		if t.watched[p] && !t.reported[p] {
			t.deadline[p] = now + t.timeout
		}
	}
}

// simDet models one peer's detector.Detector: it uses the Tracker's rules
// (simTracker) and copies Run's rules (a round to every other member each interval and at once
// on a new view, a stale Seq dropped, Heard at most once per sender per
// interval, a fresh grace period for everyone after a stall).
type simDet struct {
	tr      *simTracker
	active  bool // SetView was called
	view    codec.ViewID
	members []codec.PeerID
	// what the runner last gave SetView (Runner.Run's watchedID, watched)
	watchedID codec.ViewID
	watched   []codec.PeerID

	since   [maxSimPeers + 1]int64 // when each member was added to members
	lastSeq [maxSimPeers + 1]int64
	lastAt  [maxSimPeers + 1]int64
	hinted  [maxSimPeers + 1]int64 // -1: never
	held    [maxSimPeers + 1]heldHB
}

type heldHB struct {
	ok   bool
	view codec.ViewID
	seq  int64
}

func (s *sim) newDet(id codec.PeerID) *simDet {
	d := &simDet{tr: &simTracker{self: id, timeout: s.p.timeout}}
	for i := range d.hinted {
		d.hinted[i] = -1
		d.lastSeq[i] = -1
	}
	return d
}

// syncDetector is what Runner.Run does after every step: give the detector
// the view when Watch changed.
func (s *sim) syncDetector(id codec.PeerID) {
	d := s.det[id]
	if d == nil || !s.c.alive[id] {
		return
	}
	vid, members := s.c.nodes[id].Watch()
	if vid == d.watchedID && equalIDs(members, d.watched) {
		return
	}
	d.watchedID, d.watched = vid, members
	if d.active && vid == d.view && equalIDs(members, d.members) {
		return
	}
	for _, p := range members {
		if !slices.Contains(d.members, p) {
			d.since[p] = s.now
		}
	}
	d.active, d.view, d.members = true, vid, members
	d.tr.SetMembers(members, s.now)
	s.round(id)
}

// round sends one heartbeat to every other member. UDP: a heartbeat may be
// lost (never two in a row on one pair, so that loss alone never looks like
// a failure) and arrives after a random delay, in any order. (The heartbeats
// of one round share their delay: one event per round keeps the simulator
// fast; watchers still notice a silence at different times, by their own
// ticks and by independent losses.)
func (s *sim) round(id codec.PeerID) {
	d := s.det[id]
	if !d.active {
		return
	}
	var mask uint32
	for _, p := range d.members {
		if p == id {
			continue
		}
		if s.p.hbLoss > 0 && !s.hbLost[id][p] && s.rng.Float64() < s.p.hbLoss {
			s.hbLost[id][p] = true
			continue
		}
		s.hbLost[id][p] = false
		mask |= 1 << p
		s.stats.heartbeats++
	}
	if mask != 0 {
		s.schedule(event{at: s.now + s.rng.Int64N(s.p.hbLate+1), kind: evHB, a: id, mask: mask, view: d.view, hbSeq: s.now})
	}
}

// heartbeats handles an evHB: the round reaches each receiver, in id order.
func (s *sim) heartbeats(e event) {
	for to := codec.PeerID(1); int(to) <= s.p.n && s.err == nil; to++ {
		if e.mask&(1<<to) != 0 {
			e.b = to
			s.heartbeat(e)
		}
	}
}

// heartbeat handles one heartbeat of a round at its receiver e.b.
func (s *sim) heartbeat(e event) {
	to := e.b
	d := s.det[to]
	if d == nil || !s.c.alive[to] {
		return
	}
	if s.paused[to] {
		h := &d.held[e.a]
		if !h.ok || e.hbSeq > h.seq {
			*h = heldHB{ok: true, view: e.view, seq: e.hbSeq}
		}
		return
	}
	s.receiveHB(to, e.a, e.view, e.hbSeq)
}

// receiveHB is detector.loop.receive.
func (s *sim) receiveHB(to, from codec.PeerID, view codec.ViewID, seq int64) {
	d := s.det[to]
	if d.lastSeq[from] >= 0 && seq <= d.lastSeq[from] && s.now-d.lastAt[from] <= s.p.timeout {
		return
	}
	d.lastSeq[from], d.lastAt[from] = seq, s.now
	d.tr.Observe(from, s.now)
	if d.active && view != d.view && (d.hinted[from] < 0 || s.now-d.hinted[from] >= simInterval) {
		d.hinted[from] = s.now
		if s.tracing {
			s.tracef("%d heard %d at view %d", to, from, view)
		}
		s.step(to, Heard{Peer: from, ViewID: view})
	}
}

// expire reports the members whose deadline passed (the detector's timer).
func (s *sim) expire(id codec.PeerID) {
	d := s.det[id]
	if d == nil || !d.active {
		return
	}
	for _, p := range d.tr.Expired(s.now) {
		if !s.c.alive[id] {
			return
		}
		// A false suspicion of a running peer that learned of the view with
		// this one later than this one began to watch it (or not yet), so
		// its heartbeats came too late.
		dp := s.det[p]
		skew := s.c.alive[p] && !s.paused[p] &&
			(dp == nil || !dp.active || !slices.Contains(dp.members, id) || dp.since[id] > d.since[p])
		if s.tracing {
			if skew {
				s.tracef("%d suspects %d (false: %d learned late that it must send %d heartbeats)", id, p, p, id)
			} else {
				s.tracef("%d suspects %d", id, p)
			}
		}
		if skew {
			s.stats.skewed++
		}
		s.step(id, Suspect{Peer: p})
	}
}

// resumeDet is the detector waking after a pause: after a gap longer than the
// timeout every member gets a fresh grace period (detector.loop.wake); the
// heartbeats that waited in the socket buffer are read.
func (s *sim) resumeDet(id codec.PeerID, gap int64) {
	d := s.det[id]
	if d == nil {
		return
	}
	if d.active && gap > max(s.p.timeout, 2*simInterval) {
		d.tr.Refresh(s.now)
	}
	for from := range d.held {
		h := d.held[from]
		d.held[from] = heldHB{}
		if h.ok && s.c.alive[id] {
			s.receiveHB(id, codec.PeerID(from), h.view, h.seq)
		}
	}
}

func equalIDs(a, b []codec.PeerID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
