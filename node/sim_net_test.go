package node

import (
	"slices"

	"peer/codec"
	"peer/detector"
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
	bal   Ballot       // heartbeat: the ballot the sender follows
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
// pair (TCP order); frames of different pairs interleave freely. Frames a
// crashed peer sent before it crashed stay in flight (kill -9 leaves what
// the kernel holds to be delivered); frames to a paused peer wait.
//
// Connections fail as real ones do. A frame's connection may break between
// two live peers: the frames still in flight on it are lost (a suffix of
// the pair's queue), and possibly the frame being written. A frame for a
// peer that is not running is lost, and unless that peer's host vanished
// the sender's dial is refused: it gets a Refused input. When a peer
// crashes, every peer connected to it sees the connection break, redials,
// and is refused too.
type simNet struct {
	s     *sim
	q     [maxSimPeers + 1][maxSimPeers + 1][]simFrame
	last  [maxSimPeers + 1][maxSimPeers + 1]int64 // latest delivery time scheduled on the pair
	conn  [maxSimPeers + 1][maxSimPeers + 1]bool  // from has a connection to to
	held  [maxSimPeers + 1][maxSimPeers + 1]int64 // latest delivery time rescheduled for a paused receiver
	seq   uint64                                  // frame ids
	refus [maxSimPeers + 1][maxSimPeers + 1]int64 // when from was last refused by to, to rate-limit
}

type simFrame struct {
	id    uint64
	at    int64 // when its event is due
	bytes []byte
}

var _ network = (*simNet)(nil)

func (n *simNet) transmit(from, to codec.PeerID, frame []byte) {
	s := n.s
	if s.across(from, to) {
		// Nothing answers across a cut. A frame on an open connection is
		// retransmitted by TCP and arrives after the heal, unless the
		// connection gives up first; a new connection is not established.
		if !n.conn[from][to] || s.rng.IntN(2) == 0 {
			n.conn[from][to] = false
			return
		}
		n.seq++
		at := max(s.healAt+1+s.rng.Int64N(s.p.maxDelay), n.last[from][to])
		n.last[from][to] = at
		n.q[from][to] = append(n.q[from][to], simFrame{n.seq, at, frame})
		s.schedule(event{at: at, kind: evMsg, a: from, b: to, hbSeq: int64(n.seq)})
		return
	}
	if !s.c.alive[to] {
		n.conn[from][to] = false
		if !s.vanished[to] {
			n.refuse(from, to)
		}
		return
	}
	n.conn[from][to] = true
	if s.p.breakProb > 0 && s.rng.Float64() < s.p.breakProb {
		k := s.rng.IntN(len(n.q[from][to]) + 1)
		lost := len(n.q[from][to]) - k
		n.q[from][to] = n.q[from][to][:k]
		s.stats.breaks++
		if s.tracing {
			s.tracef("connection %d->%d breaks: %d frames in flight lost", from, to, lost)
		}
		if s.rng.IntN(2) == 0 {
			return // the frame whose write failed is lost too
		}
	}
	n.seq++
	at := max(s.now+s.msgDelay(), n.last[from][to])
	n.last[from][to] = at
	n.q[from][to] = append(n.q[from][to], simFrame{n.seq, at, frame})
	s.schedule(event{at: at, kind: evMsg, a: from, b: to, hbSeq: int64(n.seq)})
	s.stats.msgs++
}

// refuse delivers a Refused input to from after a dial's round trip, at
// most once per delay bound (a dead peer refuses every retransmission).
func (n *simNet) refuse(from, to codec.PeerID) {
	s := n.s
	if !s.c.alive[from] || s.now-n.refus[from][to] < s.p.maxDelay && n.refus[from][to] != 0 {
		return
	}
	n.refus[from][to] = s.now
	inc := s.inc[from]
	s.at(s.now+1+s.rng.Int64N(s.p.maxDelay), func() {
		if s.inc[from] == inc && s.c.alive[from] && !s.c.alive[to] && !s.across(from, to) {
			if s.tracing {
				s.tracef("%d: connection to %d refused", from, to)
			}
			s.step(from, Refused{Peer: to})
		}
	})
}

// lost drops everything in flight to a peer that crashed or exited.
func (n *simNet) lost(to codec.PeerID) {
	for from := range n.q {
		n.q[from][to] = nil
	}
}

// crashed: the peers connected to id see their connection break; they are
// refused at once when they redial, unless id's host is gone.
func (n *simNet) crashed(id codec.PeerID, silent bool) {
	for from := codec.PeerID(1); int(from) <= n.s.p.n; from++ {
		if n.conn[from][id] {
			n.conn[from][id] = false
			if !silent {
				n.refuse(from, id)
			}
		}
		n.conn[id][from] = false
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
	q := s.net.q[from][to]
	k := slices.IndexFunc(q, func(f simFrame) bool { return f.id == uint64(e.hbSeq) })
	switch {
	case k < 0:
		return // lost: the receiver crashed, or the connection broke
	case k > 0:
		// An earlier frame of the pair waits longer (its receiver was
		// paused when it was due): TCP delivers this one after it.
		e.at = q[0].at + 1
		q[k].at = e.at
		s.schedule(e)
		return
	case s.paused[to]:
		// Held in the receiver's socket buffer: read as soon as it runs
		// again, in order.
		e.at = max(s.resumeAt[to], s.net.held[from][to])
		s.net.held[from][to] = e.at
		q[0].at = e.at
		s.schedule(e)
		return
	}
	frame := q[0].bytes
	s.net.q[from][to] = q[1:]
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
	self      codec.PeerID
	timeout   int64
	watched   [maxSimPeers + 1]bool
	suspected [maxSimPeers + 1]bool
	deadline  [maxSimPeers + 1]int64
	buf       []codec.PeerID
}

func (t *simTracker) SetMembers(members []codec.PeerID, now int64) {
	var next [maxSimPeers + 1]bool
	for _, p := range members {
		if p == t.self || int(p) > maxSimPeers || next[p] {
			continue
		}
		next[p] = true
		if !t.watched[p] {
			t.deadline[p], t.suspected[p] = now+t.timeout, false
		}
	}
	t.watched = next
}

func (t *simTracker) Observe(p codec.PeerID, now int64) (revived bool) {
	if int(p) > maxSimPeers || !t.watched[p] {
		return false
	}
	revived, t.suspected[p] = t.suspected[p], false
	if revived || now+t.timeout > t.deadline[p] {
		t.deadline[p] = now + t.timeout
	}
	return revived
}

func (t *simTracker) Rewatch(p codec.PeerID, now int64) {
	if int(p) <= maxSimPeers && t.watched[p] && t.suspected[p] {
		t.suspected[p], t.deadline[p] = false, now+t.timeout
	}
}

func (t *simTracker) Expired(now int64) []codec.PeerID {
	t.buf = t.buf[:0]
	for p := range t.watched {
		if t.watched[p] && !t.suspected[p] && t.deadline[p] <= now {
			t.suspected[p] = true
			t.buf = append(t.buf, codec.PeerID(p))
		}
	}
	return t.buf
}

func (t *simTracker) Refresh(now int64) {
	for p := range t.watched {
		if t.watched[p] && !t.suspected[p] {
			t.deadline[p] = now + t.timeout
		}
	}
}

// simDet models one peer's detector.Detector: the Tracker's rules
// (simTracker) and Run's (a round to every other member each interval, to
// every other peer one round in detector.StrangerRounds, at once on a view that
// adds a member, a stale Seq dropped, Heard at most once per sender per
// interval, Alive when a suspected member is heard again, a fresh grace
// period for everyone after a stall). It follows the node's Output, as the
// runner makes the real one do.
type simDet struct {
	tr      *simTracker
	active  bool   // a view was set
	rounds  uint64 // rounds sent
	view    codec.ViewID
	members []codec.PeerID
	ballot  Ballot // as the last Output.Ballot gave it

	lastSeq [maxSimPeers + 1]int64
	lastAt  [maxSimPeers + 1]int64
	hinted  [maxSimPeers + 1]int64 // -1: never
	held    [maxSimPeers + 1]heldHB
}

type heldHB struct {
	ok   bool
	view codec.ViewID
	bal  Ballot
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

// syncDetector carries out a step's detector effects, as Runner.Run does:
// the ballot, the view to watch (SetView, which sends a round at once when
// it changes), then the members to watch afresh.
func (s *sim) syncDetector(id codec.PeerID, out Output) {
	d := s.det[id]
	if d == nil || !s.c.alive[id] {
		return
	}
	if b := out.Ballot; b != nil {
		d.ballot = *b // before the view's round, as Run applies both at once
	}
	if w := out.Watch; w != nil && !(d.active && w.View == d.view && equalIDs(w.Members, d.members)) {
		grows := !d.active || slices.ContainsFunc(w.Members, func(p codec.PeerID) bool { return !slices.Contains(d.members, p) })
		d.active, d.view, d.members = true, w.View, w.Members
		d.tr.SetMembers(w.Members, s.now)
		if grows { // a round at once only when the view adds a member, as detector.setView
			s.round(id)
		}
	}
	for _, p := range out.Rewatch {
		d.tr.Rewatch(p, s.now)
	}
}

// round sends one heartbeat to every other member, and in one round of
// detector.StrangerRounds to every other peer of the hostsfile too (only members
// watch for them). UDP: datagrams are lost
// at the seed's loss rate, in runs whose mean length the seed draws too
// (lossy links lose in bursts), and the others arrive after a random delay,
// in any order. (The heartbeats of one
// round share their delay: one event per round keeps the simulator fast;
// watchers still notice a silence at different times, by their own ticks
// and by independent losses.)
func (s *sim) round(id codec.PeerID) {
	d := s.det[id]
	if !d.active || len(d.members) == 0 {
		return
	}
	d.rounds++
	strangers := d.rounds%detector.StrangerRounds == 0
	var mask uint32
	for p := codec.PeerID(1); int(p) <= s.p.n; p++ { // the members, and in some rounds every peer of the hostsfile
		if p == id || s.across(id, p) || !strangers && !slices.Contains(d.members, p) {
			continue
		}
		if s.lost(id, p) {
			continue
		}
		mask |= 1 << p
		s.stats.heartbeats++
	}
	if mask != 0 {
		s.schedule(event{at: s.now + s.rng.Int64N(s.p.hbLate+1), kind: evHB, a: id, mask: mask, view: d.view, bal: d.ballot, hbSeq: s.now})
	}
}

// lost draws whether the heartbeat from -> to is lost: a two-state channel
// per pair (Gilbert) whose runs of losses last hbBurst datagrams on average
// and whose long-run loss rate is hbLoss.
func (s *sim) lost(from, to codec.PeerID) bool {
	r, b := s.p.hbLoss, float64(s.p.hbBurst)
	if r <= 0 {
		return false
	}
	run := &s.lossRun[from][to]
	if *run {
		*run = s.rng.Float64() >= 1/b // a run ends with chance 1/b
	} else {
		*run = s.rng.Float64() < r/(b*(1-r)) // and begins so that runs make up r of all
	}
	return *run
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
			*h = heldHB{ok: true, view: e.view, bal: e.bal, seq: e.hbSeq}
		}
		return
	}
	s.receiveHB(to, e.a, e.view, e.bal, e.hbSeq)
}

// receiveHB is detector.loop.receive, then the calls the reader makes.
func (s *sim) receiveHB(to, from codec.PeerID, view codec.ViewID, b Ballot, seq int64) {
	d := s.det[to]
	if d.lastSeq[from] >= 0 && seq <= d.lastSeq[from] && s.now-d.lastAt[from] <= s.p.timeout {
		return
	}
	d.lastSeq[from], d.lastAt[from] = seq, s.now
	if d.tr.Observe(from, s.now) {
		if s.tracing {
			s.tracef("%d hears %d again", to, from)
		}
		s.step(to, Alive{Peer: from})
	}
	differs := view != d.view || b != d.ballot
	if d.active && differs && (d.hinted[from] < 0 || s.now-d.hinted[from] >= simInterval) && s.det[to] != nil {
		d.hinted[from] = s.now
		if s.tracing {
			s.tracef("%d heard %d at view %d ballot %v", to, from, view, b)
		}
		s.step(to, Heard{Peer: from, ViewID: view, Epoch: b.Epoch, EpochLeader: b.Leader})
	}
}

// expire reports the members whose deadline passed (the detector's timer).
func (s *sim) expire(id codec.PeerID) {
	d := s.det[id]
	if d == nil || !d.active {
		return
	}
	for _, p := range slices.Clone(d.tr.Expired(s.now)) {
		if !s.c.alive[id] || s.det[id] == nil {
			return
		}
		if s.c.alive[p] && !s.paused[p] {
			s.stats.suspicions++
		}
		if s.tracing {
			s.tracef("%d suspects %d", id, p)
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
		if h.ok && s.c.alive[id] && s.det[id] != nil {
			s.receiveHB(id, codec.PeerID(from), h.view, h.bal, h.seq)
		}
	}
}

func equalIDs(a, b []codec.PeerID) bool { return slices.Equal(a, b) }
