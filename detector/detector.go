package detector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
)

var (
	// ErrConfig is returned by Listen for a configuration it cannot use.
	ErrConfig = errors.New("detector: bad config")
	// ErrNotHeartbeat is returned for a datagram that is not a heartbeat.
	ErrNotHeartbeat = errors.New("detector: not a heartbeat")
)

// maxPacket bounds a datagram; a heartbeat is a few dozen bytes.
const maxPacket = 2048

// Config is what a Detector needs.
type Config struct {
	Self       codec.PeerID
	Interval   time.Duration // heartbeat period T
	Timeout    time.Duration // silence that makes a member suspect; 0 means 2*Interval
	ListenAddr string        // UDP "host:port"
	// Addr is a peer's UDP address. An error (DNS not ready) skips that peer
	// for this round.
	Addr func(codec.PeerID) (*net.UDPAddr, error)
	// Suspect is called from Run's goroutine, once per silence.
	Suspect func(codec.PeerID)
	// Heard is called from Run's goroutine when a heartbeat carries a view id
	// other than the current one, at most once per sender per Interval.
	Heard  func(from codec.PeerID, view codec.ViewID)
	Logger zerolog.Logger
}

// Stats are counters, safe to read at any time.
type Stats struct {
	Sent, Received, Bad, Stalls uint64
}

// Detector sends heartbeats and watches the members of the current view.
type Detector struct {
	cfg  Config
	log  zerolog.Logger
	conn *net.UDPConn

	mu      sync.Mutex // guards view, members, viewSet
	view    codec.ViewID
	members []codec.PeerID
	viewSet bool
	viewCh  chan struct{} // 1-buffered poke: a new view is waiting

	packets chan *codec.Heartbeat
	closed  chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	sent, received, bad, stalls atomic.Uint64
}

// Listen binds the UDP socket and starts reading; nothing is sent until Run
// runs and SetView has been called.
func Listen(cfg Config) (*Detector, error) {
	if cfg.Interval <= 0 || cfg.Addr == nil || cfg.Suspect == nil {
		return nil, fmt.Errorf("%w: need Interval, Addr and Suspect", ErrConfig)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * cfg.Interval
	}
	if cfg.Heard == nil {
		cfg.Heard = func(codec.PeerID, codec.ViewID) {}
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("detector: listen address %q: %w", cfg.ListenAddr, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	d := &Detector{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "detector").Logger(),
		conn:    conn,
		viewCh:  make(chan struct{}, 1),
		packets: make(chan *codec.Heartbeat, 256),
		closed:  make(chan struct{}),
	}
	d.wg.Add(1)
	go d.read()
	return d, nil
}

// LocalAddr is the bound UDP address.
func (d *Detector) LocalAddr() net.Addr { return d.conn.LocalAddr() }

// SetView tells the detector the current view. It never blocks.
func (d *Detector) SetView(id codec.ViewID, members []codec.PeerID) {
	d.mu.Lock()
	d.view, d.members, d.viewSet = id, append([]codec.PeerID(nil), members...), true
	d.mu.Unlock()
	select {
	case d.viewCh <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (d *Detector) Stats() Stats {
	return Stats{Sent: d.sent.Load(), Received: d.received.Load(), Bad: d.bad.Load(), Stalls: d.stalls.Load()}
}

// Close closes the socket and waits for the reader; Run returns too.
func (d *Detector) Close() error {
	var err error
	d.once.Do(func() {
		close(d.closed)
		err = d.conn.Close()
		d.wg.Wait()
	})
	return err
}

// read decodes datagrams and forwards heartbeats to Run.
func (d *Detector) read() {
	defer d.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, from, err := d.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Debug().Str("event", "read_failed").Err(err).Msg("udp read failed")
			continue
		}
		hb, err := DecodePacket(buf[:n])
		if err != nil {
			d.bad.Add(1)
			d.log.Debug().Str("event", "bad_packet").Stringer("addr", from).Err(err).Msg("dropped datagram")
			continue
		}
		d.received.Add(1)
		select {
		case d.packets <- hb:
		case <-d.closed:
			return
		default: // Run is behind: a heartbeat can be lost like any datagram
		}
	}
}

// DecodePacket decodes one datagram; anything but a heartbeat is an error.
func DecodePacket(b []byte) (*codec.Heartbeat, error) {
	m, err := codec.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	hb, ok := m.(*codec.Heartbeat)
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrNotHeartbeat, m.Type())
	}
	return hb, nil
}

// Run sends heartbeats and reports silent members until ctx ends or the
// detector is closed.
func (d *Detector) Run(ctx context.Context) error {
	ticker := time.NewTicker(d.cfg.Interval)
	defer ticker.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	tr := NewTracker(d.cfg.Self, d.cfg.Timeout)
	var (
		view     codec.ViewID
		members  []codec.PeerID
		active   bool
		lastRun  = time.Now()
		lastSeq  = map[codec.PeerID]uint64{}
		lastHint = map[codec.PeerID]time.Time{}
		lastSelf time.Time
		// Seq starts at the wall clock so that a restarted peer's heartbeats
		// are newer than its previous life's.
		seq = uint64(time.Now().UnixNano())
	)
	send := func() {
		if !active {
			return
		}
		seq++
		b, err := codec.Marshal(&codec.Heartbeat{From: d.cfg.Self, ViewID: view, Seq: seq})
		if err != nil {
			d.log.Error().Str("event", "encode_failed").Err(err).Msg("heartbeat not encoded")
			return
		}
		for _, p := range members {
			if p == d.cfg.Self {
				continue
			}
			addr, err := d.cfg.Addr(p)
			if err != nil {
				d.log.Debug().Str("event", "no_address").Uint32("peer", uint32(p)).Err(err).Msg("heartbeat skipped")
				continue
			}
			if _, err := d.conn.WriteToUDP(b, addr); err != nil {
				d.log.Debug().Str("event", "send_failed").Uint32("peer", uint32(p)).Err(err).Msg("heartbeat not sent")
				continue
			}
			d.sent.Add(1)
		}
	}
	for {
		if next, ok := tr.NextDeadline(); ok {
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Stop()
		}
		var hb *codec.Heartbeat
		ticked := false
		select {
		case <-ctx.Done():
			return nil
		case <-d.closed:
			return nil
		case <-d.viewCh:
		case <-ticker.C:
			ticked = true
		case hb = <-d.packets:
		case <-timer.C:
		}
		now := time.Now()
		if gap := now.Sub(lastRun); gap > d.cfg.Timeout && active {
			// We could not run for longer than the timeout: silences measured
			// across that gap are our own, not the members'.
			d.stalls.Add(1)
			tr.Refresh(now)
			d.log.Warn().Str("event", "detector_stalled").Dur("gap", gap).Msg("did not run for longer than the timeout; every member gets a fresh grace period")
		}
		lastRun = now

		d.mu.Lock()
		changed := d.viewSet && (!active || d.view != view || !slices.Equal(d.members, members))
		if changed {
			view, members, active = d.view, d.members, true
		}
		d.mu.Unlock()
		if changed {
			tr.SetMembers(members, now)
			send() // new members hear from us at once
		}
		if ticked {
			send()
		}
		if hb != nil {
			d.observe(tr, hb, now, view, lastSeq, lastHint, &lastSelf)
		}
		for _, p := range tr.Expired(now) {
			d.log.Info().Str("event", "peer_suspected").Uint32("peer", uint32(p)).Dur("timeout", d.cfg.Timeout).Msg("no heartbeat within the timeout")
			d.cfg.Suspect(p)
		}
	}
}

func (d *Detector) observe(tr *Tracker, hb *codec.Heartbeat, now time.Time, view codec.ViewID,
	lastSeq map[codec.PeerID]uint64, lastHint map[codec.PeerID]time.Time, lastSelf *time.Time) {
	if hb.From == d.cfg.Self {
		if now.Sub(*lastSelf) > 10*d.cfg.Interval {
			*lastSelf = now
			d.log.Error().Str("event", "duplicate_id").Uint32("peer", uint32(hb.From)).
				Msg("another process sends heartbeats with this peer's id")
		}
		return
	}
	if hb.Seq <= lastSeq[hb.From] {
		return // a late, duplicated or replayed datagram
	}
	if len(lastSeq) >= codec.MaxMembers { // senders are hostile until proven otherwise: bound the maps
		clear(lastSeq)
		clear(lastHint)
	}
	lastSeq[hb.From] = hb.Seq
	tr.Observe(hb.From, now)
	if hb.ViewID != view && now.Sub(lastHint[hb.From]) >= d.cfg.Interval {
		lastHint[hb.From] = now
		d.cfg.Heard(hb.From, hb.ViewID)
	}
}
