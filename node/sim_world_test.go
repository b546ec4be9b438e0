package node

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"peer/codec"
)

// simParams is one schedule's world, drawn from its seed.
type simParams struct {
	n         int     // peers in the hostsfile, all of which start sooner or later
	maxDelay  int64   // usual TCP delay bound (units)
	slowProb  float64 // chance that a TCP message is slow
	slowDelay int64   // a slow message's delay bound
	breakProb float64 // chance that a frame's connection breaks: the frames in flight on it are lost
	hbLoss    float64 // share of heartbeat datagrams lost, on each sender-receiver pair
	hbBurst   int     // mean length of a run of lost heartbeats on a pair (1: each lost on its own)
	hbLate    int64   // heartbeat delay bound
	timeout   int64   // detector timeout
	probe     int64   // how long a probe has to be answered (ProbeTicks)
	vanish    float64 // chance that a crash leaves no one to refuse connections (the host is gone)
	rejoin    bool    // Config.Rejoin
	storm     bool    // every peer starts within one heartbeat period
	tc4       bool    // peer 1 runs with -t
	faults    int     // faults to inject
	overlap   bool    // the next fault may come while the group still handles the last
}

func drawParams(rng *rand.Rand) simParams {
	p := simParams{n: 3 + rng.IntN(maxSimPeers-2)}
	p.maxDelay = [...]int64{50, 250, 800}[rng.IntN(3)]
	if rng.IntN(3) == 0 {
		p.slowProb, p.slowDelay = 0.05, 2500
	}
	p.breakProb = [...]float64{0, 0.002, 0.02}[rng.IntN(3)]
	p.hbLate = simInterval / 4
	p.hbLoss = [...]float64{0, 0.01, 0.05, 0.20}[rng.IntN(4)]
	p.timeout = [...]int64{2 * simInterval, 3 * simInterval}[rng.IntN(2)]
	p.probe = p.timeout + simRetryTicks*unitsPerTick // as cmd/peer: one timeout and one retry period
	p.vanish = [...]float64{0, 0.5}[rng.IntN(2)]
	p.rejoin = rng.IntN(2) == 0
	p.storm = rng.IntN(4) == 0
	p.tc4 = rng.IntN(8) == 0
	p.faults = rng.IntN(7)
	p.overlap = rng.IntN(3) == 0
	p.hbBurst = [...]int{1, 1, 3, 8}[rng.IntN(4)]
	return p
}

// The liveness bound: once the last fault has happened (a crash, a resume, a
// start), every alive started peer is in one view of exactly the alive
// started peers within simBound ticks: a timeout and a probe to find each
// of up to two failures (a leader that crashes while it removes a member),
// and a few retry periods of rounds and retransmissions. See
// docs/simulation.md.
const simBoundRetries = 12

// simMaxTicks ends a schedule that does not end by itself.
const simMaxTicks = 20000

func (s *sim) bound() int64 {
	return 2*(s.p.timeout+s.p.probe) + simBoundRetries*simRetryTicks*unitsPerTick
}

// tailUnits: after the last fault is handled, the run goes on this long and
// the view must not change.
func (s *sim) tailUnits() int64 { return 2*(s.p.timeout+s.p.probe) + 2*simInterval }

// protected is the longest pause that must never get a peer reported or
// removed: shorter than the timeout by the round trips a probe and its
// answer may take, and by a retry period when a broken connection may lose
// a probe.
func (s *sim) protected() int64 {
	d := s.p.maxDelay
	if s.p.slowProb > 0 {
		d = s.p.slowDelay
	}
	margin := 2 * d
	if s.p.breakProb > 0 {
		margin += simRetryTicks * unitsPerTick
	}
	return min(s.p.timeout, s.p.probe-margin)
}

// window is how long before a report or a removal the peer must have been
// down (crashed or paused past protected) for it to be true: a detection,
// a probe, and a change's rounds with retransmissions.
func (s *sim) window() int64 {
	return s.p.timeout + s.p.probe + simBoundRetries*simRetryTicks*unitsPerTick
}

type faultKind uint8

const (
	fCrashMember     faultKind = iota // a member crashes
	fCrashLeader                      // the leader crashes, idle
	fLeaderMidChange                  // the leader crashes at a step of a change (a join or a delete)
	fMemberMidChange                  // a member crashes at a step of a join
	fTakeover                         // the leader crashes, then the next leader at a step of its takeover
	fPause                            // a peer (the leader too) stops for a while, any length, and resumes
	fRestart                          // a crashed or removed peer starts again with its id
	fJoinRace                         // a peer crashes and another starts at about the same time
	fTestCase4                        // the -t leader's DEL to all but the next leader, then its exit
	fPartition                        // a set of peers is cut off from the others, both ways, for a while
	fLeave                            // a member (the leader too) leaves gracefully (SIGTERM)
	numFaultKinds
)

var faultNames = [numFaultKinds]string{"crash-member", "crash-leader", "leader-mid-change", "member-mid-change",
	"takeover-crash", "pause", "restart", "join-race", "testcase4", "partition", "leave"}

// trigger crashes a peer in the middle of a step: the step's output is cut
// (each destination gets a prefix of what the step sent to it, a prefix of
// its lines is printed) and the peer is gone.
type trigger struct {
	node codec.PeerID
	inc  uint32
	on   trigOn
	typ  codec.Type
	skip int // matching steps to let pass first
	desc string
}

type trigOn uint8

const (
	onOutput trigOn = iota // a step that sends or installs something
	onSend                 // a step that sends a message of type typ
	onRecv                 // a step whose input is a message of type typ
)

func (t *trigger) matches(in Input, out Output) bool {
	switch t.on {
	case onSend:
		for _, s := range out.Sends {
			if s.Msg.Type() == t.typ {
				return true
			}
		}
		return false
	case onRecv:
		r, ok := in.(Receive)
		return ok && r.Msg.Type() == t.typ
	}
	return len(out.Sends) > 0 || len(out.Views) > 0
}

type simStats struct {
	steps, msgs, heartbeats int
	suspicions              int // detector timeouts of running peers: checked, never acted on
	breaks                  int // connections broken with frames in flight
	noQuorum                int // schedules that ended with too few peers left to change the view
	faults                  [numFaultKinds]int
	maxSettle               int64 // longest time from a fault to a stable group
	end                     int64 // virtual time at the end
}

// leaver is one incarnation of a peer.
type leaver struct {
	id  codec.PeerID
	inc uint64
}

// down is a stretch of time when a peer could not answer: crashed (until
// its restart) or paused longer than protected.
type down struct{ from, to int64 }

// sim is one schedule: peers, network, detector, faults and the checker, in
// one goroutine, driven by a seeded *rand.Rand.
type sim struct {
	seed   uint64
	p      simParams
	broken broken
	rng    *rand.Rand
	c      *cluster
	net    *simNet
	events evHeap
	calls  []func() // evCall actions
	seq    uint64
	now    int64

	inc       [maxSimPeers + 1]uint32 // incarnation: bumped at every start
	pending   [maxSimPeers + 1]bool   // its first start is still scheduled
	det       [maxSimPeers + 1]*simDet
	vanished  [maxSimPeers + 1]bool                  // its last crash left nobody to refuse connections
	downs     [maxSimPeers + 1][]down                // when it could not answer
	target4   codec.PeerID                           // the -t DEL's target: removed while alive, by design
	t4sent    bool                                   // the TestCase4 input was given to peer 1
	leaving   [maxSimPeers + 1]bool                  // the current incarnation was asked to leave
	left      map[leaver]bool                        // every incarnation that was asked to leave
	skipped   [maxSimPeers + 1]uint64                // ticks that passed while it was paused
	idle      [maxSimPeers + 1]bool                  // its last Output did not ask for ticks
	idled     [maxSimPeers + 1]uint64                // ticks that passed while it was idle
	side      [maxSimPeers + 1]bool                  // one side of a partition
	lossRun   [maxSimPeers + 1][maxSimPeers + 1]bool // the pair (sender, receiver) is in a run of lost heartbeats
	cutting   bool                                   // a partition is in place
	healAt    int64                                  // when it heals
	paused    [maxSimPeers + 1]bool
	pausedAt  [maxSimPeers + 1]int64
	resumeAt  [maxSimPeers + 1]int64
	pausedN   int
	trig      *trigger
	chk       checker
	joinsLeft int // first starts still to come

	faultsLeft     int
	faultScheduled bool
	lastEvent      int64 // time of the last fault or start
	stable         bool
	stableView     View
	dirty          bool
	tail           bool
	tailView       codec.ViewID
	done           bool
	err            error

	tracing bool
	trace   []string
	stats   simStats
}

func newSim(seed uint64, b broken, tracing bool) *sim {
	rng := rand.New(rand.NewPCG(seed, 0x5eed_0f_9ee2))
	s := &sim{seed: seed, broken: b, rng: rng, tracing: tracing, chk: newChecker(), left: map[leaver]bool{}}
	s.p = drawParams(rng)
	s.chk.s = s
	s.net = &simNet{s: s}
	s.c = newCluster(nil, s.p.n, s.configure)
	s.c.net = s.net
	return s
}

func (s *sim) configure(cfg *Config) {
	restarted := s.inc[cfg.Self] > 1
	cfg.Leader = cfg.Self == 1 && !restarted // a restarted peer 1 runs with -join
	cfg.RetryTicks = simRetryTicks
	cfg.ProbeTicks = int(s.p.probe / unitsPerTick)
	cfg.Rejoin = s.p.rejoin
	cfg.Logger = zerolog.Nop()
	if s.tracing && os.Getenv("SIM_LOG") != "" {
		// SIM_LOG=1 with SIM_SEED: the nodes' own log lines join the trace.
		cfg.Logger = zerolog.New(simLog{s, cfg.Self}).Level(zerolog.DebugLevel)
	}
}

// simLog puts a node's log lines into the trace.
type simLog struct {
	s    *sim
	self codec.PeerID
}

func (l simLog) Write(b []byte) (int, error) {
	l.s.tracef("%d log %s", l.self, strings.TrimSpace(string(b)))
	return len(b), nil
}

func (s *sim) String() string {
	p := s.p
	return fmt.Sprintf("seed %d: %d peers, tcp delay <=%s ticks (%.0f%% up to %s), breaks %.1f%%, heartbeat loss %.0f%% in runs of %d, late <=%s, "+
		"timeout %s ticks, probe %s, crashes silent %.0f%%, rejoin %v, storm %v, -t %v, %d faults (overlapping %v)",
		s.seed, p.n, fmtTime(p.maxDelay), 100*p.slowProb, fmtTime(p.slowDelay), 100*p.breakProb, 100*p.hbLoss, p.hbBurst, fmtTime(p.hbLate),
		fmtTime(p.timeout), fmtTime(p.probe), 100*p.vanish, p.rejoin, p.storm, p.tc4, p.faults, p.overlap)
}

func (s *sim) tracef(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%10s  ", fmtTime(s.now))+fmt.Sprintf(format, args...))
}

func (s *sim) fail(format string, args ...any) {
	if s.err != nil {
		return
	}
	s.err = fmt.Errorf("t=%s: %s", fmtTime(s.now), fmt.Sprintf(format, args...))
	if s.tracing {
		s.tracef("VIOLATION %s", fmt.Sprintf(format, args...))
	}
}

// run plays the whole schedule; s.err is the first violation.
func (s *sim) run() {
	if s.tracing {
		s.trace = append(s.trace, s.String())
	}
	s.faultsLeft = s.p.faults
	s.at(0, func() { s.startPeer(1) })
	// Joins at random times: most early, some late enough to race with
	// faults; or, in a storm, all within one heartbeat period.
	for id := codec.PeerID(2); int(id) <= s.p.n; id++ {
		at := 1 + s.rng.Int64N(int64(3*s.p.n)*unitsPerTick)
		switch {
		case s.p.storm:
			at = 1 + s.rng.Int64N(simInterval)
		case s.rng.IntN(4) == 0:
			at = 1 + s.rng.Int64N(150*unitsPerTick)
		}
		s.pending[id] = true
		s.joinsLeft++
		s.at(at, func() {
			if s.pending[id] {
				s.startPeer(id)
			}
		})
	}
	for s.err == nil && !s.done {
		if len(s.events) == 0 {
			if len(s.aliveIDs()) == 0 && s.joinsLeft == 0 {
				break // every peer left or crashed: nothing can happen
			}
			s.fail("nothing left to happen")
			break
		}
		e := s.events.pop()
		s.now = e.at
		switch e.kind {
		case evMsg:
			s.deliver(e)
		case evHB:
			s.heartbeats(e)
		case evTick:
			s.tick(e)
		case evRound:
			s.roundEvent(e)
		case evCall:
			fn := s.calls[e.call]
			s.calls[e.call] = nil
			fn()
		}
		if s.dirty && s.err == nil {
			s.dirty = false
			s.evaluate()
		}
		if s.now > simMaxTicks*unitsPerTick && s.err == nil {
			s.fail("the schedule did not end by tick %d%s", simMaxTicks, s.describe())
		}
		if !s.stable && s.pausedN == 0 && !s.cutting && s.now > s.lastEvent+s.bound() && s.err == nil {
			if !s.quorumAlive() {
				// Too few peers are left to change the view: they wait
				// for one to come back, which never happens here.
				s.stats.noQuorum++
				if s.tracing {
					s.tracef("stuck without a quorum, as designed%s", s.describe())
				}
				break
			}
			s.fail("liveness: no agreed view of exactly the alive started peers %s within %s ticks of the last fault at %s%s",
				fmtIDs(s.aliveIDs()), fmtTime(s.bound()), fmtTime(s.lastEvent), s.describe())
		}
	}
	s.stats.end = s.now
}

// quorumAlive reports whether the running peers hold a quorum of the newest
// committed view: without one, no view change can commit. When none of them
// knows that view (every peer that knew it died or restarted), they must
// first rebuild it from the newest view they know, which needs a quorum of
// that one too.
func (s *sim) quorumAlive() bool {
	v := s.newestView()
	var k View
	for id, nd := range s.c.nodes {
		if nd != nil && s.c.alive[id] && nd.view.ID > k.ID {
			k = nd.view
		}
	}
	holds := func(v View) bool { return quorum(v, func(p codec.PeerID) bool { return s.voter(v, p) }) }
	return v.ID != 0 && holds(v) && (k.ID == v.ID || holds(k))
}

// voter reports whether member p of v can vote: running, and the very
// process v holds. A restarted peer is a new process: it joins, and its old
// self's vote is lost with that process.
func (s *sim) voter(v View, p codec.PeerID) bool {
	return s.c.alive[p] && v.Inc(p) == uint64(s.inc[p])
}

// newestView is the newest committed view: the newest any peer printed or
// holds, even when the peers that know it were removed by it or died since
// (a leader may crash committing it, before it prints it).
func (s *sim) newestView() View {
	var v View
	if n := len(s.chk.agreed); n > 0 {
		v = s.chk.agreed[n-1]
	}
	for _, nd := range s.c.nodes {
		if nd != nil && nd.view.ID > v.ID {
			v = nd.view
		}
	}
	return v
}

func (s *sim) tick(e event) {
	id := e.a
	if e.gen != s.inc[id] || !s.c.alive[id] {
		return
	}
	s.schedule(event{at: s.now + unitsPerTick, kind: evTick, a: id, gen: e.gen})
	if s.paused[id] {
		s.skipped[id]++ // handed over at once when it runs again, as Runner.Run does
		return
	}
	if s.idle[id] {
		// Runner.Run arms no tick timer for an idle node: the ticks go
		// with the next input, before it.
		s.idled[id]++
		s.expire(id)
		return
	}
	if s.tracing {
		s.tracef("tick %d", id)
	}
	s.step(id, Tick{})
	s.expire(id)
}

func (s *sim) roundEvent(e event) {
	id := e.a
	if e.gen != s.inc[id] || !s.c.alive[id] {
		return
	}
	s.schedule(event{at: s.now + simInterval, kind: evRound, a: id, gen: e.gen})
	if s.paused[id] || s.det[id] == nil {
		return
	}
	s.round(id)
	s.expire(id)
}

// step runs one input through a peer, as Runner.Run does, with the checks,
// the trace and a crash in the middle of the step when a trigger fires.
func (s *sim) step(id codec.PeerID, in Input) {
	if !s.c.alive[id] || s.paused[id] || s.err != nil {
		return
	}
	if k := s.idled[id]; k > 0 {
		// The node was idle: the ticks that passed go first, in one.
		s.idled[id] = 0
		if t, ok := in.(Tick); ok {
			in = Tick{Count: max(t.Count, 1) + k}
		} else {
			s.step(id, Tick{Count: k})
			if !s.c.alive[id] || s.err != nil {
				return
			}
		}
	}
	nd := s.c.nodes[id]
	pre := preStep{role: nd.role, view: nd.view, change: nd.change}
	nd.checkFailed = func(p codec.PeerID, inc uint64, v codec.ViewID) {
		pre.found = append(pre.found, check{leaver{p, inc}, v})
	}
	nd.withdrew = func(p codec.PeerID, line int) {
		pre.withdrawn = append(pre.withdrawn, withdrawal{p, line})
	}
	out := nd.Step(in)
	s.idle[id] = !out.Ticks
	nd.checkFailed, nd.withdrew = nil, nil
	s.stats.steps++
	var fired *trigger
	if t := s.trig; t != nil && t.node == id && t.inc == s.inc[id] && out.Exit == nil && t.matches(in, out) {
		if t.skip > 0 {
			t.skip--
		} else {
			fired, s.trig = t, nil
			out = s.cut(id, out)
		}
	}
	if s.tracing {
		for _, v := range out.Views {
			s.tracef("%d installs view %d leader %d [%s] (role %v)", id, v.ID, v.Leader, codec.FormatIDs(v.Members), nd.role)
		}
		for _, l := range out.Lines {
			if !strings.HasSuffix(l, "]}") {
				s.tracef("%d stderr %s", id, l)
			}
		}
	}
	if e := out.Exit; e != nil && e.Flush { // the -t exit: its DEL's target is removed alive
		for _, sd := range out.Sends {
			if r, ok := sd.Msg.(*codec.Req); ok && r.Op == codec.OpDel {
				s.target4 = r.Peers[0]
			}
		}
	}
	if err := s.chk.step(nd, id, in, pre, out); err != nil {
		s.fail("%v", err)
	}
	s.c.apply(id, out)
	if len(out.Sends) > 0 || len(out.Views) > 0 || out.Exit != nil || pre.role != nd.role || pre.change != nd.change {
		s.dirty = true
	}
	if e := out.Exit; e != nil {
		s.det[id] = nil
		s.net.crashed(id, false) // its sockets close: connections to it are refused
		s.downs[id] = append(s.downs[id], down{s.now, 1 << 62})
		if s.tracing {
			s.tracef("%d exits: %s %s", id, e.Reason, e.Line)
		}
		if e.Flush { // the -t exit: a fault
			s.stats.faults[fTestCase4]++
			s.lastEvent = s.now
		}
		return
	}
	if fired != nil {
		s.kill(id, "in the middle of a step: "+fired.desc)
		return
	}
	s.syncDetector(id, out)
}

// cut is what a crash in the middle of carrying out out leaves: each
// destination got a prefix of its messages (TCP queues per peer), a prefix of
// the lines was printed.
func (s *sim) cut(id codec.PeerID, out Output) Output {
	var count, keep [maxSimPeers + 1]int
	for _, sd := range out.Sends {
		for _, to := range sd.To {
			count[to]++
		}
	}
	for p := range count {
		if count[p] > 0 {
			keep[p] = s.rng.IntN(count[p] + 1)
		}
	}
	var sends []Send
	kept, total := 0, 0
	for _, sd := range out.Sends {
		var to []codec.PeerID
		for _, p := range sd.To {
			total++
			if keep[p] > 0 {
				keep[p]--
				to = append(to, p)
				kept++
			}
		}
		if len(to) > 0 {
			sends = append(sends, Send{To: to, Msg: sd.Msg})
		}
	}
	lines := out.Lines[:s.rng.IntN(len(out.Lines)+1)]
	nv := 0
	for _, l := range lines {
		if strings.HasSuffix(l, "]}") {
			nv++
		}
	}
	if s.tracing {
		var what []string
		for _, sd := range sends {
			what = append(what, fmt.Sprintf("%s to [%s]", fmtMsg(sd.Msg), codec.FormatIDs(sd.To)))
		}
		s.tracef("%d crashes half-way: %d of %d messages left (%s), %d of %d lines printed",
			id, kept, total, strings.Join(what, "; "), len(lines), len(out.Lines))
	}
	return Output{Sends: sends, Views: out.Views[:nv], Lines: lines}
}

// startPeer starts (or restarts, as a fresh Node with the same Config and
// -join) peer id.
func (s *sim) startPeer(id codec.PeerID) {
	if s.pending[id] {
		s.pending[id] = false
		s.joinsLeft--
	}
	s.inc[id]++
	s.skipped[id], s.idle[id], s.idled[id] = 0, false, 0
	s.c.spawn(id)
	s.c.nodes[id].broken = s.broken
	s.leaving[id] = false
	s.det[id] = s.newDet(id)
	s.vanished[id] = false
	if k := len(s.downs[id]); k > 0 && s.downs[id][k-1].to > s.now {
		s.downs[id][k-1].to = s.now
	}
	s.chk.restart(id)
	s.lastEvent = s.now
	s.dirty = true
	if s.tracing {
		if s.inc[id] > 1 {
			s.tracef("FAULT restart %d", id)
		} else {
			s.tracef("start %d", id)
		}
	}
	s.schedule(event{at: s.now + 1 + s.rng.Int64N(unitsPerTick), kind: evTick, a: id, gen: s.inc[id]})
	s.schedule(event{at: s.now + 1 + s.rng.Int64N(simInterval), kind: evRound, a: id, gen: s.inc[id]})
	s.step(id, Start{})
}

// kill crashes a peer: no goodbye, what it sent stays in flight, what was on
// its way to it is lost. Usually its kernel then refuses connections to it
// (kill -9); sometimes nothing answers at all (its host is gone).
func (s *sim) kill(id codec.PeerID, why string) {
	silent := s.rng.Float64() < s.p.vanish
	if s.tracing {
		how := "connections refused"
		if silent {
			how = "silent"
		}
		s.tracef("FAULT crash %d (%s; %s)", id, why, how)
	}
	s.c.crash(id)
	s.det[id] = nil
	s.vanished[id] = silent
	s.net.crashed(id, silent)
	if s.paused[id] {
		s.paused[id] = false
		s.pausedN--
	}
	s.downs[id] = append(s.downs[id], down{s.now, 1 << 62})
	s.lastEvent = s.now
	s.dirty = true
}

func (s *sim) pause(id codec.PeerID, d int64) {
	if s.tracing {
		s.tracef("FAULT pause %d for %s ticks", id, fmtTime(d))
	}
	s.paused[id] = true
	s.pausedN++
	s.pausedAt[id], s.resumeAt[id] = s.now, s.now+d
	inc := s.inc[id]
	s.dirty = true
	s.at(s.now+d, func() {
		if s.inc[id] != inc || !s.paused[id] {
			return
		}
		if s.tracing {
			s.tracef("FAULT resume %d", id)
		}
		s.paused[id] = false
		s.pausedN--
		s.lastEvent = s.now
		s.dirty = true
		if s.now-s.pausedAt[id] > s.protected() {
			s.downs[id] = append(s.downs[id], down{s.pausedAt[id], s.now})
		}
		s.resumeDet(id, s.now-s.pausedAt[id])
		if s.c.alive[id] && s.det[id] != nil {
			s.round(id) // the detector's ticker fires at once after a stall
		}
		// The runner takes the messages that waited first (they are
		// delivered now), then hands over the ticks that passed at once.
		s.at(s.now+1, func() {
			if k := s.skipped[id]; k > 0 && s.inc[id] == inc {
				s.skipped[id] = 0
				s.step(id, Tick{Count: k})
				s.expire(id)
			}
		})
	})
}

// partition cuts side off from the other peers, both ways, for d: frames
// across the cut are lost or wait until it heals, heartbeats are lost, dials
// are not answered. The peers on each side run on.
func (s *sim) partition(side []codec.PeerID, d int64) {
	if s.tracing {
		s.tracef("FAULT cut [%s] off for %s ticks", codec.FormatIDs(side), fmtTime(d))
	}
	for _, p := range side {
		s.side[p] = true
	}
	s.cutting, s.healAt = true, s.now+d
	// Each side may take the other for failed, however short the cut: a
	// check that began before it (a few heartbeats lost) fails if the cut
	// outlasts it. The contract protects peers reachable over TCP only.
	for id := codec.PeerID(1); int(id) <= s.p.n; id++ {
		s.downs[id] = append(s.downs[id], down{s.now, s.healAt})
	}
	s.dirty = true
	s.at(s.healAt, func() {
		if s.tracing {
			s.tracef("FAULT heal")
		}
		s.side = [maxSimPeers + 1]bool{}
		s.cutting = false
		s.lastEvent = s.now
		s.dirty = true
	})
}

// across reports whether a partition separates a and b.
func (s *sim) across(a, b codec.PeerID) bool { return s.cutting && s.side[a] != s.side[b] }

// wasDown reports whether peer p could not answer at some time in the
// window before now: crashed, or paused longer than protected (a pause in
// progress counts with the length it will have). A report or a removal of a
// peer that was not down is false.
func (s *sim) wasDown(p codec.PeerID) bool {
	if s.paused[p] && s.resumeAt[p]-s.pausedAt[p] > s.protected() {
		return true
	}
	for _, d := range s.downs[p] {
		if d.to >= s.now-s.window() {
			return true
		}
	}
	return false
}

// aliveIDs are the running peers, paused ones included.
func (s *sim) aliveIDs() []codec.PeerID {
	var out []codec.PeerID
	for id := codec.PeerID(1); int(id) <= s.p.n; id++ {
		if s.c.alive[id] {
			out = append(out, id)
		}
	}
	return out
}

// stableNow reports the agreed view when the group is stable: no one paused,
// every running peer is in one view whose members are exactly the running
// peers, follows its leader, and the leader has nothing in progress.
func (s *sim) stableNow() (View, bool) {
	if s.pausedN > 0 || s.cutting {
		return View{}, false
	}
	var v View
	n := 0
	for id := codec.PeerID(1); int(id) <= s.p.n; id++ {
		if !s.c.alive[id] {
			continue
		}
		nd := s.c.nodes[id]
		if nd.role != roleMember && nd.role != roleLeader {
			return View{}, false
		}
		if n == 0 {
			v = nd.view
		}
		if nd.view.ID != v.ID || nd.Leader() != v.Leader || n >= len(v.Members) || v.Members[n] != id {
			return View{}, false
		}
		n++
	}
	if n == 0 || n != len(v.Members) {
		return View{}, false
	}
	l := s.c.nodes[v.Leader]
	if l.role != roleLeader || l.change != nil || l.round != nil || len(l.joins) > 0 {
		return View{}, false
	}
	return v, true
}

func (s *sim) evaluate() {
	v, ok := s.stableNow()
	if !ok {
		s.stable = false
		return
	}
	if s.stable && v.ID == s.stableView.ID {
		return
	}
	s.stable, s.stableView = true, v
	settle := s.now - s.lastEvent
	s.stats.maxSettle = max(s.stats.maxSettle, settle)
	if s.tracing {
		s.tracef("stable: view %d leader %d [%s], %s ticks after the last fault", v.ID, v.Leader, codec.FormatIDs(v.Members), fmtTime(settle))
	}
	if s.tail && v.ID != s.tailView {
		s.fail("liveness: the view changed from %d to %d with no fault", s.tailView, v.ID)
		return
	}

	if t := s.trig; t != nil {
		if s.tracing {
			s.tracef("trigger did not fire: %s", t.desc)
		}
		s.trig = nil
	}
	s.plan()
}

// plan schedules the next fault once the group is stable, or the end.
func (s *sim) plan() {
	if s.tail || s.faultScheduled {
		return
	}
	if s.p.tc4 && !s.t4sent && s.inc[1] == 1 && s.c.alive[1] {
		// The -t leader acts first, once everyone has joined (cmd/peer
		// sends the input after each view of every host it leads).
		if v := s.stableView; v.Leader == 1 && len(v.Members) == s.p.n {
			s.t4sent = true
			s.step(1, TestCase4{})
		}
		return
	}
	if quiet := s.lastEvent + s.p.timeout + s.p.probe; s.now < quiet {
		// A peer that just resumed may still be found down by a check
		// that was running: the last fault is not over until the checks
		// it caused are.
		s.faultScheduled = true
		s.at(quiet, func() {
			s.faultScheduled = false
			s.dirty = true
			s.stable = false
		})
		return
	}
	if s.faultsLeft > 0 {
		s.faultScheduled = true
		s.at(s.now+s.rng.Int64N(6*unitsPerTick), s.inject)
		return
	}
	if s.joinsLeft == 0 {
		s.tail, s.tailView = true, s.stableView.ID
		s.at(s.now+s.tailUnits(), func() {
			v, ok := s.stableNow()
			if !ok || v.ID != s.tailView {
				s.fail("liveness: the group did not stay in view %d%s", s.tailView, s.describe())
				return
			}
			// Invariant 5: a failure that was reported is acted on, or the
			// report is withdrawn once the peer is heard again: no one
			// keeps a member of the agreed view failed.
			for _, x := range v.Members {
				for _, p := range v.Members {
					if s.c.nodes[x].failed(p) {
						s.fail("invariant 5 (reports acted on): peer %d counts %d as failed, but %d is in the agreed view %d [%s]",
							x, p, p, v.ID, codec.FormatIDs(v.Members))
						return
					}
				}
			}
			s.done = true
		})
	}
}

// inject starts one fault. Without overlap the group is stable, and only a
// leader crashing in the middle of a change adds a second fault; with it, the
// next fault may come at any time while the group still handles the last one
// (a leave during a takeover, a pause during a partition...), among the
// peers of the newest view.
func (s *sim) inject() {
	s.faultScheduled = false
	if !s.stable && !s.p.overlap {
		return // a join started meanwhile: plan() runs again once stable
	}
	v := s.stableView
	if !s.stable {
		v = s.newestView()
	}
	if v.ID == 0 {
		return // nothing formed yet: plan() runs again once stable
	}
	leader := v.Leader
	up := func(p codec.PeerID) bool { return s.c.alive[p] && !s.paused[p] }
	leaderUp := up(leader)
	var members, others, joinable []codec.PeerID // members and others: running, not paused
	for _, p := range v.Members {
		if up(p) {
			members = append(members, p)
			if p != leader {
				others = append(others, p)
			}
		}
	}
	for id := codec.PeerID(1); int(id) <= s.p.n; id++ {
		if !s.c.alive[id] {
			joinable = append(joinable, id)
		}
	}
	var stay []codec.PeerID // members that may be asked to leave
	for _, p := range members {
		if !s.leaving[p] {
			stay = append(stay, p)
		}
	}
	pick := func(ids []codec.PeerID) codec.PeerID { return ids[s.rng.IntN(len(ids))] }
	// Crashes leave a quorum of the view running: without one the group
	// waits for a peer to come back, by design (quorumAlive).
	keeps := func(dead ...codec.PeerID) bool {
		return quorum(v, func(p codec.PeerID) bool { return s.voter(v, p) && !slices.Contains(dead, p) })
	}
	armable := s.trig == nil // one crash trigger at a time
	var safe []codec.PeerID  // members whose crash, alone, leaves a quorum
	for _, p := range others {
		if keeps(p) {
			safe = append(safe, p)
		}
	}
	var weights [numFaultKinds]int
	if len(members) > 0 {
		weights[fPause] = 4
	}
	if len(v.Members) > 1 && !s.cutting {
		weights[fPartition] = 3
	}
	if len(stay) > 0 && len(v.Members) > 1 {
		weights[fLeave] = 2
	}
	if len(safe) > 0 {
		weights[fCrashMember] = 2
	}
	if leaderUp && len(others) > 0 && keeps(leader) {
		weights[fCrashLeader] = 2
		if len(joinable) > 0 {
			weights[fJoinRace] = 2
			if armable {
				weights[fLeaderMidChange] = 3
			}
		}
	}
	if armable && len(safe) > 0 && len(joinable) > 0 {
		weights[fMemberMidChange] = 2
	}
	var pairs []codec.PeerID // members that can crash with the leader, leaving a quorum
	for _, p := range others {
		if keeps(leader, p) {
			pairs = append(pairs, p)
		}
	}
	if leaderUp && armable && len(pairs) > 0 {
		weights[fLeaderMidChange] += 3
	}
	if leaderUp && armable && len(others) > 1 && keeps(leader, others[0]) {
		weights[fTakeover] = 3
	}
	if len(joinable) > 0 {
		weights[fRestart] = 1
	}
	total := 0
	for _, w := range weights {
		total += w
	}
	s.faultsLeft--
	if s.p.overlap && s.faultsLeft > 0 {
		s.faultScheduled = true
		s.at(s.now+1+s.rng.Int64N(s.p.timeout+s.p.probe), s.inject)
	}
	if total == 0 {
		return
	}
	r := s.rng.IntN(total)
	kind := faultKind(0)
	for ; r >= weights[kind]; kind++ {
		r -= weights[kind]
	}
	s.stats.faults[kind]++
	if s.tracing {
		s.tracef("FAULT %s", faultNames[kind])
	}
	switch kind {
	case fCrashMember:
		s.kill(pick(safe), "member")
	case fCrashLeader:
		s.kill(leader, "leader")
	case fLeaderMidChange:
		s.arm(leader, []trigger{
			{on: onSend, typ: codec.TypeReq, desc: "the leader, after sending REQ to some members"},
			{on: onRecv, typ: codec.TypeOK, skip: s.rng.IntN(len(v.Members)), desc: "the leader, after some OKs"},
			{on: onSend, typ: codec.TypeNewView, desc: "the leader, after sending NEWVIEW to some members"},
			{on: onOutput, skip: s.rng.IntN(5), desc: "the leader, at a step of the change"},
		})
		if len(joinable) > 0 && keeps(leader) && (len(pairs) == 0 || s.rng.IntN(2) == 0) {
			s.startPeer(pick(joinable)) // the change is a join
		} else {
			s.kill(pick(pairs), "member, whose delete the leader runs") // the change is a delete
		}
	case fMemberMidChange:
		s.arm(pick(safe), []trigger{
			{on: onRecv, typ: codec.TypeReq, desc: "a member, on REQ"},
			{on: onRecv, typ: codec.TypeNewView, desc: "a member, on NEWVIEW"},
			{on: onOutput, skip: s.rng.IntN(4), desc: "a member, at a step of the change"},
		})
		s.startPeer(pick(joinable))
	case fTakeover:
		next := others[0]
		s.arm(next, []trigger{
			{on: onSend, typ: codec.TypeNewLeader, desc: "the next leader, after sending NEWLEADER to some"},
			{on: onRecv, typ: codec.TypePendingReply, skip: s.rng.IntN(len(others) - 1), desc: "the next leader, after some pending replies"},
			{on: onSend, typ: codec.TypeNewView, desc: "the next leader, after sending NEWVIEW to some"},
			{on: onSend, typ: codec.TypeReq, desc: "the next leader, after sending REQ to some"},
			{on: onOutput, skip: s.rng.IntN(6), desc: "the next leader, at a step of its takeover"},
		})
		s.kill(leader, "leader")
	case fPause:
		x := pick(members)
		var d int64
		prot := s.protected()
		switch r := s.rng.IntN(3); {
		case r == 0 && prot > 1: // short: no one may report it
			d = 1 + s.rng.Int64N(prot-1)
		case r == 1: // about as long as a detection: some may, some may not
			d = max(prot, 1) + s.rng.Int64N(s.p.timeout+s.p.probe+2*simInterval)
		default: // long: it is removed, or not, while it stands still
			d = 2*(s.p.timeout+s.p.probe) + s.rng.Int64N(3*s.p.timeout)
		}
		s.pause(x, d)
	case fRestart:
		s.startPeer(pick(joinable))
	case fPartition:
		var side []codec.PeerID                             // a random non-empty proper subset of the view, any side
		for len(side) == 0 || len(side) == len(v.Members) { // running or not
			side = side[:0]
			for _, p := range v.Members {
				if s.rng.IntN(2) == 0 {
					side = append(side, p)
				}
			}
		}
		var d int64
		if s.rng.IntN(3) == 0 { // shorter than a check: nothing may change
			d = 1 + s.rng.Int64N(max(s.protected()-1, 1))
		} else { // long enough for the side with a quorum to remove the other
			d = s.p.timeout + s.p.probe + s.rng.Int64N(4*(s.p.timeout+s.p.probe))
		}
		s.partition(side, d)
	case fLeave:
		x := pick(stay)
		if s.tracing {
			s.tracef("FAULT leave %d", x)
		}
		s.leaving[x] = true
		s.left[leaver{x, uint64(s.inc[x])}] = true
		s.lastEvent = s.now
		s.step(x, Leave{})
	case fJoinRace:
		joiner := pick(joinable)
		s.kill(pick(append(slices.Clone(safe), leader)), "while a peer joins")
		if !s.pending[joiner] {
			s.pending[joiner] = true
			s.joinsLeft++
		}
		s.at(s.now+s.rng.Int64N(s.p.timeout+2*simInterval), func() {
			if s.pending[joiner] {
				s.startPeer(joiner)
			}
		})
	}
}

// arm sets one of the triggers, chosen at random, on peer id.
func (s *sim) arm(id codec.PeerID, choices []trigger) {
	t := choices[s.rng.IntN(len(choices))]
	t.node, t.inc = id, s.inc[id]
	t.desc = fmt.Sprintf("%s (peer %d)", t.desc, id)
	s.trig = &t
	if s.tracing {
		s.tracef("armed: crash %s", t.desc)
	}
}

// describe is the state of every peer, for a liveness failure.
func (s *sim) describe() string {
	var b strings.Builder
	for id := codec.PeerID(1); int(id) <= s.p.n; id++ {
		nd := s.c.nodes[id]
		if nd == nil {
			fmt.Fprintf(&b, "\n  peer %d: never started", id)
			continue
		}
		fmt.Fprintf(&b, "\n  peer %d: alive %v paused %v role %v view %d leader %d [%s] follows %d",
			id, s.c.alive[id], s.paused[id], nd.role, nd.view.ID, nd.view.Leader, codec.FormatIDs(nd.view.Members), nd.Leader())
	}
	return b.String()
}

func fmtIDs(ids []codec.PeerID) string { return "[" + codec.FormatIDs(ids) + "]" }
