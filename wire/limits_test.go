package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
	"peer/seal"
)

// The tests in this file attack a Transport from raw TCP connections: bad
// keys, replays, claimed senders, idle and slow connections, floods.

func testKey(t testing.TB, fill byte) *seal.Key {
	t.Helper()
	k, err := seal.NewKey(bytes.Repeat([]byte{fill}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// logBuffer is a zerolog destination that tests can search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// raw is a hand-driven client connection that has read the greeting.
type raw struct {
	t         *testing.T
	conn      net.Conn
	challenge []byte // nil: the listener has no key
	frames    uint64
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	b, err := ReadFrame(conn, maxControl, nil)
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	_, challenge, err := parseHello(b)
	if err != nil {
		t.Fatalf("greeting %x: %v", b, err)
	}
	conn.SetReadDeadline(time.Time{})
	return &raw{t: t, conn: conn, challenge: challenge}
}

// send writes one frame; with a key it is sealed for the next frame number
// of this connection, as a writer would.
func (r *raw) send(key *seal.Key, sender codec.PeerID, m codec.Message) []byte {
	r.t.Helper()
	var payload []byte
	if m != nil {
		var err error
		if payload, err = codec.Marshal(m); err != nil {
			r.t.Fatal(err)
		}
	}
	if key != nil {
		r.frames++
		payload = key.Seal(nil, sender, sealContext(nil, r.challenge, r.frames), payload)
	}
	r.write(frameBytes(uint32(len(payload)), payload))
	return payload
}

func (r *raw) write(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// closed waits until the listener closes the connection and returns what it
// wrote before closing (after the greeting).
func (r *raw) closed() []byte {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	b, err := io.ReadAll(r.conn)
	if err != nil {
		r.t.Fatalf("connection not closed: %v", err)
	}
	return b
}

func joinMsg(from codec.PeerID) *codec.Join {
	return &codec.Join{From: from, Joiner: from, Incarnation: 1}
}

func TestSealedExchange(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	key := testKey(t, 1)
	keyed := func(c *Config) { c.Key = key; c.Peers = 3 }
	a := start(t, book, 1, "127.0.0.1:0", keyed)
	b := start(t, book, 2, "127.0.0.1:0", keyed)
	const n = 100
	for seq := uint64(1); seq <= n; seq++ {
		a.Send(2, hb(1, seq))
		b.Send(1, hb(2, seq))
	}
	waitFor(t, "sealed delivery both ways", func() bool { return a.in.len() == n && b.in.len() == n })
	if got := b.in.seqs(1); !equalSeqs(got, wantSeqs(n)) {
		t.Fatalf("got %v", got)
	}
	for _, x := range []*node{a, b} {
		if st := x.Stats(); st.Dials != 1 || st.Keepalives < 1 || st.AuthFailed != 0 || st.BadFrames != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// A peer with another key, or without one, gets nothing through, and both
// sides say why in their logs.
func TestKeyMismatch(t *testing.T) {
	cases := []struct {
		name          string
		sender, recv  *seal.Key
		senderLog     string // in the sender's log
		receiverLog   string // in the receiver's log, "" for none
		receiverStats func(Stats) bool
	}{
		{"different keys", testKey(t, 1), testKey(t, 2),
			"it refused this peer's frames: cluster key mismatch", `"event":"auth_failed"`,
			func(s Stats) bool { return s.AuthFailed >= 1 }},
		{"sender has no key", nil, testKey(t, 2),
			"it has a cluster key and this peer has none", "",
			func(s Stats) bool { return true }},
		{"receiver has no key", testKey(t, 1), nil,
			"it has no cluster key and this peer has one", "",
			func(s Stats) bool { return true }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkNoLeaks(t)
			book := newAddrBook()
			var sendLog, recvLog logBuffer
			a := start(t, book, 1, "127.0.0.1:0", func(cfg *Config) {
				cfg.Key = c.sender
				cfg.Logger = zerolog.New(&sendLog)
				cfg.BackoffMax = 50 * time.Millisecond
			})
			b := start(t, book, 2, "127.0.0.1:0", func(cfg *Config) {
				cfg.Key = c.recv
				cfg.Logger = zerolog.New(&recvLog)
			})
			waitFor(t, "the refusal in the sender's log", func() bool {
				a.Send(2, joinMsg(1))
				return strings.Contains(sendLog.String(), c.senderLog)
			})
			if !strings.Contains(sendLog.String(), `"event":"auth_refused"`) {
				t.Fatalf("sender log:\n%s", sendLog.String())
			}
			if c.receiverLog != "" {
				waitFor(t, "the failure in the receiver's log", func() bool {
					return strings.Contains(recvLog.String(), c.receiverLog) && c.receiverStats(b.Stats())
				})
			}
			a.Close()
			b.Close()
			if b.in.len() != 0 || b.Stats().Received != 0 {
				t.Fatalf("delivered %d messages", b.in.len())
			}
			// Rate-limited: a handful of lines, not one per attempt.
			if n := strings.Count(sendLog.String(), "auth_refused"); n > 3 {
				t.Fatalf("%d auth_refused lines", n)
			}
		})
	}
}

// With a key, a plain frame, a frame sealed with another key and a frame
// sealed for another connection (a replay) are all refused, and the
// connection is closed after a refusal frame.
func TestKeyedListenerRefuses(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	key := testKey(t, 1)
	b := start(t, book, 2, "127.0.0.1:0", func(c *Config) { c.Key = key; c.Peers = 3 })

	// A good sealed frame on a first connection is delivered...
	first := dialRaw(t, b.Addr().String())
	if first.challenge == nil {
		t.Fatal("keyed listener sent no challenge")
	}
	good := first.send(key, 1, joinMsg(1))
	waitFor(t, "the sealed JOIN", func() bool { return b.in.len() == 1 })

	attacks := map[string]func(r *raw){
		"plain frame":     func(r *raw) { r.send(nil, 0, joinMsg(1)) },
		"another key":     func(r *raw) { r.send(testKey(t, 2), 1, joinMsg(1)) },
		"replayed frame":  func(r *raw) { r.write(frameBytes(uint32(len(good)), good)) },
		"empty frame":     func(r *raw) { r.write(frameBytes(0, nil)) },
		"skipped counter": func(r *raw) { r.frames++; r.send(key, 1, joinMsg(1)) },
	}
	for name, attack := range attacks {
		r := dialRaw(t, b.Addr().String())
		attack(r)
		rest := r.closed()
		got, err := ReadFrame(bytes.NewReader(rest), maxControl, nil)
		if err != nil {
			t.Fatalf("%s: no refusal frame before close: %x", name, rest)
		}
		if reason, ok := parseRefused(got); !ok || !strings.Contains(reason, "cluster key") {
			t.Fatalf("%s: refusal %q", name, got)
		}
	}
	// ...and the same bytes again on the first connection are refused too
	// (frame number 2 expected).
	first.write(frameBytes(uint32(len(good)), good))
	first.closed()
	if st := b.Stats(); st.AuthFailed != uint64(len(attacks))+1 || st.Received != 1 || b.in.len() != 1 {
		t.Fatalf("stats %+v, delivered %d", st, b.in.len())
	}
}

// A connection carries one sender: the first message names it; a message
// from another sender, or from a sender outside the hostsfile, is dropped
// and the connection stays.
func TestSenderBinding(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	key := testKey(t, 1)
	plain := start(t, book, 2, "127.0.0.1:0", func(c *Config) { c.Peers = 4 })
	keyed := start(t, book, 3, "127.0.0.1:0", func(c *Config) { c.Peers = 4; c.Key = key })

	r := dialRaw(t, plain.Addr().String())
	r.send(nil, 0, joinMsg(9))                    // not in the hostsfile: dropped, binds nothing
	r.send(nil, 0, &codec.OK{From: 4, ViewID: 1}) // binds the connection to 4
	r.send(nil, 0, &codec.NewView{From: 1, ViewID: 9, Leader: 1, Members: []codec.PeerID{1}, EpochLeader: 1, Incarnations: []uint64{1}})
	r.send(nil, 0, &codec.OK{From: 4, ViewID: 2})
	waitFor(t, "the two OKs", func() bool { return plain.in.len() == 2 })
	if st := plain.Stats(); st.Rejected != 2 || st.BadFrames != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, m := range plain.in.msgs {
		if m.Sender() != 4 {
			t.Fatalf("delivered %#v", m)
		}
	}

	k := dialRaw(t, keyed.Addr().String())
	k.send(key, 4, joinMsg(1))                    // sealed by 4, claims to be from 1
	k.send(key, 4, &codec.OK{From: 4, ViewID: 1}) // fine
	k.send(key, 9, joinMsg(9))                    // a key holder not in the hostsfile
	waitFor(t, "the sealed OK", func() bool { return keyed.in.len() == 1 })
	waitFor(t, "two rejections", func() bool { return keyed.Stats().Rejected == 2 })
	if m := keyed.in.msgs[0]; m.Sender() != 4 || m.Type() != codec.TypeOK {
		t.Fatalf("delivered %#v", m)
	}
}

// Connections that say nothing, stop in the middle of a frame, or go idle
// are closed by their deadlines; a writer's connection that is merely quiet
// stays open thanks to its keepalives.
func TestInboundDeadlines(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	const (
		handshake = 200 * time.Millisecond
		idle      = 300 * time.Millisecond
		frame     = 200 * time.Millisecond
	)
	timed := func(c *Config) {
		c.HandshakeTimeout, c.IdleTimeout, c.FrameTimeout, c.Keepalive = handshake, idle, frame, idle/6
	}
	a := start(t, book, 1, "127.0.0.1:0", timed)
	b := start(t, book, 2, "127.0.0.1:0", timed)
	a.Send(2, hb(1, 1))
	waitFor(t, "first message", func() bool { return b.in.len() == 1 })

	type attack struct {
		name string
		do   func(r *raw)
	}
	attacks := []attack{
		{"silent", func(r *raw) {}},
		{"half a header", func(r *raw) { r.write([]byte{0, 0}) }},
		{"truncated frame", func(r *raw) { r.write(frameBytes(100, make([]byte, 10))) }},
		{"keepalive then idle", func(r *raw) { r.write(frameBytes(0, nil)) }},
		{"message then half a frame", func(r *raw) {
			r.send(nil, 0, joinMsg(3))
			r.write(frameBytes(100, make([]byte, 10)))
		}},
	}
	for _, at := range attacks {
		r := dialRaw(t, b.Addr().String())
		start := time.Now()
		at.do(r)
		if rest := r.closed(); len(rest) != 0 {
			t.Fatalf("%s: got %x before close", at.name, rest)
		}
		if el := time.Since(start); el < handshake/2 {
			t.Fatalf("%s: closed after %v, before any deadline", at.name, el)
		}
	}
	if st := b.Stats(); st.TimedOut != uint64(len(attacks)) {
		t.Fatalf("stats %+v, want %d timeouts", st, len(attacks))
	}
	// The writer's connection has been quiet for many idle timeouts by now
	// and is still the first one.
	deadline := time.Now().Add(5 * idle)
	waitFor(t, "five idle timeouts", func() bool { return time.Now().After(deadline) })
	a.Send(2, hb(1, 2))
	waitFor(t, "second message", func() bool { return len(b.in.seqs(1)) == 2 })
	if st := a.Stats(); st.Dials != 1 || st.Keepalives < 5 {
		t.Fatalf("writer stats %+v: the quiet connection was not kept alive", st)
	}
}

// Connections over the per-source or the total limit are closed at once;
// the limits free up as connections close.
func TestConnLimits(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	b := start(t, book, 2, "127.0.0.1:0", func(c *Config) { c.MaxConnsPerSource = 5; c.MaxConns = 8 })
	addr := b.Addr().String()
	dialFrom := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Skipf("cannot dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	greeted := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(waitTimeout))
		_, err := ReadFrame(c, maxControl, nil)
		return err == nil
	}
	var open []net.Conn
	for range 12 {
		c := dialFrom("127.0.0.1")
		if greeted(c) {
			open = append(open, c)
		}
	}
	if len(open) != 5 {
		t.Fatalf("%d connections from one source admitted, want 5", len(open))
	}
	admitted := 0
	for range 6 {
		if greeted(dialFrom("127.0.0.2")) {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("%d connections from a second source admitted, want 3 (total limit 8)", admitted)
	}
	if st := b.Stats(); st.Refused != 7+3 || st.Inbound != 8 {
		t.Fatalf("stats %+v", st)
	}
	for _, c := range open {
		c.Close()
	}
	waitFor(t, "the closed connections to be released", func() bool { return b.Stats().Inbound == 3 })
	if !greeted(dialFrom("127.0.0.1")) {
		t.Fatal("a connection was refused after the limit freed up")
	}
}

// Every inbound connection costs one goroutine, and none is left once the
// connection ends, whether the client closes it or the handshake deadline
// does.
func TestNoGoroutineLeakPerConnection(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	b := start(t, book, 2, "127.0.0.1:0", func(c *Config) {
		c.MaxConnsPerSource = 300
		c.HandshakeTimeout = 2 * time.Second
	})
	settle := func(want int64) int {
		waitFor(t, "inbound count", func() bool { return b.Stats().Inbound == want })
		return runtime.NumGoroutine()
	}
	base := settle(0)
	const n = 200
	for round, closeBy := range []string{"client", "handshake deadline"} {
		conns := make([]net.Conn, n)
		for i := range conns {
			c, err := net.Dial("tcp", b.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
		}
		during := settle(n)
		if during > base+n+10 {
			t.Fatalf("%d goroutines with %d connections open, %d before: more than one each", during, n, base)
		}
		if closeBy == "client" {
			for _, c := range conns {
				c.Close()
			}
		}
		settle(0)
		deadline := time.Now().Add(waitTimeout)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				t.Fatalf("round %d (%s): %d goroutines, %d before", round, closeBy, runtime.NumGoroutine(), base)
			}
			time.Sleep(5 * time.Millisecond)
		}
		for _, c := range conns {
			c.Close()
		}
	}
	if st := b.Stats(); st.TimedOut != n || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The largest message the codec accepts fits in a sealed frame.
func TestLargestMessageFits(t *testing.T) {
	checkNoLeaks(t)
	all := make([]codec.PeerID, codec.MaxMembers)
	for i := range all {
		all[i] = codec.PeerID(1<<32 - codec.MaxMembers + i) // the longest encodings
	}
	incs := make([]uint64, codec.MaxMembers)
	for i := range incs {
		incs[i] = 1<<64 - 1 - uint64(i)
	}
	m := &codec.PendingReply{From: 1, RequestID: 1 << 63, ViewID: 1 << 63, Leader: 1 << 31, Members: all,
		Op: codec.OpAdd, PendingRequest: 1 << 63, PendingView: 1 << 63, Peers: all,
		PendingEpoch: 1 << 63, PendingLeader: 1 << 31, Voters: all, Forced: 1,
		Incarnations: incs, PendingIncarnations: incs}
	b, err := codec.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)+seal.Overhead > DefaultMaxFrame {
		t.Fatalf("largest message %d bytes sealed, limit %d", len(b)+seal.Overhead, DefaultMaxFrame)
	}
	book := newAddrBook()
	key := testKey(t, 1)
	a := start(t, book, 1, "127.0.0.1:0", func(c *Config) { c.Key = key })
	r := start(t, book, 2, "127.0.0.1:0", func(c *Config) { c.Key = key })
	if !a.Send(2, m) {
		t.Fatal("Send refused the largest message")
	}
	waitFor(t, "the largest message", func() bool { return r.in.len() == 1 })
}

// A length that is claimed but not sent allocates little, whatever it says.
func TestClaimedLengthCostsLittle(t *testing.T) {
	input := frameBytes(DefaultMaxFrame, make([]byte, 10))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 100
	for range runs {
		if _, err := ReadFrame(bytes.NewReader(input), 0, nil); err != io.ErrUnexpectedEOF {
			t.Fatalf("got %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 2*growStep {
		t.Fatalf("%d bytes allocated per truncated %d-byte claim", per, DefaultMaxFrame)
	}
}

func TestConfigErrors(t *testing.T) {
	base := Config{ListenAddr: "127.0.0.1:0", Addr: newAddrBook().lookup, Deliver: func(codec.Message) {}}
	bad := base
	bad.IdleTimeout, bad.Keepalive = time.Second, time.Second
	if _, err := Listen(bad); !errors.Is(err, ErrConfig) {
		t.Fatalf("keepalive not under the idle timeout: %v", err)
	}
	bad = base
	bad.Key, bad.MaxFrame = testKey(t, 1), seal.Overhead
	if _, err := Listen(bad); !errors.Is(err, ErrConfig) {
		t.Fatalf("MaxFrame too small to seal: %v", err)
	}
	cfg, err := Config{Peers: 100, Addr: base.Addr, Deliver: base.Deliver}.withDefaults()
	if err != nil || cfg.MaxConnsPerSource != 200 || cfg.MaxConns != DefaultMaxConns {
		t.Fatalf("defaults for 100 peers: %+v, %v", cfg, err)
	}
}

// Flush still works with a key and keepalives (the -t exit path).
func TestSealedFlush(t *testing.T) {
	checkNoLeaks(t)
	book := newAddrBook()
	key := testKey(t, 1)
	a := start(t, book, 1, "127.0.0.1:0", func(c *Config) { c.Key = key })
	b := start(t, book, 2, "127.0.0.1:0", func(c *Config) { c.Key = key })
	for seq := uint64(1); seq <= 50; seq++ {
		a.Send(2, hb(1, seq))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Sent != 50 {
		t.Fatalf("stats %+v", st)
	}
	waitFor(t, "delivery", func() bool { return b.in.len() == 50 })
}
