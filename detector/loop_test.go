package detector

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
)

// The tests in this file drive Run's state (loop) directly with a fake clock.

const (
	testInterval = 10 * time.Millisecond
	testTimeout  = 100 * time.Millisecond
)

type heard struct {
	from   codec.PeerID
	view   codec.ViewID
	epoch  uint64
	leader codec.PeerID
}

// recorder collects what a loop reports; everything runs on the test's goroutine.
type recorder struct {
	suspects []codec.PeerID
	alive    []codec.PeerID
	heard    []heard
	observed []codec.PeerID
}

// newTestLoop is peer 1's loop at t0. Without a conn nothing is ever written:
// every address is unknown until a test calls resolved.
func newTestLoop(t *testing.T, conn *net.UDPConn) (*state, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg, err := Config{
		Self: 1, Interval: testInterval, Timeout: testTimeout,
		Addr:    func(codec.PeerID) (*net.UDPAddr, error) { return nil, errors.New("not used") },
		Suspect: func(p codec.PeerID) { rec.suspects = append(rec.suspects, p) },
		Alive:   func(p codec.PeerID) { rec.alive = append(rec.alive, p) },
		Heard: func(hb codec.Heartbeat) {
			rec.heard = append(rec.heard, heard{hb.From, hb.ViewID, hb.Epoch, hb.EpochLeader})
		},
		Logger: zerolog.Nop(),
	}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	d := newDetector(cfg, conn)
	d.observed = func(p codec.PeerID) { rec.observed = append(rec.observed, p) }
	return newState(d, t0), rec
}

// queued drains the lookups the loop asked for.
func queued(l *state) []codec.PeerID {
	var out []codec.PeerID
	for {
		select {
		case p := <-l.lookups:
			out = append(out, p)
		default:
			return out
		}
	}
}

func hb(from codec.PeerID, view codec.ViewID, seq uint64) *codec.Heartbeat {
	return &codec.Heartbeat{From: from, ViewID: view, Seq: seq}
}

func TestLoopIdleUntilFirstView(t *testing.T) {
	l, rec := newTestLoop(t, nil)
	seq := l.seq
	l.sendRound(at(0))
	deliver(l, hb(2, 7, 1), at(1))
	l.wake(at(10_000)) // no view: a long gap is no stall
	l.expire(at(10_000))
	if l.seq != seq || len(queued(l)) != 0 {
		t.Fatalf("sent before the first view (seq %d -> %d)", seq, l.seq)
	}
	if len(rec.heard) != 0 || len(rec.suspects) != 0 {
		t.Fatalf("reported before the first view: heard %v, suspects %v", rec.heard, rec.suspects)
	}
	if s := l.d.Stats(); s.Stalls != 0 {
		t.Fatalf("stalls %d before the first view", s.Stalls)
	}
}

func TestLoopReportsSilenceOnce(t *testing.T) {
	l, rec := newTestLoop(t, nil)
	l.setView(1, ids(1, 2, 3), at(0))
	deliver(l, hb(2, 1, 1), at(60))
	l.expire(at(99))
	l.expire(at(100))
	l.expire(at(159))
	l.expire(at(160))
	l.expire(at(1000))
	if !slices.Equal(rec.suspects, ids(3, 2)) {
		t.Fatalf("suspects %v, want [3 2]", rec.suspects)
	}
}

func TestLoopHeard(t *testing.T) {
	l, rec := newTestLoop(t, nil)
	l.setView(5, ids(1, 2), at(0))
	steps := []struct {
		at   int
		hb   *codec.Heartbeat
		want bool
	}{
		{0, hb(2, 5, 1), false},  // same view
		{1, hb(2, 4, 2), true},   // older view
		{2, hb(2, 4, 3), false},  // within Interval of the last call for 2
		{3, hb(9, 6, 1), true},   // a non-member, its own limit
		{10, hb(2, 4, 4), false}, // 9ms after the last call for 2
		{11, hb(2, 6, 5), true},  // one Interval later
		{12, hb(1, 3, 1), false}, // our own id
	}
	var want []heard
	for i, s := range steps {
		deliver(l, s.hb, at(s.at))
		if s.want {
			want = append(want, heard{s.hb.From, s.hb.ViewID, 0, 0})
		}
		if !slices.Equal(rec.heard, want) {
			t.Fatalf("step %d: heard %v, want %v", i, rec.heard, want)
		}
	}
	l.setView(6, ids(1, 2), at(20))
	deliver(l, hb(2, 6, 6), at(40))
	if len(rec.heard) != len(want) {
		t.Fatalf("heard %v after the view caught up", rec.heard[len(want):])
	}
}

// TestLoopHeardBallot: a heartbeat of the same view under another ballot
// is heard, as one of another view is; one under the same ballot is not.
func TestLoopHeardBallot(t *testing.T) {
	l, rec := newTestLoop(t, nil)
	l.setView(5, ids(1, 2, 3), at(0))
	l.epoch, l.leader = 2, 1
	with := func(from codec.PeerID, seq, epoch uint64, leader codec.PeerID) *codec.Heartbeat {
		b := hb(from, 5, seq)
		b.Epoch, b.EpochLeader = epoch, leader
		return b
	}
	deliver(l, with(2, 1, 2, 1), at(0))  // the same ballot
	deliver(l, with(3, 1, 3, 2), at(1))  // a newer one
	deliver(l, with(2, 2, 1, 1), at(2))  // an older one: the node decides
	deliver(l, with(3, 2, 3, 2), at(12)) // still another, an Interval later
	want := []heard{{3, 5, 3, 2}, {2, 5, 1, 1}, {3, 5, 3, 2}}
	if !slices.Equal(rec.heard, want) {
		t.Fatalf("heard %v, want %v", rec.heard, want)
	}
}

func TestLoopStaleHeartbeats(t *testing.T) {
	l, rec := newTestLoop(t, nil)
	l.setView(1, ids(1, 2), at(0))
	deliver(l, hb(2, 1, 10), at(10))
	deliver(l, hb(2, 1, 10), at(20)) // duplicate
	deliver(l, hb(2, 1, 9), at(30))  // late
	deliver(l, hb(2, 1, 11), at(40))
	deliver(l, hb(2, 1, 5), at(141)) // restarted: silent for more than the timeout
	deliver(l, hb(2, 1, 6), at(151))
	deliver(l, hb(1, 1, 99), at(151)) // our own id: never observed
	if want := ids(2, 2, 2, 2); !slices.Equal(rec.observed, want) {
		t.Fatalf("observed %v, want %v", rec.observed, want)
	}
	l.expire(at(250))
	if len(rec.suspects) != 0 {
		t.Fatalf("suspects %v: the duplicates must not have counted, the restart must", rec.suspects)
	}
	l.expire(at(251))
	if !slices.Equal(rec.suspects, ids(2)) {
		t.Fatalf("suspects %v, want [2]", rec.suspects)
	}
}

func TestLoopStall(t *testing.T) {
	l, rec := newTestLoop(t, nil)
	l.setView(1, ids(1, 2), at(0))
	l.wake(at(10))
	l.wake(at(20))
	l.expire(at(20))
	now := l.wake(at(20 + 3*int(testTimeout/time.Millisecond))) // we were paused
	l.expire(now)
	if len(rec.suspects) != 0 || l.d.Stats().Stalls != 1 {
		t.Fatalf("after a stall: suspects %v, stalls %d; want none and 1", rec.suspects, l.d.Stats().Stalls)
	}
	l.expire(now.Add(testTimeout))
	if !slices.Equal(rec.suspects, ids(2)) {
		t.Fatalf("suspects %v, want [2] one timeout after the stall", rec.suspects)
	}
}

func TestLoopLookups(t *testing.T) {
	l, _ := newTestLoop(t, nil)
	l.setView(1, ids(1, 2, 3), at(0))
	if got := queued(l); !slices.Equal(got, ids(2, 3)) {
		t.Fatalf("lookups %v, want [2 3]", got)
	}
	l.sendRound(at(10))
	if got := queued(l); len(got) != 0 {
		t.Fatalf("lookups %v while the first ones are pending", got)
	}
	l.resolved(lookup{peer: 2, err: errors.New("no such host")}, at(11))
	l.resolved(lookup{peer: 3, err: errors.New("no such host")}, at(11))
	l.sendRound(at(20))
	if got := queued(l); !slices.Equal(got, ids(2, 3)) {
		t.Fatalf("lookups %v after failures, want [2 3] again", got)
	}
	l.setView(2, ids(1, 2), at(21))
	l.resolved(lookup{peer: 3, addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}}, at(22))
	if _, ok := l.addrs[3]; ok {
		t.Fatal("cached the address of a peer that left the view (no hostsfile size: only members hear)")
	}
}

// With the hostsfile's size, every peer of it hears the heartbeats, members
// every round, the others one round in StrangerRounds (a peer left behind
// in an old view learns of the newer one); a peer that enters the view is
// looked up afresh (it may come back from elsewhere).
func TestLoopNonMembersHear(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l, _ := newTestLoop(t, conn)
	l.d.cfg.Peers = 4
	l.seq = 0 // the round at setView is the first
	l.setView(1, ids(1, 2), at(0))
	if got := queued(l); !slices.Equal(got, ids(2)) {
		t.Fatalf("first round: lookups %v, want the member [2] alone", got)
	}
	for r := 2; r < StrangerRounds; r++ {
		l.sendRound(at(r))
	}
	if got := queued(l); len(got) != 0 {
		t.Fatalf("lookups %v while the first is pending, want none", got)
	}
	l.sendRound(at(StrangerRounds))
	if got := queued(l); !slices.Equal(got, ids(3, 4)) {
		t.Fatalf("round %d: lookups %v, want the other peers [3 4]", StrangerRounds, got)
	}
	addr := conn.LocalAddr().(*net.UDPAddr)
	l.resolved(lookup{peer: 3, addr: addr}, at(1))
	if _, ok := l.addrs[3]; !ok {
		t.Fatal("did not keep the address of non-member 3")
	}
	l.setView(2, ids(1, 2, 3), at(2))
	if _, ok := l.addrs[3]; ok {
		t.Fatal("kept the old address of 3, which entered the view")
	}
	l.resolved(lookup{peer: 5, addr: addr}, at(3))
	if _, ok := l.addrs[5]; ok {
		t.Fatal("cached the address of 5, outside the hostsfile")
	}
	l.setView(2, nil, at(4)) // removed: in no view
	if slices.Collect(l.recipients()) != nil {
		t.Fatalf("recipients %v while in no view, want none", slices.Collect(l.recipients()))
	}
}

// TestLoopSends uses a real socket: one encoded heartbeat per round, the
// first at once when an address resolves, then from the cache.
func TestLoopSends(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	next := func() *codec.Heartbeat {
		t.Helper()
		sink.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, maxPacket)
		n, err := sink.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		h := new(codec.Heartbeat)
		if err := decodePacket(buf[:n], h); err != nil {
			t.Fatal(err)
		}
		return h
	}

	l, _ := newTestLoop(t, conn)
	l.setView(4, ids(1, 2), at(0))
	if got := queued(l); !slices.Equal(got, ids(2)) {
		t.Fatalf("lookups %v, want [2]", got)
	}
	l.resolved(lookup{peer: 2, addr: sink.LocalAddr().(*net.UDPAddr)}, at(1))
	first := next()
	if first.From != 1 || first.ViewID != 4 {
		t.Fatalf("first heartbeat %+v, want from 1 in view 4", first)
	}
	l.sendRound(at(10))
	l.sendRound(at(20))
	if len(queued(l)) != 0 {
		t.Fatal("looked up a cached address")
	}
	for i := range uint64(2) {
		if h := next(); h.Seq != first.Seq+1+i {
			t.Fatalf("round %d: seq %d, want %d", i, h.Seq, first.Seq+1+i)
		}
	}
	if s := l.d.Stats(); s.Sent != 3 {
		t.Fatalf("sent %d, want 3", s.Sent)
	}
	l.expire(at(1000))
	if _, ok := l.addrs[2]; ok {
		t.Fatal("kept the address of a suspected peer")
	}
}

// deliver does what the reader does with a decoded heartbeat.
func deliver(l *state, hb *codec.Heartbeat, now time.Time) {
	heard, alive := l.receive(hb, now)
	if alive {
		l.d.cfg.Alive(hb.From)
	}
	if heard {
		l.d.cfg.Heard(*hb)
	}
}

// TestLoopViewChangeSends: a view change that adds a member sends a
// heartbeat to every member at once, the members that stay included; one
// that only removes members waits for the next round (see state.setView).
func TestLoopViewChangeSends(t *testing.T) {
	l, _ := newTestLoop(t, nil)
	fail := func(ps ...codec.PeerID) {
		for _, p := range ps {
			l.resolved(lookup{peer: p, err: errors.New("down")}, at(1))
		}
	}
	l.setView(1, ids(1, 2, 3), at(0))
	if got := queued(l); !slices.Equal(got, ids(2, 3)) {
		t.Fatalf("first view: lookups %v, want [2 3]", got)
	}
	fail(2, 3)
	l.setView(2, ids(1, 2, 3, 4), at(2))
	if got := queued(l); !slices.Equal(got, ids(2, 3, 4)) {
		t.Fatalf("view adding 4: lookups %v, want [2 3 4]", got)
	}
	fail(2, 3, 4)
	seq := l.seq
	l.setView(3, ids(1, 2, 4), at(4))
	if got := queued(l); len(got) != 0 || l.seq != seq {
		t.Fatalf("view removing 3: lookups %v, seq %d -> %d; want none and no new round", got, seq, l.seq)
	}
	l.sendRound(at(5))
	if got := queued(l); !slices.Equal(got, ids(2, 4)) || l.seq != seq+1 {
		t.Fatalf("next round: lookups %v, seq %d -> %d; want [2 4] and one new round", got, seq, l.seq)
	}
}

func TestNextRound(t *testing.T) {
	const interval = 100 * time.Millisecond
	base := time.Unix(1_700_000_000, 0)
	for _, c := range []struct{ at, want time.Duration }{
		{0, interval}, // on a boundary: the next one
		{30 * time.Millisecond, 70 * time.Millisecond},
		{95 * time.Millisecond, 105 * time.Millisecond}, // too close: skip one
		{89 * time.Millisecond, 11 * time.Millisecond},
	} {
		if got := nextRound(base.Add(c.at), interval); got != c.want {
			t.Errorf("nextRound at +%v = %v, want %v", c.at, got, c.want)
		}
	}
}

// TestLoopSuspicionRevoked: a suspected member's next heartbeat calls Alive
// once and it is watched afresh; after the node rewatches a member it found
// alive by other means, a new silence is reported again.
func TestLoopSuspicionRevoked(t *testing.T) {
	l, rec := newTestLoop(t, nil)
	l.setView(1, ids(1, 2, 3), at(0))
	l.expire(at(100))
	if !slices.Equal(rec.suspects, ids(2, 3)) {
		t.Fatalf("suspects %v, want [2 3]", rec.suspects)
	}
	deliver(l, hb(2, 1, 1), at(150))
	deliver(l, hb(2, 1, 2), at(160))
	if !slices.Equal(rec.alive, ids(2)) {
		t.Fatalf("alive %v, want [2] once", rec.alive)
	}
	l.expire(at(259))
	if len(rec.suspects) != 2 {
		t.Fatalf("suspected again before a new timeout: %v", rec.suspects)
	}
	l.tr.Rewatch(3, at(200)) // the node found 3 alive: it answered a probe
	l.expire(at(260))
	if !slices.Equal(rec.suspects, ids(2, 3, 2)) {
		t.Fatalf("suspects %v, want [2 3 2]", rec.suspects)
	}
	l.expire(at(300))
	if !slices.Equal(rec.suspects, ids(2, 3, 2, 3)) {
		t.Fatalf("suspects %v, want 3 reported again 100 ms after the rewatch", rec.suspects)
	}
}
