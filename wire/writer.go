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

// errUnexpectedData is a connection's end when the peer writes on a
// connection that only we write on.
var errUnexpectedData = errors.New("wire: unexpected data from peer")

// item is one entry of a writer's queue: a frame, or a flush marker.
type item struct {
	frame   []byte        // an encoded message, shared with other queues; read only
	flushed chan struct{} // non-nil for a flush marker: closed once all before it is flushed
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
	for {
		select {
		case <-w.t.ctx.Done():
			return
		case err := <-w.broken:
			w.lost(err)
		case it := <-w.queue:
			if it.flushed != nil {
				w.flush()
				close(it.flushed)
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
	if err := writeFrameBuffered(w.bw, frame); err != nil {
		w.t.stats.dropped.Add(1)
		w.lost(err)
		return true
	}
	w.buffered++
	if len(w.queue) == 0 {
		w.flush()
	}
	return true
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

// dial makes one attempt to connect, and on failure grows the backoff.
func (w *writer) dial() error {
	cfg := &w.t.cfg
	addr, err := cfg.Addr(w.peer)
	if err != nil {
		err = fmt.Errorf("wire: address of peer %d: %w", w.peer, err)
	} else {
		d := net.Dialer{Timeout: cfg.DialTimeout}
		var conn net.Conn
		if conn, err = d.DialContext(w.t.ctx, "tcp", addr); err == nil {
			w.attach(conn, addr)
			return nil
		}
		err = fmt.Errorf("wire: dial peer %d: %w", w.peer, err)
	}
	if w.t.ctx.Err() != nil {
		return err
	}
	w.lastFail = time.Now()
	w.backoff = min(max(2*w.backoff, cfg.BackoffMin), cfg.BackoffMax)
	w.t.stats.dialErrors.Add(1)
	w.log.Debug().Str("event", "dial_failed").Str("addr", addr).Err(err).Dur("retry_in", w.backoff).Msg("dial failed")
	return err
}

// attach makes conn the current connection and starts watching it.
func (w *writer) attach(conn net.Conn, addr string) {
	w.conn, w.addr = conn, addr
	w.bw.Reset(conn)
	w.buffered = 0
	w.backoff = 0
	w.stopClose = context.AfterFunc(w.t.ctx, func() { conn.Close() })
	broken := make(chan error, 1)
	w.broken = broken
	w.t.wg.Go(func() { broken <- watch(conn) })
	w.t.stats.dials.Add(1)
	w.log.Info().Str("event", "conn_established").Str("addr", addr).Msg("conn established")
}

// watch blocks until conn breaks. The peer never writes on a connection we
// dialled, so any result of Read means the connection is over; when the
// peer's process dies this reports it without waiting for our next write.
func watch(conn net.Conn) error {
	var b [1]byte
	n, err := conn.Read(b[:])
	switch {
	case n > 0:
		return errUnexpectedData
	case err == io.EOF:
		return fmt.Errorf("wire: peer closed the connection: %w", err)
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
// redial means nothing listens at the peer's address any more, which
// OnConnLost reports.
func (w *writer) lost(err error) {
	w.closeConn()
	if w.t.ctx.Err() != nil {
		return
	}
	w.log.Info().Str("event", "conn_lost").Str("addr", w.addr).Err(err).Msg("conn lost")
	err = w.dial()
	if err != nil && errors.Is(err, syscall.ECONNREFUSED) && w.t.cfg.OnConnLost != nil {
		w.t.cfg.OnConnLost(w.peer)
	}
}
