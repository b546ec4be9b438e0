package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
)

var (
	// errUnexpectedData is a connection's end when the peer writes
	// something other than a refusal on a connection that only we write on.
	errUnexpectedData = errors.New("wire: unexpected data from peer")
	// errNotPeer is a dial's end when what answers sends no peer greeting.
	errNotPeer = errors.New("wire: no peer greeting (not a peer, or another version)")
)

// AuthError is why this peer and another cannot exchange frames: one of the
// two has no cluster key, or the keys differ. The writer logs it (event
// auth_refused) and keeps trying with its longest backoff.
type AuthError struct {
	Peer   codec.PeerID
	Reason string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("wire: no exchange with peer %d: %s", e.Peer, e.Reason)
}

// item is one entry of a writer's queue: a frame, or a flush marker.
type item struct {
	frame   []byte        // an encoded message, shared with other queues; read only
	flushed chan struct{} // non-nil for a flush marker: closed once all before it is flushed
	connect bool          // try one dial now if there is no connection; nothing to write
}

// writer owns the outbound connection to one peer. Only its run goroutine
// touches the fields below queue.
type writer struct {
	t     *Transport
	peer  codec.PeerID
	log   zerolog.Logger
	queue chan item

	conn      net.Conn
	addr      string
	bw        *bufio.Writer
	broken    chan error    // conn's watcher reports here; nil without conn
	stopClose func() bool   // cancels conn's close-on-shutdown
	buffered  uint64        // frames in bw not yet flushed
	backoff   time.Duration // wait between lastFail and the next dial; 0 after a success
	lastFail  time.Time

	wrote      bool      // a frame went out since the last keepalive tick
	challenge  []byte    // the listener's challenge for conn (with a key)
	frames     uint64    // frames sealed on conn
	sealed     []byte    // scratch: the sealed frame
	sealCtx    []byte    // scratch: its associated data
	authLogged time.Time // last auth_refused line, to rate-limit it
}

func newWriter(t *Transport, peer codec.PeerID) *writer {
	return &writer{
		t:     t,
		peer:  peer,
		log:   t.log.With().Uint32("peer", uint32(peer)).Logger(),
		queue: make(chan item, t.cfg.QueueLen),
		bw:    bufio.NewWriterSize(nil, ioBufferSize),
	}
}

// run writes queued frames until the Transport closes. It dials on the first
// frame, flushes whenever the queue runs empty and redials after an error.
func (w *writer) run() {
	defer w.closeConn()
	keepalive := time.NewTicker(w.t.cfg.Keepalive)
	defer keepalive.Stop()
	for {
		select {
		case <-w.t.ctx.Done():
			return
		case err := <-w.broken:
			w.lost(err)
		case <-keepalive.C:
			w.keepalive()
		case it := <-w.queue:
			if it.flushed != nil {
				w.flush()
				close(it.flushed)
				continue
			}
			if it.connect {
				// One attempt: a peer that is not up gets no dialling loop
				// for nothing; the next frame for it dials as usual.
				if w.conn == nil {
					w.dial()
				}
				continue
			}
			if !w.write(it.frame) {
				return
			}
		}
	}
}

// write sends one frame, dialling first if needed, and flushes if nothing
// else is queued. It returns false only when the Transport closed.
func (w *writer) write(frame []byte) bool {
	if w.conn == nil && !w.connect() {
		return false
	}
	if err := w.put(frame); err != nil {
		w.t.stats.dropped.Add(1)
		w.lost(err)
		return true
	}
	w.buffered++
	w.wrote = true
	if len(w.queue) == 0 {
		w.flush()
	}
	return true
}

// put writes one payload into the buffer, sealed when there is a key; an
// empty payload is a keepalive.
func (w *writer) put(plain []byte) error {
	payload := plain
	if key := w.t.cfg.Key; key != nil {
		w.frames++
		w.sealCtx = sealContext(w.sealCtx[:0], w.challenge, w.frames)
		w.sealed = key.Seal(w.sealed[:0], w.t.cfg.Self, w.sealCtx, plain)
		payload = w.sealed
	}
	return writeFrameBuffered(w.bw, payload)
}

// keepalive sends an empty frame if nothing went out since the last tick,
// so the listener's idle timeout never closes a connection that is merely
// quiet between view changes.
func (w *writer) keepalive() {
	if w.conn == nil || w.wrote {
		w.wrote = false
		return
	}
	err := w.put(nil)
	if err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		w.t.stats.dropped.Add(w.buffered)
		w.buffered = 0
		w.lost(fmt.Errorf("wire: keepalive: %w", err))
		return
	}
	w.t.stats.sent.Add(w.buffered) // frames buffered before it went out with it
	w.buffered = 0
	w.t.stats.keepalives.Add(1)
}

func (w *writer) flush() {
	if w.buffered == 0 {
		return
	}
	if err := w.bw.Flush(); err != nil {
		w.lost(fmt.Errorf("wire: flush: %w", err))
		return
	}
	w.t.stats.sent.Add(w.buffered)
	w.buffered = 0
}

// connect dials until it succeeds, waiting out the backoff before each
// attempt. It returns false only when the Transport closed.
func (w *writer) connect() bool {
	for {
		if wait := w.backoff - time.Since(w.lastFail); w.backoff > 0 && wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-w.t.ctx.Done():
				timer.Stop()
				return false
			}
		}
		if w.dial() == nil {
			return true
		}
		if w.t.ctx.Err() != nil {
			return false
		}
	}
}

// dial makes one attempt to connect, and on failure grows the backoff. A
// peer that refuses us for our key waits the longest backoff.
func (w *writer) dial() error {
	cfg := &w.t.cfg
	addr, err := cfg.Addr(w.peer)
	if err != nil {
		err = fmt.Errorf("wire: address of peer %d: %w", w.peer, err)
	} else {
		d := net.Dialer{Timeout: cfg.DialTimeout, Control: ackTimeout(cfg.AckTimeout)}
		var conn net.Conn
		if conn, err = d.DialContext(w.t.ctx, "tcp", addr); err == nil {
			if err = w.open(conn, addr); err == nil {
				return nil
			}
			conn.Close()
		} else {
			err = fmt.Errorf("wire: dial peer %d: %w", w.peer, err)
		}
	}
	if w.t.ctx.Err() != nil {
		return err
	}
	w.lastFail = time.Now()
	w.backoff = min(max(2*w.backoff, cfg.BackoffMin), cfg.BackoffMax)
	w.t.stats.dialErrors.Add(1)
	if errors.Is(err, syscall.ECONNREFUSED) && cfg.OnRefused != nil {
		cfg.OnRefused(w.peer)
	}
	if ae := (*AuthError)(nil); errors.As(err, &ae) {
		w.backoff = cfg.BackoffMax
		w.logAuth(ae)
		return err
	}
	w.log.Debug().Str("event", "dial_failed").Str("addr", addr).Err(err).Dur("retry_in", w.backoff).Msg("dial failed")
	return err
}

// open reads the listener's greeting on a new connection, checks that both
// sides agree on having a key, sends a keepalive so the listener knows us
// before its handshake deadline, and makes conn the current connection.
func (w *writer) open(conn net.Conn, addr string) error {
	conn.SetDeadline(time.Now().Add(w.t.cfg.HandshakeTimeout))
	b, err := ReadFrame(conn, maxControl, nil)
	if err != nil {
		return fmt.Errorf("wire: greeting from peer %d at %s: %w", w.peer, addr, err)
	}
	keyed, challenge, err := parseHello(b)
	switch {
	case err != nil:
		return fmt.Errorf("wire: peer %d at %s: %w", w.peer, addr, err)
	case keyed && w.t.cfg.Key == nil:
		return &AuthError{w.peer, "it has a cluster key and this peer has none: start this peer with -key and the group's key file"}
	case !keyed && w.t.cfg.Key != nil:
		return &AuthError{w.peer, "it has no cluster key and this peer has one: every peer of the group needs the same -key"}
	}
	w.challenge, w.frames = append(w.challenge[:0], challenge...), 0
	w.bw.Reset(conn)
	if err = w.put(nil); err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("wire: first keepalive to peer %d: %w", w.peer, err)
	}
	conn.SetDeadline(time.Time{})
	w.t.stats.keepalives.Add(1)
	w.attach(conn, addr)
	return nil
}

// logAuth logs why a peer refuses us, at most once per 10 s per peer.
func (w *writer) logAuth(e *AuthError) {
	if now := time.Now(); now.Sub(w.authLogged) >= 10*time.Second {
		w.authLogged = now
		w.log.Error().Str("event", "auth_refused").Str("reason", e.Reason).
			Msg(fmt.Sprintf("no exchange with peer %d: %s", e.Peer, e.Reason))
	}
}

// attach makes conn, greeted and with its first keepalive sent, the current
// connection and starts watching it.
func (w *writer) attach(conn net.Conn, addr string) {
	w.conn, w.addr = conn, addr
	w.buffered = 0
	w.backoff = 0
	w.stopClose = context.AfterFunc(w.t.ctx, func() { conn.Close() })
	broken := make(chan error, 1)
	w.broken = broken
	w.t.wg.Go(func() { broken <- watch(conn, w.peer) })
	w.t.stats.dials.Add(1)
	w.log.Info().Str("event", "conn_established").Str("addr", addr).Msg("conn established")
}

// watch blocks until conn breaks. After its greeting the peer writes on a
// connection we dialled only to refuse our frames, just before it closes it,
// so any result of reading means the connection is over; when the peer's
// process dies this reports it without waiting for our next write.
func watch(conn net.Conn, peer codec.PeerID) error {
	b, err := ReadFrame(conn, maxControl, nil)
	switch {
	case err == nil:
		if reason, ok := parseRefused(b); ok {
			return &AuthError{peer, "it refused this peer's frames: " + reason}
		}
		return errUnexpectedData
	case err == io.EOF:
		return fmt.Errorf("wire: peer closed the connection: %w", err)
	case errors.Is(err, ErrFrameTooLarge):
		return errUnexpectedData
	}
	return err
}

// closeConn closes the current connection, if any; frames still in its
// buffer are dropped.
func (w *writer) closeConn() {
	if w.conn == nil {
		return
	}
	w.stopClose()
	w.conn.Close()
	w.conn, w.broken, w.stopClose = nil, nil, nil
	w.t.stats.dropped.Add(w.buffered)
	w.buffered = 0
}

// lost handles a broken connection: close it and redial at once. A refused
// redial means nothing listens at the peer's address any more, which dial
// reports (Config.OnRefused).
func (w *writer) lost(err error) {
	w.closeConn()
	if w.t.ctx.Err() != nil {
		return
	}
	if ae := (*AuthError)(nil); errors.As(err, &ae) {
		// Redialling at once would be refused again: wait for the next
		// frame and the longest backoff.
		w.lastFail, w.backoff = time.Now(), w.t.cfg.BackoffMax
		w.t.stats.dialErrors.Add(1)
		w.logAuth(ae)
		return
	}
	w.log.Info().Str("event", "conn_lost").Str("addr", w.addr).Err(err).Msg("conn lost")
	err = w.dial()
	// A process being killed may still have its listening socket for a
	// moment: the kernel completes the redial, then resets it before any
	// greeting. Ask again shortly; only a refusal means nobody listens.
	for wait := time.Millisecond; err != nil && resetBeforeGreeting(err) && wait <= 8*time.Millisecond; wait *= 2 {
		select {
		case <-time.After(wait):
		case <-w.t.ctx.Done():
			return
		}
		err = w.dial()
	}
}

// resetBeforeGreeting reports whether a dial connected and the connection
// then ended before the greeting arrived.
func resetBeforeGreeting(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
