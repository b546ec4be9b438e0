package wire

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
	"peer/seal"
)

// Control frames go from the listener to the dialler, the only data that
// ever flows that way: a greeting as soon as a connection is accepted, and a
// refusal just before the listener closes a connection whose frame did not
// authenticate. Both start with controlMagic and a kind byte.
var controlMagic = []byte("PEER")

const (
	controlHello   = 1 // then flags (helloKeyed) and, keyed, the challenge
	controlRefused = 2 // then the reason, as text
	helloKeyed     = 1 // flag: the listener has a cluster key
	challengeLen   = 16
	maxControl     = 256 // the longest control frame a dialler reads
)

// frameContext is prefixed to the associated data of every sealed frame,
// followed by the connection's challenge and the frame's number on it.
var frameContext = []byte("peer/wire/1")

// appendHello encodes the greeting; challenge is nil without a key.
func appendHello(dst, challenge []byte) []byte {
	dst = append(append(dst, controlMagic...), controlHello)
	if challenge == nil {
		return append(dst, 0)
	}
	return append(append(dst, helloKeyed), challenge...)
}

// parseHello decodes a greeting; challenge is nil when the listener has no key.
func parseHello(b []byte) (keyed bool, challenge []byte, err error) {
	if !bytes.HasPrefix(b, controlMagic) || len(b) < len(controlMagic)+2 || b[len(controlMagic)] != controlHello {
		return false, nil, errNotPeer
	}
	rest := b[len(controlMagic)+2:]
	switch b[len(controlMagic)+1] {
	case 0:
		if len(rest) == 0 {
			return false, nil, nil
		}
	case helloKeyed:
		if len(rest) == challengeLen {
			return true, rest, nil
		}
	}
	return false, nil, errNotPeer
}

func appendRefused(dst []byte, reason string) []byte {
	dst = append(append(dst, controlMagic...), controlRefused)
	return append(dst, reason[:min(len(reason), maxControl-len(dst))]...)
}

// parseRefused returns the reason of a refusal frame; ok is false for
// anything else.
func parseRefused(b []byte) (reason string, ok bool) {
	if !bytes.HasPrefix(b, controlMagic) || len(b) < len(controlMagic)+1 || b[len(controlMagic)] != controlRefused {
		return "", false
	}
	return string(b[len(controlMagic)+1:]), true
}

// sealContext is the associated data of frame number n on a connection
// with the given challenge.
func sealContext(dst, challenge []byte, n uint64) []byte {
	dst = append(append(dst, frameContext...), challenge...)
	return binary.BigEndian.AppendUint64(dst, n)
}

func (t *Transport) acceptLoop() {
	const retry = 10 * time.Millisecond
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
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
		src := sourceOf(conn.RemoteAddr())
		if why := t.admit(src); why != "" {
			t.stats.refused.Add(1)
			conn.Close()
			if t.throttle.Allow("refused "+src, time.Now()) {
				t.log.Warn().Str("event", "conn_refused").Str("addr", conn.RemoteAddr().String()).Str("reason", why).
					Msg("inbound connection refused (further ones from this source are not logged for 10 s)")
			}
			continue
		}
		t.wg.Go(func() {
			defer t.release(src)
			t.readLoop(conn)
		})
	}
}

// sourceOf is the IP address part of a remote address.
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// admit counts a new inbound connection from src, or says which limit it is over.
func (t *Transport) admit(src string) string {
	t.connMu.Lock()
	defer t.connMu.Unlock()
	switch {
	case t.conns >= t.cfg.MaxConns:
		return fmt.Sprintf("%d inbound connections open, the limit", t.conns)
	case t.sources[src] >= t.cfg.MaxConnsPerSource:
		return fmt.Sprintf("%d inbound connections open from %s, the limit per source", t.sources[src], src)
	}
	t.conns++
	t.sources[src]++
	t.stats.inbound.Add(1)
	return ""
}

func (t *Transport) release(src string) {
	t.connMu.Lock()
	defer t.connMu.Unlock()
	t.conns--
	if t.sources[src]--; t.sources[src] <= 0 {
		delete(t.sources, src)
	}
	t.stats.inbound.Add(-1)
}

// verdict is what the reader does with one inbound frame.
type verdict uint8

const (
	deliver verdict = iota // pass the message to Deliver
	skip                   // a keepalive, or a message dropped with one debug line
	drop                   // a bad frame: close the connection
	refuse                 // a frame that did not authenticate: tell the sender, close
)

// inbound is one inbound connection's state, owned by its reader goroutine.
type inbound struct {
	t         *Transport
	log       zerolog.Logger
	addr, src string
	challenge []byte       // nil without a key
	frames    uint64       // frames read so far: the number of the next sealed frame minus one
	ready     bool         // a good frame arrived: the idle timeout applies, no longer the handshake deadline
	bound     codec.PeerID // the one sender this connection carries, once known
	plain     []byte       // scratch for opened frames
}

func newInbound(t *Transport, addr, src string) *inbound {
	c := &inbound{t: t, addr: addr, src: src, log: t.log.With().Str("addr", addr).Logger()}
	if t.cfg.Key != nil {
		c.challenge = make([]byte, challengeLen)
		rand.Read(c.challenge)
	}
	return c
}

// handle checks one frame's payload and decodes it. It returns the message
// to deliver, or nil with the verdict and, for drop and refuse, the reason.
// It never keeps payload.
func (c *inbound) handle(payload []byte) (codec.Message, verdict, error) {
	c.frames++
	key := c.t.cfg.Key
	var sender codec.PeerID // authenticated, with a key
	if key != nil {
		var ctxBuf [64]byte
		var err error
		sender, c.plain, err = key.Open(c.plain[:0], payload, sealContext(ctxBuf[:0], c.challenge, c.frames))
		if err != nil {
			return nil, refuse, err
		}
		payload = c.plain
		c.ready = true
		if c.bound == 0 && c.t.known(sender) {
			c.bound = sender
		}
	}
	if len(payload) == 0 { // keepalive
		c.ready = true
		return nil, skip, nil
	}
	m, err := codec.Unmarshal(payload)
	if err != nil {
		return nil, drop, err
	}
	from := m.Sender()
	switch {
	case key != nil && from != sender:
		return c.reject(m, "claims another sender than the key authenticated", sender)
	case key != nil && !c.t.known(sender):
		return c.reject(m, "sealed by a key holder not in the hostsfile", c.bound)
	case !c.t.known(from):
		return c.reject(m, "sender not in the hostsfile", c.bound)
	case c.bound != 0 && from != c.bound:
		return c.reject(m, "sender is not the connection's", c.bound)
	}
	c.bound, c.ready = from, true
	return m, deliver, nil
}

// reject drops one message with one debug line; the connection stays.
func (c *inbound) reject(m codec.Message, why string, conn codec.PeerID) (codec.Message, verdict, error) {
	c.t.stats.rejected.Add(1)
	c.log.Debug().Str("event", "message_rejected").Stringer("type", m.Type()).Uint32("from", uint32(m.Sender())).
		Uint32("conn_sender", uint32(conn)).Str("reason", why).Msg("message dropped")
	return nil, skip, nil
}

// known reports whether p is a peer of the hostsfile.
func (t *Transport) known(p codec.PeerID) bool {
	return p >= 1 && (t.cfg.Peers <= 0 || int(p) <= t.cfg.Peers)
}

// readLoop greets one inbound connection, then turns its frames into Deliver
// calls. Until a good frame arrives the connection must deliver one by the
// handshake deadline; after that it is closed when idle for IdleTimeout, and
// a frame's body must follow its header within FrameTimeout. It ends quietly
// on io.EOF and closes the connection on anything it cannot decode.
func (t *Transport) readLoop(conn net.Conn) {
	stop := context.AfterFunc(t.ctx, func() { conn.Close() })
	defer func() {
		stop()
		conn.Close()
	}()
	c := newInbound(t, conn.RemoteAddr().String(), sourceOf(conn.RemoteAddr()))
	log := c.log
	log.Debug().Str("event", "inbound_opened").Msg("inbound conn opened")
	handshakeEnd := time.Now().Add(t.cfg.HandshakeTimeout)
	conn.SetWriteDeadline(handshakeEnd)
	if err := WriteFrame(conn, appendHello(nil, c.challenge)); err != nil {
		log.Debug().Str("event", "inbound_lost").Err(err).Msg("greeting not sent")
		return
	}

	const keepBuf = 16 << 10 // a larger buffer is not kept after its frame
	br := bufio.NewReaderSize(conn, inboundBufferSize)
	var buf []byte
	var hdr [headerLen]byte
	for {
		limit := handshakeEnd
		if c.ready {
			limit = time.Now().Add(t.cfg.IdleTimeout)
		}
		conn.SetReadDeadline(limit)
		n, err := readHeader(br, t.cfg.MaxFrame, hdr[:])
		if err == nil {
			if end := time.Now().Add(t.cfg.FrameTimeout); c.ready || end.Before(limit) {
				limit = end
			}
			conn.SetReadDeadline(limit)
			buf, err = readBody(br, n, buf)
		}
		switch {
		case err == nil:
		case err == io.EOF || t.ctx.Err() != nil:
			log.Debug().Str("event", "inbound_closed").Msg("inbound conn closed")
			return
		case errors.Is(err, ErrFrameTooLarge):
			t.stats.badFrames.Add(1)
			log.Debug().Str("event", "bad_frame").Err(err).Msg("bad frame, closing conn")
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.stats.timedOut.Add(1)
			why := "idle"
			if !c.ready {
				why = "handshake"
			}
			log.Debug().Str("event", "inbound_timeout").Str("reason", why).Bool("in_frame", n > 0).
				Msg("inbound conn timed out, closing")
			return
		default:
			log.Debug().Str("event", "inbound_lost").Err(err).Msg("inbound conn lost")
			return
		}
		m, v, err := c.handle(buf)
		switch v {
		case deliver:
			t.stats.received.Add(1)
			t.cfg.Deliver(m)
		case skip:
		case drop:
			t.stats.badFrames.Add(1)
			log.Debug().Str("event", "bad_frame").Err(err).Msg("bad frame, closing conn")
			return
		case refuse:
			t.stats.authFailed.Add(1)
			if t.throttle.Allow("auth "+c.src, time.Now()) {
				log.Warn().Str("event", "auth_failed").Uint32("claimed_sender", uint32(claimed(buf))).
					Msg("inbound frame refused: wrong or missing cluster key at the sender (further failures from this source are not logged for 10 s)")
			}
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			WriteFrame(conn, appendRefused(nil, "cluster key mismatch: the frame did not open with its key (the two keys differ)"))
			return
		}
		if cap(buf) > keepBuf {
			buf = nil
		}
	}
}

// claimed is the unauthenticated sender id of a sealed frame, for logs.
func claimed(b []byte) codec.PeerID {
	p, _ := seal.Sender(b)
	return p
}
