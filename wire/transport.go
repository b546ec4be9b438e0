package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
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
)

// ioBufferSize is the size of every connection's bufio reader and writer.
const ioBufferSize = 32 << 10

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
	// MaxFrame is the largest payload sent or accepted. Default DefaultMaxFrame.
	MaxFrame int
	// DialTimeout bounds one dial. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// BackoffMin and BackoffMax bound the redial backoff, which doubles after
	// every failed dial and resets on success. Defaults DefaultBackoffMin and
	// DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Logger should carry peer_id; the Transport adds component=wire.
	Logger zerolog.Logger
	// OnConnLost, if not nil, is called from the writer goroutine when an
	// established outbound connection to a peer breaks and the immediate
	// redial is refused (ECONNREFUSED): the peer's process is most likely gone.
	// While it runs that peer's queue is not drained, so it must return quickly.
	OnConnLost func(codec.PeerID)
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
	return c, nil
}

// Stats are the Transport's counters since Listen.
type Stats struct {
	Sent       uint64 // frames written to a connection and flushed
	Dropped    uint64 // frames discarded: not encodable, too large, queue full, closed, or their connection broke
	Dials      uint64 // outbound connections established
	DialErrors uint64 // dials that failed, including Addr errors
	Received   uint64 // inbound messages passed to Deliver
	BadFrames  uint64 // inbound frames too large or not decodable; each closed its connection
}

type counters struct {
	sent, dropped, dials, dialErrors, received, badFrames atomic.Uint64
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
}

// Listen binds cfg.ListenAddr and starts accepting connections.
func Listen(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
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
	}
	t.log.Info().Str("event", "listening").Str("addr", ln.Addr().String()).Msg("listening")
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
		Received:   t.stats.received.Load(),
		BadFrames:  t.stats.badFrames.Load(),
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

// marshal encodes m once for its dests destinations; if it cannot be sent,
// all of them count as dropped.
func (t *Transport) marshal(m codec.Message, dests int) ([]byte, bool) {
	frame, err := codec.Marshal(m)
	if err == nil && len(frame) > t.cfg.MaxFrame {
		err = fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(frame), t.cfg.MaxFrame)
	}
	if err != nil {
		t.stats.dropped.Add(uint64(dests))
		t.log.Error().Str("event", "encode_failed").Stringer("type", m.Type()).Err(err).Msg("message not sent")
		return nil, false
	}
	return frame, true
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

func (t *Transport) acceptLoop() {
	const retry = 10 * time.Millisecond
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			t.log.Warn().Str("event", "accept_failed").Err(err).Msg("accept failed")
			select {
			case <-time.After(retry):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		t.wg.Go(func() { t.readLoop(conn) })
	}
}

// readLoop turns one inbound connection's frames into Deliver calls. It ends
// quietly on io.EOF and closes the connection on anything it cannot decode.
func (t *Transport) readLoop(conn net.Conn) {
	stop := context.AfterFunc(t.ctx, func() { conn.Close() })
	defer func() {
		stop()
		conn.Close()
	}()
	log := t.log.With().Str("addr", conn.RemoteAddr().String()).Logger()
	log.Debug().Str("event", "inbound_opened").Msg("inbound conn opened")

	const keepBuf = 64 << 10 // a larger buffer is not kept after its frame
	br := bufio.NewReaderSize(conn, ioBufferSize)
	var buf []byte
	for {
		frame, err := ReadFrame(br, t.cfg.MaxFrame, buf)
		switch {
		case err == nil:
		case err == io.EOF || t.ctx.Err() != nil:
			log.Debug().Str("event", "inbound_closed").Msg("inbound conn closed")
			return
		case errors.Is(err, ErrFrameTooLarge):
			t.stats.badFrames.Add(1)
			log.Debug().Str("event", "bad_frame").Err(err).Msg("bad frame, closing conn")
			return
		default:
			log.Debug().Str("event", "inbound_lost").Err(err).Msg("inbound conn lost")
			return
		}
		// Unmarshal copies everything it keeps, so buf can be reused.
		m, err := codec.Unmarshal(frame)
		if err != nil {
			t.stats.badFrames.Add(1)
			log.Debug().Str("event", "bad_frame").Err(err).Msg("bad frame, closing conn")
			return
		}
		if cap(frame) <= keepBuf {
			buf = frame
		} else {
			buf = nil
		}
		t.stats.received.Add(1)
		t.cfg.Deliver(m)
	}
}
