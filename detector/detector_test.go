package detector

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
)

// The tests in this file use real UDP sockets on 127.0.0.1. They never sleep
// a fixed time: they wait for a condition with a generous deadline, and they
// measure observation windows in heartbeats, not in wall-clock time.

const waitLimit = 10 * time.Second

// group is n detectors on 127.0.0.1 with ids 1..n that know each other's
// addresses, each with its Run goroutine started.
type group struct {
	t    *testing.T
	dets []*Detector // dets[i] has id i+1

	mu       sync.Mutex
	suspects map[codec.PeerID][]codec.PeerID  // watcher -> reported peers
	heard    map[codec.PeerID][]heard         // watcher -> Heard calls
	got      map[[2]codec.PeerID]int          // {watcher, sender} -> heartbeats accepted
	addrErr  func(self, p codec.PeerID) error // if set, Addr fails when it returns an error

	stop []context.CancelFunc
	runs []chan struct{} // closed when that detector's Run returned
}

func newGroup(t *testing.T, n int, interval, timeout time.Duration, addrErr func(self, p codec.PeerID) error, opts ...func(self codec.PeerID, c *Config)) *group {
	t.Helper()
	g := &group{
		t:        t,
		suspects: map[codec.PeerID][]codec.PeerID{},
		heard:    map[codec.PeerID][]heard{},
		got:      map[[2]codec.PeerID]int{},
		addrErr:  addrErr,
	}
	addrs := make([]*net.UDPAddr, n+1) // filled before any Run starts, read-only after
	for i := 1; i <= n; i++ {
		self := codec.PeerID(i)
		cfg := Config{
			Self: self, Interval: interval, Timeout: timeout, ListenAddr: "127.0.0.1:0",
			Addr: func(p codec.PeerID) (*net.UDPAddr, error) {
				if g.addrErr != nil {
					if err := g.addrErr(self, p); err != nil {
						return nil, err
					}
				}
				if int(p) >= len(addrs) {
					return nil, errors.New("no such peer")
				}
				return addrs[p], nil
			},
			Suspect: func(p codec.PeerID) {
				g.mu.Lock()
				g.suspects[self] = append(g.suspects[self], p)
				g.mu.Unlock()
			},
			Heard: func(hb codec.Heartbeat) {
				g.mu.Lock()
				g.heard[self] = append(g.heard[self], heard{hb.From, hb.ViewID, hb.Epoch, hb.EpochLeader})
				g.mu.Unlock()
			},
			Logger: zerolog.Nop(),
		}
		for _, o := range opts {
			o(self, &cfg)
		}
		d, err := Listen(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d.observed = func(from codec.PeerID) {
			g.mu.Lock()
			g.got[[2]codec.PeerID{self, from}]++
			g.mu.Unlock()
		}
		addrs[i] = d.LocalAddr()
		g.dets = append(g.dets, d)
	}
	for _, d := range g.dets {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		g.stop = append(g.stop, cancel)
		g.runs = append(g.runs, done)
		go func() {
			defer close(done)
			if err := d.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	t.Cleanup(g.close)
	return g
}

func (g *group) det(p codec.PeerID) *Detector { return g.dets[p-1] }

// kill stops peer p as a crash would look from outside: it goes silent.
func (g *group) kill(p codec.PeerID) {
	g.stop[p-1]()
	g.det(p).Close()
	<-g.runs[p-1]
}

func (g *group) close() {
	for i := range g.dets {
		g.kill(codec.PeerID(i + 1))
	}
}

func (g *group) suspectsOf(w codec.PeerID) []codec.PeerID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.suspects[w])
}

func (g *group) heardBy(w codec.PeerID) []heard {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.heard[w])
}

func (g *group) count(w, from codec.PeerID) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.got[[2]codec.PeerID{w, from}]
}

// waitHeartbeats waits until every watcher has accepted at least k more
// heartbeats from every other peer in peers than it had when called.
func (g *group) waitHeartbeats(peers []codec.PeerID, k int) {
	g.t.Helper()
	base := map[[2]codec.PeerID]int{}
	for _, w := range peers {
		for _, f := range peers {
			base[[2]codec.PeerID{w, f}] = g.count(w, f)
		}
	}
	waitFor(g.t, "heartbeats between every pair", func() bool {
		for pair, n := range base {
			if pair[0] != pair[1] && g.count(pair[0], pair[1]) < n+k {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestGroupDetectsAClosedMemberOnce(t *testing.T) {
	const interval, timeout = 20 * time.Millisecond, time.Second
	// Heartbeats that cover twice the timeout: a deadline that heartbeats did
	// not extend would have fired within this window.
	window := int(2 * timeout / interval)
	g := newGroup(t, 3, interval, timeout, nil)
	all := ids(1, 2, 3)
	for _, d := range g.dets {
		d.SetView(1, all)
	}
	g.waitHeartbeats(all, 1)
	g.waitHeartbeats(all, window)
	for _, w := range all {
		if s := g.suspectsOf(w); len(s) != 0 {
			t.Fatalf("peer %d suspected %v while everyone runs", w, s)
		}
	}
	if s := g.det(1).Stats(); s.Sent == 0 || s.Received == 0 || s.Bad != 0 {
		t.Fatalf("stats %+v", s)
	}

	g.kill(3)
	for _, w := range ids(1, 2) {
		waitFor(t, "peer 3 suspected", func() bool { return len(g.suspectsOf(w)) > 0 })
	}
	// Well past another timeout, still exactly one report each.
	g.waitHeartbeats(ids(1, 2), window)
	for _, w := range ids(1, 2) {
		if s := g.suspectsOf(w); !slices.Equal(s, ids(3)) {
			t.Fatalf("peer %d reported %v, want [3] once", w, s)
		}
	}
}

// A member that never sends a heartbeat is still detected, and a detector
// without a view sends nothing.
func TestNeverHeardIsDetected(t *testing.T) {
	g := newGroup(t, 2, 10*time.Millisecond, 100*time.Millisecond, nil)
	g.det(1).SetView(1, ids(1, 2)) // peer 2 never gets a view
	waitFor(t, "peer 2 suspected", func() bool { return len(g.suspectsOf(1)) > 0 })
	if s := g.det(2).Stats(); s.Sent != 0 {
		t.Fatalf("peer 2 sent %d heartbeats without a view", s.Sent)
	}
	if g.det(2).Stats().Received == 0 {
		t.Fatal("peer 2 got no heartbeats from peer 1")
	}
	g.kill(1) // no more reports can come
	if s := g.suspectsOf(1); !slices.Equal(s, ids(2)) {
		t.Fatalf("peer 1 reported %v, want [2] once", s)
	}
	if s := g.suspectsOf(2); len(s) != 0 {
		t.Fatalf("peer 2 watched %v without a view", s)
	}
}

func TestHeardAnotherView(t *testing.T) {
	g := newGroup(t, 2, 10*time.Millisecond, 5*time.Second, nil)
	g.det(1).SetView(2, ids(1, 2))
	g.det(2).SetView(1, ids(1, 2))
	waitFor(t, "both hear the other's view", func() bool {
		return slices.Contains(g.heardBy(1), heard{2, 1, 0, 0}) && slices.Contains(g.heardBy(2), heard{1, 2, 0, 0})
	})

	// The same view under another ballot is heard too.
	g.det(2).SetView(2, ids(1, 2))
	g.det(1).SetBallot(3, 2)
	waitFor(t, "peer 2 hears peer 1's ballot", func() bool {
		return slices.Contains(g.heardBy(2), heard{1, 2, 3, 2})
	})

	// A non-member is heard too.
	conn, err := net.DialUDP("udp", nil, g.det(1).LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	b, err := codec.Marshal(&codec.Heartbeat{From: 9, ViewID: 5, Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "peer 1 hears view 5 from non-member 9", func() bool {
		conn.Write(b) // UDP: repeat until it arrives (Seq is the same: only the first counts)
		return slices.Contains(g.heardBy(1), heard{9, 5, 0, 0})
	})
}

func TestGarbageIsDropped(t *testing.T) {
	g := newGroup(t, 2, 10*time.Millisecond, 5*time.Second, nil)
	for _, d := range g.dets {
		d.SetView(1, ids(1, 2))
	}
	conn, err := net.DialUDP("udp", nil, g.det(1).LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	join, _ := codec.Marshal(&codec.Join{From: 2, Joiner: 2})
	zeroFrom, _ := codec.Marshal(&codec.Heartbeat{From: 1, ViewID: 1, Seq: 1})
	zeroFrom[1+1] = 0 // From 0 is not a peer
	garbage := [][]byte{{0xff}, {7}, {7, 0x93, 1, 2}, join, zeroFrom, make([]byte, 1500), make([]byte, 4000)}
	waitFor(t, "bad datagrams counted", func() bool {
		for _, b := range garbage {
			conn.Write(b)
		}
		return g.det(1).Stats().Bad >= uint64(len(garbage))
	})
	g.waitHeartbeats(ids(1, 2), 5)
	if s := g.suspectsOf(1); len(s) != 0 {
		t.Fatalf("suspects %v", s)
	}
}

// Addr fails while DNS is not ready; the detector keeps trying each round,
// then caches the address.
func TestAddressNotReady(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	g := newGroup(t, 2, 10*time.Millisecond, 5*time.Second, func(self, p codec.PeerID) error {
		if self != 1 {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 3 {
			return errors.New("no such host")
		}
		return nil
	})
	for _, d := range g.dets {
		d.SetView(1, ids(1, 2))
	}
	g.waitHeartbeats(ids(1, 2), 20)
	mu.Lock()
	defer mu.Unlock()
	if calls != 4 {
		t.Fatalf("Addr called %d times for peer 2, want 3 failures and 1 success", calls)
	}
}

func TestRunReturns(t *testing.T) {
	newDet := func() *Detector {
		d, err := Listen(Config{Self: 1, Interval: 10 * time.Millisecond, ListenAddr: "127.0.0.1:0",
			Addr:    func(codec.PeerID) (*net.UDPAddr, error) { return nil, errors.New("none") },
			Suspect: func(codec.PeerID) {}, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		d.SetView(1, ids(1, 2))
		return d
	}
	wait := func(what string, done <-chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: Run: %v", what, err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("Run did not return after %s", what)
		}
	}

	d := newDet()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	cancel()
	wait("cancel", done)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	d = newDet()
	go func() { done <- d.Run(context.Background()) }()
	d.Close()
	wait("Close", done)
}

func TestSetViewNeverBlocks(t *testing.T) {
	d, err := Listen(Config{Self: 1, Interval: time.Second, ListenAddr: "127.0.0.1:0",
		Addr:    func(codec.PeerID) (*net.UDPAddr, error) { return nil, errors.New("none") },
		Suspect: func(codec.PeerID) {}, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 { // Run is not running: nobody drains
			d.SetView(codec.ViewID(i), ids(1, 2))
		}
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("SetView blocked")
	}
	if c := d.pending(); c.view != 999 {
		t.Fatalf("latest view %d, want 999", c.view)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	start := runtime.NumGoroutine()
	func() {
		g := newGroup(t, 3, 5*time.Millisecond, time.Second, nil)
		for _, d := range g.dets {
			d.SetView(1, ids(1, 2, 3))
		}
		g.waitHeartbeats(ids(1, 2, 3), 3)
		g.close()
	}()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= start })
}

func TestListenErrors(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := Config{Self: 1, Interval: time.Second, ListenAddr: taken.LocalAddr().String(),
		Addr:    func(codec.PeerID) (*net.UDPAddr, error) { return nil, nil },
		Suspect: func(codec.PeerID) {}, Logger: zerolog.Nop()}
	_, err = Listen(cfg)
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.HasPrefix(err.Error(), "detector: ") {
		t.Fatalf("listening on a taken port: %v", err)
	}

	for name, mod := range map[string]func(*Config){
		"no Suspect":  func(c *Config) { c.Suspect = nil },
		"no Addr":     func(c *Config) { c.Addr = nil },
		"no Interval": func(c *Config) { c.Interval = 0 },
		"no Self":     func(c *Config) { c.Self = 0 },
	} {
		c := cfg
		c.ListenAddr = "127.0.0.1:0"
		mod(&c)
		if _, err := Listen(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
}
