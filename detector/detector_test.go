package detector

import (
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
)

// group is n detectors on 127.0.0.1 that know each other's addresses.
type group struct {
	t     *testing.T
	dets  []*Detector
	mu    sync.Mutex
	sus   map[codec.PeerID][]codec.PeerID // watcher -> suspects reported
	heard map[codec.PeerID][]codec.ViewID // watcher -> view ids heard
	stop  []context.CancelFunc
	done  sync.WaitGroup
}

func newGroup(t *testing.T, n int, interval, timeout time.Duration) *group {
	g := &group{t: t, sus: map[codec.PeerID][]codec.PeerID{}, heard: map[codec.PeerID][]codec.ViewID{}}
	addrs := make([]*net.UDPAddr, n+1)
	for i := 1; i <= n; i++ {
		self := codec.PeerID(i)
		d, err := Listen(Config{
			Self: self, Interval: interval, Timeout: timeout, ListenAddr: "127.0.0.1:0",
			Addr: func(p codec.PeerID) (*net.UDPAddr, error) { return addrs[p], nil },
			Suspect: func(p codec.PeerID) {
				g.mu.Lock()
				g.sus[self] = append(g.sus[self], p)
				g.mu.Unlock()
			},
			Heard: func(p codec.PeerID, v codec.ViewID) {
				g.mu.Lock()
				g.heard[self] = append(g.heard[self], v)
				g.mu.Unlock()
			},
			Logger: zerolog.Nop(),
		})
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = d.LocalAddr().(*net.UDPAddr)
		g.dets = append(g.dets, d)
	}
	for _, d := range g.dets {
		ctx, cancel := context.WithCancel(context.Background())
		g.stop = append(g.stop, cancel)
		g.done.Add(1)
		go func() { defer g.done.Done(); d.Run(ctx) }()
	}
	t.Cleanup(g.close)
	return g
}

func (g *group) close() {
	for _, c := range g.stop {
		c()
	}
	for _, d := range g.dets {
		d.Close()
	}
	g.done.Wait()
}

func (g *group) suspects(p codec.PeerID) []codec.PeerID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]codec.PeerID(nil), g.sus[p]...)
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGroupDetectsAClosedMemberOnce(t *testing.T) {
	g := newGroup(t, 3, 20*time.Millisecond, 2*time.Second)
	members := []codec.PeerID{1, 2, 3}
	for _, d := range g.dets {
		d.SetView(1, members)
	}
	waitFor(t, "every detector hears the others", func() bool {
		for _, d := range g.dets {
			if d.Stats().Received < 20 {
				return false
			}
		}
		return true
	})
	for i := codec.PeerID(1); i <= 3; i++ {
		if s := g.suspects(i); len(s) != 0 {
			t.Fatalf("peer %d suspected %v while everyone runs", i, s)
		}
	}
	g.stop[2]()
	g.dets[2].Close()
	for _, w := range []codec.PeerID{1, 2} {
		waitFor(t, "peer 3 suspected", func() bool { return len(g.suspects(w)) > 0 })
	}
	// Many more heartbeats later, still exactly one report each.
	before := g.dets[0].Stats().Received
	waitFor(t, "more heartbeats", func() bool { return g.dets[0].Stats().Received > before+50 })
	for _, w := range []codec.PeerID{1, 2} {
		if s := g.suspects(w); len(s) != 1 || s[0] != 3 {
			t.Fatalf("peer %d reported %v, want [3] once", w, s)
		}
	}
}

// A member that never sends a heartbeat is still detected.
func TestSilentFromTheStart(t *testing.T) {
	g := newGroup(t, 2, 10*time.Millisecond, 100*time.Millisecond)
	g.dets[0].SetView(1, []codec.PeerID{1, 2}) // peer 2 never gets a view: it never sends
	waitFor(t, "peer 2 suspected", func() bool { return len(g.suspects(1)) == 1 })
}

func TestHeardOtherView(t *testing.T) {
	g := newGroup(t, 2, 10*time.Millisecond, 5*time.Second)
	g.dets[0].SetView(2, []codec.PeerID{1, 2})
	g.dets[1].SetView(1, []codec.PeerID{1, 2})
	waitFor(t, "peer 1 hears view 1 from peer 2", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.heard[1]) > 0 && g.heard[1][0] == 1
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.heard[2]) == 0 || g.heard[2][0] != 2 {
		t.Fatalf("peer 2 heard %v, want view 2", g.heard[2])
	}
}

func TestGarbageIsDropped(t *testing.T) {
	g := newGroup(t, 2, 10*time.Millisecond, 5*time.Second)
	for _, d := range g.dets {
		d.SetView(1, []codec.PeerID{1, 2})
	}
	conn, err := net.DialUDP("udp", nil, g.dets[0].LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	join, _ := codec.Marshal(&codec.Join{From: 2, Joiner: 2})
	for _, b := range [][]byte{{}, {0xff}, {7, 0x93}, join, make([]byte, 1500)} {
		conn.Write(b)
	}
	waitFor(t, "bad datagrams counted", func() bool { return g.dets[0].Stats().Bad >= 4 })
	before := g.dets[0].Stats().Received
	waitFor(t, "heartbeats still arrive", func() bool { return g.dets[0].Stats().Received > before+5 })
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	start := runtime.NumGoroutine()
	func() {
		g := newGroup(t, 3, 5*time.Millisecond, time.Second)
		for _, d := range g.dets {
			d.SetView(1, []codec.PeerID{1, 2, 3})
		}
		waitFor(t, "traffic", func() bool { return g.dets[0].Stats().Received > 10 })
		g.close()
	}()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= start })
}

func TestListenErrors(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := Config{Self: 1, Interval: time.Second, ListenAddr: l.LocalAddr().String(),
		Addr: func(codec.PeerID) (*net.UDPAddr, error) { return nil, nil }, Suspect: func(codec.PeerID) {}}
	if _, err := Listen(cfg); err == nil {
		t.Fatal("listening on a taken port succeeded")
	}
	cfg.Suspect = nil
	if _, err := Listen(cfg); err == nil {
		t.Fatal("config without Suspect accepted")
	}
}

func FuzzHeartbeatPacket(f *testing.F) {
	hb, _ := codec.Marshal(&codec.Heartbeat{From: 3, ViewID: 7, Seq: 1 << 60})
	join, _ := codec.Marshal(&codec.Join{From: 2, Joiner: 2})
	for _, s := range [][]byte{hb, join, {}, {7}, {7, 0x93, 1, 2}, {7, 0xdd, 0xff, 0xff, 0xff, 0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodePacket(b)
		if err == nil && (m == nil || m.From == 0) {
			t.Fatalf("accepted %x as %+v", b, m)
		}
	})
}
