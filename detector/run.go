package detector

import (
	"context"
	"iter"
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"peer/codec"
)

// resolveQueue bounds the lookups waiting for the resolver goroutine; at most
// one per peer is ever queued.
const resolveQueue = 64

// Run is the detector goroutine. It sends a heartbeat to every other member
// at each multiple of Interval on the wall clock (and to every member at once
// when the view changes), arms one timer at the earliest deadline and calls
// Config.Suspect. It shares the Tracker only with the reader, which records
// heartbeats under the same lock. It returns nil when ctx ends or the
// Detector is closed, after the goroutine it started for address lookups has
// ended.
//
// Rounds start on the wall clock's multiples of Interval, so the peers of one
// machine (or of NTP-synchronised machines) send within a short burst: a
// reader then takes most of a round's heartbeats in one wake-up instead of
// one wake-up each, which is where an idle process's CPU goes.
func (d *Detector) Run(ctx context.Context) error {
	l := newState(d, time.Now())
	d.lmu.Lock()
	d.state = l
	d.lmu.Unlock()
	defer func() {
		d.lmu.Lock()
		d.state = nil
		d.lmu.Unlock()
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.resolve(l.lookups, l.results, stop)
	}()
	defer wg.Wait() // deferred calls run last first: stop, then wait
	defer close(stop)

	round := time.NewTimer(nextRound(time.Now(), d.cfg.Interval))
	defer round.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// The reader only moves deadlines later, so a timer armed here fires
		// at or before the first real one; a wake that finds nothing expired
		// just arms it again.
		d.lmu.Lock()
		next, ok := l.tr.NextDeadline()
		d.lmu.Unlock()
		if ok {
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Stop()
		}
		var work func(now time.Time) // what this wake does, under the lock; nil: only expire
		select {
		case <-ctx.Done():
			return nil
		case <-d.closed:
			return nil
		case <-d.changeCh:
			c := d.pending()
			work = func(now time.Time) {
				l.epoch, l.leader = c.epoch, c.leader
				if c.viewSet {
					l.setView(c.view, c.members, now)
				}
				for _, p := range c.rewatch {
					l.tr.Rewatch(p, now)
				}
			}
		case <-round.C:
			round.Reset(nextRound(time.Now(), d.cfg.Interval))
			work = l.sendRound
		case r := <-l.results:
			work = func(now time.Time) { l.resolved(r, now) }
		case <-timer.C:
		}
		d.lmu.Lock()
		now := l.wake(time.Now())
		if work != nil {
			work(now)
		}
		l.expire(time.Now())
		d.lmu.Unlock()
	}
}

// nextRound is how long from now until the next multiple of interval on the
// wall clock (never less than a tenth of it, so a late wake-up does not send
// two rounds back to back).
func nextRound(now time.Time, interval time.Duration) time.Duration {
	wait := now.Truncate(interval).Add(interval).Sub(now)
	if wait < interval/10 {
		wait += interval
	}
	return wait
}

// lookup is the resolver's answer for one peer.
type lookup struct {
	peer codec.PeerID
	addr *net.UDPAddr
	err  error
}

// resolve calls Config.Addr for each requested peer, so that a slow or
// failing lookup never holds up Run. It ends when Run closes stop.
func (d *Detector) resolve(lookups <-chan codec.PeerID, results chan<- lookup, stop <-chan struct{}) {
	for {
		var p codec.PeerID
		select {
		case p = <-lookups:
		case <-stop:
			return
		}
		addr, err := d.cfg.Addr(p)
		select {
		case results <- lookup{peer: p, addr: addr, err: err}:
		case <-stop:
			return
		}
	}
}

// sender is what Run remembers about one heartbeat sender.
type sender struct {
	seq    uint64    // highest Seq accepted
	at     time.Time // when it was accepted
	hinted time.Time // when Heard was last called for it
}

// state is what Run keeps between wakes. Its methods take the time as an argument, so tests
// drive it with a fake clock.
type state struct {
	d  *Detector
	tr *Tracker

	view    codec.ViewID
	members []codec.PeerID // as given to SetView
	active  bool           // a view has been set
	epoch   uint64         // the ballot, as given to SetBallot
	leader  codec.PeerID

	seq    uint64 // Seq of the last round
	hb     []byte // the last round's encoded heartbeat
	sealed []byte // scratch: hb sealed for one destination
	ctx    []byte // scratch: its associated data
	// out is a round's datagrams, written in one system call; seals holds
	// each destination's sealed copy when there is a key.
	out   []ipv4.Message
	dests []codec.PeerID
	seals [][]byte

	addrs     map[codec.PeerID]*net.UDPAddr // cached successful lookups
	resolving map[codec.PeerID]bool         // queued or running lookups
	lookups   chan codec.PeerID             // Run -> resolver
	results   chan lookup                   // resolver -> Run

	senders  map[codec.PeerID]*sender
	lastWake time.Time
	lastDup  time.Time // last duplicate_id error, to rate-limit it
}

func newState(d *Detector, now time.Time) *state {
	return &state{
		d:         d,
		tr:        NewTracker(d.cfg.Self, d.cfg.Timeout),
		addrs:     map[codec.PeerID]*net.UDPAddr{},
		resolving: map[codec.PeerID]bool{},
		lookups:   make(chan codec.PeerID, resolveQueue),
		results:   make(chan lookup, resolveQueue),
		senders:   map[codec.PeerID]*sender{},
		lastWake:  now,
		// Seq starts at the wall clock so that a restarted peer's heartbeats
		// are newer than its previous life's.
		seq: uint64(now.UnixNano()),
	}
}

// stallLimit is the longest gap between two wakes of Run that is not a stall.
// Run wakes at least every Interval while the ticker runs.
func (l *state) stallLimit() time.Duration {
	return max(l.d.cfg.Timeout, 2*l.d.cfg.Interval)
}

// wake notes that Run runs at now. If it could not run for longer than the
// timeout (the process was paused or starved), it cannot tell the members'
// silence from its own absence, so every member gets a fresh grace period
// instead of all being suspected at once.
func (l *state) wake(now time.Time) time.Time {
	gap := now.Sub(l.lastWake)
	l.lastWake = now
	if l.active && gap > l.stallLimit() {
		l.d.stalls.Add(1)
		l.tr.Refresh(now)
		l.d.log.Warn().Str("event", "detector_stalled").Dur("gap", gap).
			Msg("detector did not run for longer than the timeout; every member gets a fresh grace period")
	}
	return now
}

// setView applies a view from SetView: new members are watched from now.
// When the view adds a member (this peer among them), every member hears
// from us at once, with the new view id. The members that stay need it too:
// one of them may have been watching this peer since before this peer knew
// it was in the view (a NEWVIEW that reached it late, a pending ADD finished
// by a new leader), and its grace period may be nearly over. The simulator
// (docs/simulation.md) found such schedules when only new members got the
// heartbeat at once. A view that only removes members, or changes the
// leader, waits for the next round: its members have heard this peer all
// along, and after a removal at N=64 a round from every member at once
// (N² datagrams) would hold up the NEWVIEW still on its way to the last.
func (l *state) setView(id codec.ViewID, members []codec.PeerID, now time.Time) {
	if l.active && id == l.view && slices.Equal(members, l.members) {
		return
	}
	grows := !l.active
	for _, p := range members {
		if !slices.Contains(l.members, p) {
			grows = true
			delete(l.addrs, p) // it may come back from elsewhere: look it up again
		}
	}
	l.view, l.members, l.active = id, members, true
	l.tr.SetMembers(members, now)
	l.d.log.Debug().Str("event", "view_set").Uint64("view_id", uint64(id)).
		Interface("members", members).Msg("watching view")
	if grows {
		l.sendRound(now)
	}
}

// sendRound encodes one heartbeat and writes it to every other peer of the
// hostsfile (or member, without Config.Peers) whose address is known; the
// others get a lookup and are tried again when it succeeds or next round.
// Only members are watched, but every peer hears the view id and ballot: a
// peer left behind in an older view, that no member of its own view can
// tell any more (they were removed, or left), learns of the newer one.
func (l *state) sendRound(now time.Time) {
	if !l.active {
		return
	}
	l.seq++
	b, err := codec.AppendMarshal(l.hb[:0], &codec.Heartbeat{From: l.d.cfg.Self, ViewID: l.view, Seq: l.seq, Epoch: l.epoch, EpochLeader: l.leader})
	if err != nil {
		l.hb = nil
		l.d.log.Error().Str("event", "encode_failed").Err(err).Msg("heartbeat not encoded")
		return
	}
	l.hb = b
	l.out, l.dests = l.out[:0], l.dests[:0]
	for p := range l.recipients() {
		if p == l.d.cfg.Self {
			continue
		}
		addr, ok := l.addrs[p]
		if !ok {
			l.want(p)
			continue
		}
		l.out = append(l.out, ipv4.Message{Buffers: [][]byte{l.datagram(p, len(l.out))}, Addr: addr})
		l.dests = append(l.dests, p)
	}
	l.writeRound()
}

// recipient reports whether p hears this peer's heartbeats at all: while
// this peer is in a view (SetView with no members: it was removed), every
// other member, and every other peer of the hostsfile (Config.Peers).
func (l *state) recipient(p codec.PeerID) bool {
	if p == l.d.cfg.Self || len(l.members) == 0 {
		return false
	}
	return slices.Contains(l.members, p) || int(p) <= l.d.cfg.Peers
}

// StrangerRounds: peers outside the view hear one round in this many. They
// only need to learn, in the end, that a newer view exists; at full rate
// they would cost a start-up storm, where most peers are still joining, as
// many datagrams as the members' own rounds.
const StrangerRounds = 4

// recipients yields the peers a round goes to: the members, and in one round
// of StrangerRounds every recipient (the hostsfile's ids are 1..Peers).
func (l *state) recipients() iter.Seq[codec.PeerID] {
	return func(yield func(codec.PeerID) bool) {
		if l.seq%StrangerRounds != 0 || l.d.cfg.Peers <= 0 {
			for _, p := range l.members {
				if !yield(p) {
					return
				}
			}
			return
		}
		for p := codec.PeerID(1); int(p) <= l.d.cfg.Peers; p++ {
			if l.recipient(p) && !yield(p) {
				return
			}
		}
	}
}

// datagram is the current heartbeat for p: shared, or sealed for p in the
// i-th scratch buffer of the round.
func (l *state) datagram(p codec.PeerID, i int) []byte {
	key := l.d.cfg.Key
	if key == nil {
		return l.hb
	}
	for len(l.seals) <= i {
		l.seals = append(l.seals, nil)
	}
	l.ctx = sealContext(l.ctx[:0], p)
	l.seals[i] = key.Seal(append(l.seals[i][:0], sealedMarker), l.d.cfg.Self, l.ctx, l.hb)
	return l.seals[i]
}

// writeRound writes the round's datagrams, as many per system call as the
// socket takes (sendmmsg on Linux). A datagram that cannot be written is
// tried alone, and a failure forgets that peer's address.
func (l *state) writeRound() {
	for len(l.out) > 0 {
		n, err := l.d.batch.WriteBatch(l.out, 0)
		l.d.sent.Add(uint64(max(n, 0)))
		if err != nil || n <= 0 {
			p := l.dests[max(n, 0)]
			delete(l.addrs, p)
			l.d.log.Debug().Str("event", "send_failed").Uint32("peer", uint32(p)).Err(err).Msg("heartbeat not sent")
			n = max(n, 0) + 1
		}
		l.out, l.dests = l.out[n:], l.dests[n:]
	}
}

// want queues a lookup of p's address unless one is pending.
func (l *state) want(p codec.PeerID) {
	if l.resolving[p] {
		return
	}
	select {
	case l.lookups <- p:
		l.resolving[p] = true
	default: // the resolver is far behind; try next round
	}
}

// resolved takes a lookup's answer: cache it and send the current heartbeat
// at once, or leave the peer to the next round.
func (l *state) resolved(r lookup, now time.Time) {
	delete(l.resolving, r.peer)
	if r.err != nil || r.addr == nil {
		l.d.log.Debug().Str("event", "no_address").Uint32("peer", uint32(r.peer)).Err(r.err).Msg("heartbeat skipped this round")
		return
	}
	if !l.recipient(r.peer) {
		return // it left the view while we looked
	}
	l.addrs[r.peer] = r.addr
	if l.hb != nil {
		l.write(r.peer, r.addr)
	}
}

// write sends the current heartbeat to p, sealed for p if there is a key;
// a failed write forgets p's address.
func (l *state) write(p codec.PeerID, addr *net.UDPAddr) {
	b := l.hb
	if key := l.d.cfg.Key; key != nil {
		l.ctx = sealContext(l.ctx[:0], p)
		l.sealed = key.Seal(append(l.sealed[:0], sealedMarker), l.d.cfg.Self, l.ctx, l.hb)
		b = l.sealed
	}
	if _, err := l.d.conn.WriteToUDP(b, addr); err != nil {
		delete(l.addrs, p)
		l.d.log.Debug().Str("event", "send_failed").Uint32("peer", uint32(p)).Stringer("addr", addr).Err(err).Msg("heartbeat not sent")
		return
	}
	l.d.sent.Add(1)
}

// receive handles one decoded heartbeat; the reader calls it under the
// Detector's lock. It reports whether Config.Heard is due for it, and
// whether its sender was suspected (Config.Alive), which the caller calls
// after unlocking.
func (l *state) receive(hb *codec.Heartbeat, now time.Time) (heard, alive bool) {
	if hb.From == l.d.cfg.Self {
		if now.Sub(l.lastDup) >= 10*l.d.cfg.Interval {
			l.lastDup = now
			l.d.log.Error().Str("event", "duplicate_id").Uint32("peer", uint32(hb.From)).
				Msg("another process sends heartbeats with this peer's id")
		}
		return false, false
	}
	s := l.senders[hb.From]
	if s == nil {
		if len(l.senders) >= codec.MaxMembers { // senders are untrusted: bound the map
			clear(l.senders)
		}
		s = &sender{}
		l.senders[hb.From] = s
	} else if hb.Seq <= s.seq && (l.d.cfg.Key != nil || now.Sub(s.at) <= l.d.cfg.Timeout) {
		// A duplicated, late or replayed datagram. Without a key, after a
		// silence longer than the timeout a lower Seq is accepted: the sender
		// restarted. With a key never: a restarted sender's Seq starts at its
		// wall clock, above its previous life's, and a replayed heartbeat of
		// a dead peer must not count.
		l.d.log.Debug().Str("event", "stale_heartbeat").Uint32("from", uint32(hb.From)).
			Uint64("seq", hb.Seq).Uint64("last_seq", s.seq).Msg("dropped heartbeat")
		return false, false
	}
	s.seq, s.at = hb.Seq, now
	alive = l.tr.Observe(hb.From, now)
	if alive {
		l.d.log.Info().Str("event", "peer_heard_again").Uint32("peer", uint32(hb.From)).Msg("suspected peer sends heartbeats again")
	}
	if l.d.observed != nil {
		l.d.observed(hb.From)
	}
	differs := hb.ViewID != l.view || hb.Epoch != l.epoch || hb.EpochLeader != l.leader
	if l.active && differs && (s.hinted.IsZero() || now.Sub(s.hinted) >= l.d.cfg.Interval) {
		s.hinted = now
		heard = true
	}
	return heard, alive
}

// expire reports the members whose deadline has passed.
func (l *state) expire(now time.Time) {
	for _, p := range l.tr.Expired(now) {
		delete(l.addrs, p) // a silent peer may have moved: look it up again
		l.d.log.Info().Str("event", "peer_suspected").Uint32("peer", uint32(p)).
			Uint64("view_id", uint64(l.view)).Dur("timeout", l.d.cfg.Timeout).Msg("no heartbeat within the timeout")
		l.d.cfg.Suspect(p)
	}
}
