package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
	"peer/internal/lograte"
	"peer/seal"
)

var (
	// ErrClosed is returned by Flush once the Transport is closed.
	ErrClosed = errors.New("wire: transport closed")
	// ErrConfig is returned by Listen for a Config it cannot run with.
	ErrConfig = errors.New("wire: bad config")
)

// Defaults for the zero fields of Config.
const (
	DefaultQueueLen    = 1024
	DefaultDialTimeout = time.Second
	DefaultBackoffMin  = 10 * time.Millisecond
	DefaultBackoffMax  = time.Second
	// DefaultAckTimeout: see Config.AckTimeout.
	DefaultAckTimeout = 2 * time.Second

	// DefaultMaxConns bounds the inbound connections open at once.
	DefaultMaxConns = 512
	// DefaultMaxConnsPerSource bounds the inbound connections from one IP
	// address; with Peers set it is at least 2*Peers, since on loopback
	// every peer of the group shares 127.0.0.1.
	DefaultMaxConnsPerSource = 64
	// DefaultHandshakeTimeout is how long a new inbound connection has to
	// deliver its first good frame (a peer sends a keepalive at once), and
	// how long a dialler waits for the listener's greeting.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultIdleTimeout closes an inbound connection that has carried no
	// frame for this long. A live sender never lets it happen: it sends a
	// keepalive every DefaultKeepalive while it has nothing else to say.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultKeepalive is the writer's idle period before a keepalive frame.
	DefaultKeepalive = 20 * time.Second
	// DefaultFrameTimeout bounds the time from a frame's header to the end
	// of its body, so a slow sender cannot hold a buffer for long.
	DefaultFrameTimeout = 10 * time.Second
)

// ioBufferSize is the size of every outbound connection's bufio writer;
// inboundBufferSize that of every inbound connection's reader (frames are
// small; a larger one is read straight into its own buffer).
const (
	ioBufferSize      = 32 << 10
	inboundBufferSize = 4 << 10
)

// Config configures a Transport. Self, ListenAddr, Addr and Deliver are
// required; the zero value of every other field means its default.
type Config struct {
	Self codec.PeerID
	// ListenAddr is the "host:port" to listen on (TCP); port 0 picks one.
	ListenAddr string
	// Addr returns the "host:port" of a peer. It is called at every dial, from
	// that peer's writer goroutine; an error counts as a failed dial and is
	// retried with backoff (a name may not resolve yet).
	Addr func(codec.PeerID) (string, error)
	// Deliver receives every decoded inbound message. It is called from the
	// reader goroutines, in order for each connection, and may block briefly;
	// it must return once the caller is shutting down, or Close waits for it.
	Deliver func(codec.Message)
	// QueueLen is the number of frames queued per destination before Send
	// drops. Default DefaultQueueLen.
	QueueLen int
	// MaxFrame is the largest payload sent or accepted, sealed if Key is
	// set. Default DefaultMaxFrame.
	MaxFrame int
	// Peers is the size of the hostsfile: inbound messages whose sender is
	// not in 1..Peers are dropped with one debug line. 0 accepts any sender.
	Peers int
	// Key, if not nil, is the cluster key: every frame is sealed with it and
	// every inbound frame must open with it (see the package doc).
	Key *seal.Key
	// MaxConns and MaxConnsPerSource bound the inbound connections open at
	// once, in all and from one IP address; a connection over either limit
	// is closed as soon as it is accepted. Defaults DefaultMaxConns and
	// DefaultMaxConnsPerSource (at least 2*Peers, and MaxConns at least
	// twice that).
	MaxConns, MaxConnsPerSource int
	// HandshakeTimeout, IdleTimeout, FrameTimeout and Keepalive: see their
	// defaults. Keepalive must be well under IdleTimeout, which must be the
	// same on every peer.
	HandshakeTimeout, IdleTimeout, FrameTimeout, Keepalive time.Duration
	// DialTimeout bounds one dial. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// BackoffMin and BackoffMax bound the redial backoff, which doubles after
	// every failed dial and resets on success. Defaults DefaultBackoffMin and
	// DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// AckTimeout breaks an outbound connection whose sent bytes stay
	// unacknowledged this long (TCP_USER_TIMEOUT, on Linux), and the writer
	// redials. Without it a connection that lost its frames in a network
	// cut keeps them in TCP's retransmission backoff, which grows to
	// minutes, and delivers the frames sent after the cut heals just as
	// late. A live peer's kernel acknowledges at once, even while its
	// process is stopped. Default DefaultAckTimeout.
	AckTimeout time.Duration
	// Logger should carry peer_id; the Transport adds component=wire.
	Logger zerolog.Logger
	// OnRefused, if not nil, is called from a writer goroutine whenever a
	// dial to a peer is refused (ECONNREFUSED): nothing listens at its
	// address, so its process is most likely gone. A writer redials at once
	// when its established connection breaks, so a peer killed while
	// connected is reported within a round trip; a redial that connects and
	// is reset before the greeting (a dying process's listener) is tried
	// again a few times within about 15 ms first. While it runs that peer's
	// queue is not drained, so it must return quickly.
	OnRefused func(codec.PeerID)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (c Config) withDefaults() (Config, error) {
	if c.Addr == nil || c.Deliver == nil {
		return c, fmt.Errorf("%w: Addr and Deliver are required", ErrConfig)
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.MaxConnsPerSource <= 0 {
		c.MaxConnsPerSource = max(DefaultMaxConnsPerSource, 2*c.Peers)
	}
	if c.MaxConns <= 0 {
		c.MaxConns = max(DefaultMaxConns, 2*c.MaxConnsPerSource)
	}
	c.HandshakeTimeout = orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	c.AckTimeout = orDefault(c.AckTimeout, DefaultAckTimeout)
	c.FrameTimeout = orDefault(c.FrameTimeout, DefaultFrameTimeout)
	c.Keepalive = orDefault(c.Keepalive, DefaultKeepalive)
	if c.Keepalive > c.IdleTimeout/3 {
		return c, fmt.Errorf("%w: Keepalive %v must be at most a third of IdleTimeout %v", ErrConfig, c.Keepalive, c.IdleTimeout)
	}
	if c.Key != nil && c.MaxFrame <= seal.Overhead {
		return c, fmt.Errorf("%w: MaxFrame %d leaves no room for a sealed message", ErrConfig, c.MaxFrame)
	}
	return c, nil
}

// Stats are the Transport's counters since Listen.
type Stats struct {
	Sent       uint64 // frames written to a connection and flushed (keepalives not counted)
	Dropped    uint64 // frames discarded: not encodable, too large, queue full, closed, or their connection broke
	Dials      uint64 // outbound connections established (greeting received)
	DialErrors uint64 // dials that failed, including Addr errors and refused greetings
	Keepalives uint64 // keepalive frames sent
	Received   uint64 // inbound messages passed to Deliver
	BadFrames  uint64 // inbound frames too large or not decodable; each closed its connection
	AuthFailed uint64 // inbound frames that did not open with the key; each closed its connection
	Rejected   uint64 // inbound messages dropped: sender not in the hostsfile, or not the connection's sender
	Refused    uint64 // inbound connections closed at accept: over MaxConns or MaxConnsPerSource
	TimedOut   uint64 // inbound connections closed by the handshake, idle or frame timeout
	Inbound    int64  // inbound connections open now
}

type counters struct {
	sent, dropped, dials, dialErrors, keepalives atomic.Uint64
	received, badFrames, authFailed, rejected    atomic.Uint64
	refused, timedOut                            atomic.Uint64
	inbound                                      atomic.Int64
}

// Transport sends and receives framed messages over persistent TCP
// connections. Its methods are safe for concurrent use.
type Transport struct {
	cfg    Config
	log    zerolog.Logger
	ln     net.Listener
	ctx    context.Context // ends on Close; every goroutine watches it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  counters

	mu      sync.RWMutex
	closed  bool
	writers map[codec.PeerID]*writer

	connMu  sync.Mutex     // guards the inbound connection counts
	conns   int            // inbound connections open
	sources map[string]int // inbound connections open per remote IP

	throttle *lograte.Limiter // rate-limits logs about rejected input, per source
}

// Listen binds cfg.ListenAddr and starts accepting connections.
func Listen(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("wire: listen on tcp %s: already in use by another process (a peer with this id already running?): %w", cfg.ListenAddr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("wire: listen on %s: %w", cfg.ListenAddr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "wire").Logger(),
		ln:      ln,
		ctx:     ctx,
		cancel:  cancel,
		writers: make(map[codec.PeerID]*writer),
		sources: make(map[string]int),
		// One line per source and 10 s for rejected input: enough to see
		// what happens, too few to fill the log.
		throttle: lograte.New(10 * time.Second),
	}
	t.log.Info().Str("event", "listening").Str("addr", ln.Addr().String()).Bool("sealed", cfg.Key != nil).
		Int("max_conns", cfg.MaxConns).Int("max_conns_per_source", cfg.MaxConnsPerSource).Msg("listening")
	t.wg.Go(t.acceptLoop)
	return t, nil
}

// Addr is the address the Transport listens on.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	return Stats{
		Sent:       t.stats.sent.Load(),
		Dropped:    t.stats.dropped.Load(),
		Dials:      t.stats.dials.Load(),
		DialErrors: t.stats.dialErrors.Load(),
		Keepalives: t.stats.keepalives.Load(),
		Received:   t.stats.received.Load(),
		BadFrames:  t.stats.badFrames.Load(),
		AuthFailed: t.stats.authFailed.Load(),
		Rejected:   t.stats.rejected.Load(),
		Refused:    t.stats.refused.Load(),
		TimedOut:   t.stats.timedOut.Load(),
		Inbound:    t.stats.inbound.Load(),
	}
}

// Send queues m for to and returns at once. It marshals m on the caller's
// goroutine and returns false, counting a drop, if the message does not
// encode, exceeds MaxFrame, the destination's queue is full or the Transport
// is closed. True means queued, not delivered.
func (t *Transport) Send(to codec.PeerID, m codec.Message) bool {
	frame, ok := t.marshal(m, 1)
	if !ok {
		return false
	}
	return t.enqueue(to, m.Type(), frame)
}

// SendMany marshals m once and queues it for every destination, like Send.
func (t *Transport) SendMany(to []codec.PeerID, m codec.Message) {
	frame, ok := t.marshal(m, len(to))
	if !ok {
		return
	}
	for _, p := range to {
		t.enqueue(p, m.Type(), frame)
	}
}

// Connect has each peer in to dialled once, if it has no connection yet,
// without sending anything, so that the first message to it later does not
// wait for a dial and a greeting. Like Send it never blocks.
func (t *Transport) Connect(to []codec.PeerID) {
	for _, p := range to {
		if w := t.writer(p); w != nil {
			select {
			case w.queue <- item{connect: true}:
			default: // frames are waiting: the writer dials for them anyway
			}
		}
	}
}

// marshal encodes m once for its dests destinations; if it cannot be sent,
// all of them count as dropped.
func (t *Transport) marshal(m codec.Message, dests int) ([]byte, bool) {
	frame, err := codec.Marshal(m)
	if size := len(frame) + t.overhead(); err == nil && size > t.cfg.MaxFrame {
		err = fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, size, t.cfg.MaxFrame)
	}
	if err != nil {
		t.stats.dropped.Add(uint64(dests))
		t.log.Error().Str("event", "encode_failed").Stringer("type", m.Type()).Err(err).Msg("message not sent")
		return nil, false
	}
	return frame, true
}

// overhead is what sealing adds to every frame.
func (t *Transport) overhead() int {
	if t.cfg.Key != nil {
		return seal.Overhead
	}
	return 0
}

// enqueue hands one encoded frame (shared, never modified) to to's writer.
func (t *Transport) enqueue(to codec.PeerID, typ codec.Type, frame []byte) bool {
	w := t.writer(to)
	if w != nil {
		select {
		case w.queue <- item{frame: frame}:
			return true
		default:
		}
	}
	t.stats.dropped.Add(1)
	reason := "queue_full"
	if w == nil {
		reason = "closed"
	}
	t.log.Debug().Str("event", "frame_dropped").Uint32("peer", uint32(to)).Stringer("type", typ).Str("reason", reason).Msg("frame dropped")
	return false
}

// writer returns to's writer, starting it on first use, or nil once closed.
func (t *Transport) writer(to codec.PeerID) *writer {
	t.mu.RLock()
	w, closed := t.writers[to], t.closed
	t.mu.RUnlock()
	if closed {
		return nil
	}
	if w != nil {
		return w
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	if w = t.writers[to]; w == nil {
		w = newWriter(t, to)
		t.writers[to] = w
		t.wg.Go(w.run)
	}
	return w
}

// Flush returns once every frame queued before the call has been written to
// its connection and the connection's buffer flushed, or dropped because that
// write failed. It returns ctx.Err() if ctx ends first, for instance while a
// destination cannot be reached, and ErrClosed if the Transport closes.
func (t *Transport) Flush(ctx context.Context) error {
	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return ErrClosed
	}
	ws := make([]*writer, 0, len(t.writers))
	for _, w := range t.writers {
		ws = append(ws, w)
	}
	t.mu.RUnlock()

	marks := make([]chan struct{}, len(ws))
	for i, w := range ws {
		marks[i] = make(chan struct{})
		select {
		case w.queue <- item{flushed: marks[i]}:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.ctx.Done():
			return ErrClosed
		}
	}
	for _, m := range marks {
		select {
		case <-m:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.ctx.Done():
			return ErrClosed
		}
	}
	return nil
}

// Close stops accepting, closes every connection and waits for every
// goroutine of the Transport to end. Frames still queued are discarded.
// Calling Close again does nothing and returns nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()

	// The listener goes first: a peer whose connection is about to close must
	// find the port shut when it redials.
	err := t.ln.Close()
	t.cancel()
	t.wg.Wait()
	t.log.Info().Str("event", "closed").Msg("transport closed")
	if err != nil {
		return fmt.Errorf("wire: close listener: %w", err)
	}
	return nil
}
