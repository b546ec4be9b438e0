package wire

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
	"peer/seal"
)

// waitTimeout is generous: these tests run on small, busy machines.
const waitTimeout = 10 * time.Second

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkNoLeaks fails the test if, after every later cleanup (the transports'
// Close), more goroutines run than when it was called.
func checkNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitTimeout)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// addrBook maps peer ids to addresses; an unknown id is an Addr error, as
// when a name does not resolve yet.
type addrBook struct {
	mu    sync.Mutex
	addrs map[codec.PeerID]string
}

func newAddrBook() *addrBook { return &addrBook{addrs: make(map[codec.PeerID]string)} }

func (b *addrBook) set(p codec.PeerID, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addrs[p] = addr
}

func (b *addrBook) lookup(p codec.PeerID) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.addrs[p]; ok {
		return a, nil
	}
	return "", fmt.Errorf("peer %d: no such host", p)
}

// inbox collects delivered messages.
type inbox struct {
	mu   sync.Mutex
	msgs []codec.Message
}

func (in *inbox) deliver(m codec.Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs = append(in.msgs, m)
}

func (in *inbox) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

// seqs returns the Seq of every heartbeat from a sender, in arrival order.
func (in *inbox) seqs(from codec.PeerID) []uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []uint64
	for _, m := range in.msgs {
		if hb, ok := m.(*codec.Heartbeat); ok && hb.From == from {
			out = append(out, hb.Seq)
		}
	}
	return out
}

func hb(from codec.PeerID, seq uint64) *codec.Heartbeat {
	return &codec.Heartbeat{From: from, ViewID: 1, Seq: seq}
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// node is one test transport with its inbox.
type node struct {
	*Transport
	in  *inbox
	cfg Config
}

// start listens as self on addr ("127.0.0.1:0" for any port), records the
// address in book and closes the transport when the test ends.
func start(t *testing.T, book *addrBook, self codec.PeerID, addr string, tweak func(*Config)) *node {
	t.Helper()
	in := &inbox{}
	cfg := Config{
		Self:       self,
		ListenAddr: addr,
		Addr:       book.lookup,
		Deliver:    in.deliver,
		BackoffMin: time.Millisecond,
		BackoffMax: 20 * time.Millisecond,
		Logger:     testLogger(t).With().Uint32("peer_id", uint32(self)).Logger(),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	book.set(self, tr.Addr().String())
	return &node{Transport: tr, in: in, cfg: cfg}
}

// deadAddr returns a loopback address on which nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func wantSeqs(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

func equalSeqs(a, b []uint64) bool {
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

func TestTransportExchangeInOrder(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	ids := []codec.PeerID{1, 2, 3}
	nodes := make(map[codec.PeerID]*node)
	for _, id := range ids {
		nodes[id] = start(t, book, id, "127.0.0.1:0", nil)
	}
	const n = 300
	for seq := uint64(1); seq <= n; seq++ {
		for _, from := range ids {
			var others []codec.PeerID
			for _, to := range ids {
				if to != from {
					others = append(others, to)
				}
			}
			if from == 1 {
				nodes[from].SendMany(others, hb(from, seq))
				continue
			}
			for _, to := range others {
				if !nodes[from].Send(to, hb(from, seq)) {
					t.Fatalf("Send %d->%d seq %d dropped", from, to, seq)
				}
			}
		}
	}
	for _, to := range ids {
		waitFor(t, fmt.Sprintf("peer %d to receive everything", to), func() bool {
			return nodes[to].in.len() == n*(len(ids)-1)
		})
		for _, from := range ids {
			if from == to {
				continue
			}
			if got := nodes[to].in.seqs(from); !equalSeqs(got, wantSeqs(n)) {
				t.Fatalf("peer %d got from %d: %v", to, from, got)
			}
		}
	}
	for _, id := range ids {
		st := nodes[id].Stats()
		if st.Received != n*2 || st.Dropped != 0 || st.BadFrames != 0 || st.Dials != 2 {
			t.Errorf("peer %d stats %+v", id, st)
		}
	}
}

func TestTransportDialsOnceReachable(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	a := start(t, book, 1, "127.0.0.1:0", nil)

	// Peer 2's name does not resolve yet: Addr fails and the writer retries.
	const n = 5
	for seq := uint64(1); seq <= n; seq++ {
		if !a.Send(2, hb(1, seq)) {
			t.Fatalf("Send %d dropped", seq)
		}
	}
	waitFor(t, "dial errors from Addr", func() bool { return a.Stats().DialErrors >= 2 })

	// Now it resolves, but nothing listens there: dials are refused.
	addr := deadAddr(t)
	book.set(2, addr)
	errs := a.Stats().DialErrors
	waitFor(t, "refused dials", func() bool { return a.Stats().DialErrors >= errs+2 })

	b := start(t, book, 2, addr, nil)
	waitFor(t, "delivery after peer 2 listens", func() bool { return b.in.len() == n })
	if got := b.in.seqs(1); !equalSeqs(got, wantSeqs(n)) {
		t.Fatalf("got %v", got)
	}
	if st := a.Stats(); st.Dials != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTransportPeerRestart(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	var lost atomic.Int32
	a := start(t, book, 1, "127.0.0.1:0", func(c *Config) {
		c.OnRefused = func(p codec.PeerID) {
			if p == 2 {
				lost.Add(1)
			}
		}
	})
	b := start(t, book, 2, "127.0.0.1:0", nil)
	addr := b.Addr().String()

	a.Send(2, hb(1, 1))
	waitFor(t, "first message", func() bool { return b.in.len() == 1 })

	// Peer 2 goes away: its end closes, the redial is refused.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "OnRefused", func() bool { return lost.Load() == 1 })
	// Nothing queued or buffered: Flush does not wait for the dead peer.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatalf("Flush with nothing pending: %v", err)
	}

	// Peer 2 comes back on the same port and gets later messages.
	var b2 *node
	waitFor(t, "listen again on "+addr, func() bool {
		tr, err := Listen(Config{ListenAddr: addr, Addr: book.lookup, Deliver: func(codec.Message) {}})
		if err != nil {
			return false
		}
		tr.Close()
		b2 = start(t, book, 2, addr, nil)
		return true
	})
	for seq := uint64(2); seq <= 4; seq++ {
		a.Send(2, hb(1, seq))
	}
	waitFor(t, "messages after restart", func() bool { return b2.in.len() == 3 })
	if got := b2.in.seqs(1); !equalSeqs(got, []uint64{2, 3, 4}) {
		t.Fatalf("got %v", got)
	}
	if st := a.Stats(); st.Dials != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSendNeverBlocks(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	book.set(2, deadAddr(t))
	const queueLen = 8
	a := start(t, book, 1, "127.0.0.1:0", func(c *Config) {
		c.QueueLen = queueLen
		c.BackoffMin = 50 * time.Millisecond
		c.BackoffMax = time.Second
	})

	const n = 10 * queueLen
	var dropped atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(1); seq <= n; seq++ {
			if !a.Send(2, hb(1, seq)) {
				dropped.Add(1)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Send blocked on an unreachable peer")
	}
	// The writer holds at most one frame while it redials; the queue the rest.
	if d := dropped.Load(); d < n-queueLen-1 {
		t.Fatalf("%d of %d sends dropped, want at least %d", d, n, n-queueLen-1)
	}
	if st := a.Stats(); int64(st.Dropped) != dropped.Load() || st.Sent != 0 {
		t.Fatalf("stats %+v, %d sends returned false", st, dropped.Load())
	}

	a.Close()
	if a.Send(2, hb(1, n+1)) {
		t.Fatal("Send after Close returned true")
	}
}

func TestFlushWaitsForWrites(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	a := start(t, book, 1, "127.0.0.1:0", nil)
	b := start(t, book, 2, "127.0.0.1:0", nil)
	c := start(t, book, 3, "127.0.0.1:0", nil)

	const n = 500
	for seq := uint64(1); seq <= n; seq++ {
		a.SendMany([]codec.PeerID{2, 3}, hb(1, seq))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	// Flush returned: every frame has been written and flushed already.
	if st := a.Stats(); st.Sent != 2*n {
		t.Fatalf("after Flush, stats %+v, want Sent %d", st, 2*n)
	}
	for _, r := range []*node{b, c} {
		waitFor(t, "delivery of flushed frames", func() bool { return r.in.len() == n })
		if got := r.in.seqs(1); !equalSeqs(got, wantSeqs(n)) {
			t.Fatalf("got %v", got)
		}
	}
}

func TestFlushUnreachableEndsWithContext(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	book.set(2, deadAddr(t))
	a := start(t, book, 1, "127.0.0.1:0", nil)
	a.Send(2, hb(1, 1))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := a.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush to an unreachable peer: got %v, want context.DeadlineExceeded", err)
	}
}

func TestBadInboundConnIsClosed(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	a := start(t, book, 1, "127.0.0.1:0", nil)
	b := start(t, book, 2, "127.0.0.1:0", nil)

	a.Send(2, hb(1, 1))
	waitFor(t, "first message", func() bool { return b.in.len() == 1 })

	valid, err := codec.Marshal(hb(3, 1))
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"unknown type":      frameBytes(3, []byte{0xff, 1, 2}),
		"undecodable body":  frameBytes(2, []byte{byte(codec.TypeHeartbeat), 0xc1}),
		"length 0xFFFFFFFF": frameBytes(0xFFFFFFFF, nil),
		"length over max":   frameBytes(DefaultMaxFrame+1, nil),
		"valid then junk":   append(frameBytes(uint32(len(valid)), valid), frameBytes(1, []byte{0})...),
	}
	for name, input := range bad {
		conn, err := net.Dial("tcp", b.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(input); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The transport closes the connection: our read ends.
		conn.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := io.ReadAll(conn); err != nil {
			t.Fatalf("%s: connection not closed: %v", name, err)
		}
		conn.Close()
	}
	if st := b.Stats(); st.BadFrames != uint64(len(bad)) {
		t.Fatalf("stats %+v, want %d bad frames", st, len(bad))
	}

	// The good connection is unaffected.
	a.Send(2, hb(1, 2))
	waitFor(t, "second message", func() bool { return len(b.in.seqs(1)) == 2 })
	if got := b.in.seqs(1); !equalSeqs(got, []uint64{1, 2}) {
		t.Fatalf("got %v", got)
	}
	if st := a.Stats(); st.Dials != 1 {
		t.Fatalf("sender redialled: %+v", st)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	a := start(t, book, 1, "127.0.0.1:0", nil)
	b := start(t, book, 2, "127.0.0.1:0", nil)
	book.set(3, deadAddr(t))
	a.Send(2, hb(1, 1))
	a.Send(3, hb(1, 1)) // a writer stuck redialling
	waitFor(t, "delivery", func() bool { return b.in.len() == 1 })

	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := a.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: got %v, want ErrClosed", err)
	}
}

func TestListenErrors(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	a := start(t, book, 1, "127.0.0.1:0", nil)
	_, err := Listen(Config{ListenAddr: a.Addr().String(), Addr: book.lookup, Deliver: func(codec.Message) {}})
	if err == nil || !strings.Contains(err.Error(), "wire: listen") {
		t.Fatalf("Listen on a used port: got %v", err)
	}
	if _, err := Listen(Config{ListenAddr: "127.0.0.1:0"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Listen without Addr and Deliver: got %v, want ErrConfig", err)
	}
}

func TestSendTooLarge(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	a := start(t, book, 1, "127.0.0.1:0", func(c *Config) { c.MaxFrame = 16 })
	big := &codec.NewView{From: 1, ViewID: 1, Leader: 1, Members: []codec.PeerID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Epoch: 1, EpochLeader: 1,
		Incarnations: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}
	if a.Send(2, big) {
		t.Fatal("Send of a frame over MaxFrame returned true")
	}
	if st := a.Stats(); st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkTransportSend: one REQ from one transport to another over
// loopback, end to end (marshal, queue, write, read, decode, deliver),
// without and with a cluster key.
func BenchmarkTransportSend(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "plain"
		var key *seal.Key
		if keyed {
			name, key = "sealed", testKey(b, 1)
		}
		b.Run(name, func(b *testing.B) { benchmarkTransportSend(b, key) })
	}
}

func benchmarkTransportSend(b *testing.B, key *seal.Key) {
	book := newAddrBook()
	var received atomic.Int64
	mk := func(self codec.PeerID) *Transport {
		tr, err := Listen(Config{
			Self:       self,
			ListenAddr: "127.0.0.1:0",
			Addr:       book.lookup,
			Deliver:    func(codec.Message) { received.Add(1) },
			Key:        key,
		})
		if err != nil {
			b.Fatal(err)
		}
		book.set(self, tr.Addr().String())
		return tr
	}
	a, r := mk(1), mk(2)
	defer a.Close()
	defer r.Close()
	m := &codec.Req{From: 1, RequestID: codec.NewRequestID(1, 1), ViewID: 7, Op: codec.OpAdd, Peers: []codec.PeerID{4}, Epoch: 1, Leader: 1, Voters: []codec.PeerID{2, 3},
		Incarnations: []uint64{1}}
	if frame, err := codec.Marshal(m); err == nil {
		b.SetBytes(int64(headerLen + len(frame)))
	}

	b.ReportAllocs()
	var sent int64
	for b.Loop() {
		// Back off while the queue is full, so every message counts.
		for !a.Send(2, m) {
			runtime.Gosched()
		}
		sent++
	}
	deadline := time.Now().Add(waitTimeout)
	for received.Load() < sent && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if got := received.Load(); got < sent {
		b.Fatalf("received %d of %d", got, sent)
	}
}

// BenchmarkFrameSealedRoundTrip is BenchmarkFrameRoundTrip plus what a key
// adds on each side: seal a NEWVIEW of five members before the write, open it
// after the read.
func BenchmarkFrameSealedRoundTrip(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "plain"
		var key *seal.Key
		if keyed {
			name, key = "sealed", testKey(b, 1)
		}
		b.Run(name, func(b *testing.B) {
			plain, _ := codec.Marshal(&codec.NewView{From: 1, ViewID: 7, Leader: 1, Members: []codec.PeerID{1, 2, 3, 4, 5}, Epoch: 1, EpochLeader: 1,
				Incarnations: []uint64{1, 1, 1, 1, 1}})
			challenge := make([]byte, challengeLen)
			var buf bytes.Buffer
			bw := bufio.NewWriter(&buf)
			br := bufio.NewReader(&buf)
			var out, sealed, opened, ctx []byte
			var n uint64
			b.ReportAllocs()
			b.SetBytes(int64(headerLen + len(plain)))
			for b.Loop() {
				payload := plain
				n++
				if key != nil {
					ctx = sealContext(ctx[:0], challenge, n)
					sealed = key.Seal(sealed[:0], 1, ctx, plain)
					payload = sealed
				}
				if err := writeFrameBuffered(bw, payload); err != nil {
					b.Fatal(err)
				}
				if err := bw.Flush(); err != nil {
					b.Fatal(err)
				}
				got, err := ReadFrame(br, 0, out)
				if err != nil {
					b.Fatal(err)
				}
				out = got
				if key != nil {
					if _, opened, err = key.Open(opened[:0], got, ctx); err != nil {
						b.Fatal(err)
					}
					got = opened
				}
				if _, err := codec.Unmarshal(got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTransportRefusedAfterResetRedial: the process at the other end is
// dying. Its listener still completes our redial but resets it before any
// greeting, and then it is gone: the transport asks again and reports the
// refusal, instead of taking the reset for a live peer.
func TestTransportRefusedAfterResetRedial(t *testing.T) {
	checkNoLeaks(t)
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	book := newAddrBook()
	book.set(2, ln.Addr().String())
	var lost atomic.Int32
	a := start(t, book, 1, "127.0.0.1:0", func(c *Config) {
		c.OnRefused = func(p codec.PeerID) {
			if p == 2 {
				lost.Add(1)
			}
		}
	})
	first := make(chan *net.TCPConn, 1)
	go func() {
		// The first connection is greeted and then closed: the peer "dies".
		c1, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		WriteFrame(c1, appendHello(nil, nil))
		first <- c1
		// The redial is accepted and reset with no greeting, and from then
		// on nothing listens.
		c2, err := ln.AcceptTCP()
		ln.Close()
		if err != nil {
			return
		}
		c2.SetLinger(0)
		c2.Close()
	}()
	a.Send(2, hb(1, 1))
	c1 := <-first
	waitFor(t, "established", func() bool { return a.Stats().Dials == 1 })
	c1.SetLinger(0)
	c1.Close()
	waitFor(t, "OnRefused after the reset redial", func() bool { return lost.Load() == 1 })
}

// TestTransportRefusedDial: a frame for a peer whose address refuses
// connections is reported at its first dial, and at every later one.
func TestTransportRefusedDial(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	book.set(2, deadAddr(t))
	var refused atomic.Int32
	a := start(t, book, 1, "127.0.0.1:0", func(c *Config) {
		c.OnRefused = func(p codec.PeerID) {
			if p == 2 {
				refused.Add(1)
			}
		}
	})
	a.Send(2, hb(1, 1))
	waitFor(t, "OnRefused for the first dial", func() bool { return refused.Load() >= 1 })
	waitFor(t, "OnRefused for a redial", func() bool { return refused.Load() >= 2 })
}

// TestTransportConnect: Connect dials without sending anything, and the
// next message goes over that connection.
func TestTransportConnect(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	a := start(t, book, 1, "127.0.0.1:0", nil)
	b := start(t, book, 2, "127.0.0.1:0", nil)
	a.Connect([]codec.PeerID{2})
	waitFor(t, "connection to 2", func() bool { return a.Stats().Dials == 1 })
	if b.in.len() != 0 {
		t.Fatalf("Connect delivered %d messages", b.in.len())
	}
	a.Connect([]codec.PeerID{2}) // already connected: nothing more
	a.Send(2, hb(1, 1))
	waitFor(t, "the message", func() bool { return b.in.len() == 1 })
	if st := a.Stats(); st.Dials != 1 {
		t.Fatalf("dials %d, want 1", st.Dials)
	}
}
