package detector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"peer/codec"
	"peer/internal/lograte"
	"peer/seal"
)

var (
	// ErrConfig is returned by Listen for a Config it cannot run with.
	ErrConfig = errors.New("detector: bad config")
	// ErrNotHeartbeat is returned for a datagram that decodes to another message type.
	ErrNotHeartbeat = errors.New("detector: not a heartbeat")
	// ErrAuth is returned for a datagram that is not sealed with this peer's
	// key, or sealed while this peer has none.
	ErrAuth = errors.New("detector: heartbeat failed authentication")
	// ErrSender is returned for a heartbeat whose sender is not in the
	// hostsfile, or not the peer that sealed it.
	ErrSender = errors.New("detector: bad heartbeat sender")
)

// sealedMarker starts every sealed datagram; a plain one starts with the
// codec's type byte, so each side can tell what the other sends.
const sealedMarker = 0xC5

// heartbeatContext is prefixed to the associated data of a sealed heartbeat,
// followed by the receiver's id, so a heartbeat sealed for one peer is no
// good at another.
var heartbeatContext = []byte("peer/hb/1")

func sealContext(dst []byte, to codec.PeerID) []byte {
	return binary.BigEndian.AppendUint32(append(dst, heartbeatContext...), uint32(to))
}

const (
	// maxPacket bounds a datagram; a heartbeat is a few dozen bytes, and a
	// longer datagram is truncated to this and then fails to decode.
	maxPacket = 2048
)

// Config is what a Detector needs. Self, Interval, Addr and Suspect are required.
type Config struct {
	Self     codec.PeerID
	Interval time.Duration // heartbeat period T
	// Timeout is the silence after which a member is suspected; 0 means
	// 2*Interval (two consecutive heartbeats missed).
	Timeout    time.Duration
	ListenAddr string // UDP "host:port"; port 0 picks one
	// Addr is a peer's UDP address. It may be slow or fail while DNS is not
	// ready: it is called off the Run goroutine, a failure skips that peer
	// until the next round, and a success is cached until a send to it fails,
	// it is suspected or it leaves the view.
	Addr func(codec.PeerID) (*net.UDPAddr, error)
	// Suspect is called from Run's goroutine, once per silence of a watched member,
	// with the detector's state locked: it must only hand the event on.
	Suspect func(codec.PeerID)
	// Alive, if set, is called from the reader goroutine when a heartbeat
	// arrives from a member that Suspect reported: its silence is over.
	Alive func(codec.PeerID)
	// Heard, if set, is called from the reader goroutine when a heartbeat
	// carries a view id other than the one last given to SetView, or a
	// ballot other than the one last given to SetBallot, from members and
	// non-members alike, at most once per sender per Interval.
	Heard func(hb codec.Heartbeat)
	// Peers is the size of the hostsfile: heartbeats from senders outside
	// 1..Peers are dropped. 0 accepts any sender.
	Peers int
	// Key, if not nil, seals every heartbeat (see the package doc); a
	// datagram that does not open with it is dropped, and a heartbeat's
	// sequence number must grow even across a restart of its sender.
	Key *seal.Key
	// Logger carries peer_id; the detector adds component=detector.
	Logger zerolog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Self == 0 || c.Interval <= 0 || c.Addr == nil || c.Suspect == nil {
		return c, fmt.Errorf("%w: Self, a positive Interval, Addr and Suspect are required", ErrConfig)
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * c.Interval
	}
	if c.Heard == nil {
		c.Heard = func(codec.Heartbeat) {}
	}
	if c.Alive == nil {
		c.Alive = func(codec.PeerID) {}
	}
	return c, nil
}

// Stats are the Detector's counters since Listen, safe to read at any time.
type Stats struct {
	Sent       uint64 // heartbeats written, one per destination
	Received   uint64 // datagrams that decoded to a heartbeat
	Bad        uint64 // datagrams dropped because they were not a heartbeat, or from a sender not in the hostsfile
	AuthFailed uint64 // datagrams dropped because they did not open with the key (or were sealed while we have none)
	Stalls     uint64 // times Run itself could not run for longer than the timeout
}

// Detector sends heartbeats to the members of the current view and reports
// the ones that fall silent.
type Detector struct {
	cfg   Config
	log   zerolog.Logger
	conn  *net.UDPConn
	batch batchConn // conn, read and written a batch of datagrams per system call

	mu       sync.Mutex // guards change
	change   change
	changeCh chan struct{} // 1-buffered: a change is waiting for Run

	// lmu guards state, Run's, which the reader updates directly: a
	// heartbeat costs no hand-off between goroutines. state is nil while Run
	// is not running, and heartbeats that arrive then are dropped.
	lmu   sync.Mutex
	state *state

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // the reader

	sent, received, bad, authFailed, stalls atomic.Uint64

	plain    []byte           // the reader's scratch for opened datagrams
	throttle *lograte.Limiter // rate-limits auth_failed lines, per source

	// observed, when set by a test before Run, is called (under lmu) for
	// every heartbeat the state accepts.
	observed func(from codec.PeerID)
}

// Listen binds cfg.ListenAddr and starts the reader. Nothing is sent or
// watched until Run runs and SetView has been called.
func Listen(cfg Config) (*Detector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("detector: listen address %q: %w", cfg.ListenAddr, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("detector: udp %s is already in use by another process: %w", cfg.ListenAddr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("detector: listen on udp %s: %w", cfg.ListenAddr, err)
	}
	d := newDetector(cfg, conn)
	d.wg.Add(1)
	go d.read()
	return d, nil
}

// batchConn is conn as x/net sees it: recvmmsg and sendmmsg on Linux.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// newBatchConn wraps conn for batched reads and writes, as an IPv4 or an
// IPv6 socket (the message type is the same).
func newBatchConn(conn *net.UDPConn) batchConn {
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		return ipv4.NewPacketConn(conn)
	}
	return ipv6.NewPacketConn(conn)
}

// newDetector builds a Detector around conn without starting anything; conn
// may be nil in tests that never send.
func newDetector(cfg Config, conn *net.UDPConn) *Detector {
	var batch batchConn
	if conn != nil {
		batch = newBatchConn(conn)
	}
	return &Detector{
		batch:    batch,
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "detector").Logger(),
		conn:     conn,
		changeCh: make(chan struct{}, 1),
		closed:   make(chan struct{}),
		// One line per source per 10 s about datagrams with a wrong key.
		throttle: lograte.New(10 * time.Second),
	}
}

// LocalAddr is the bound UDP address (useful with port 0).
func (d *Detector) LocalAddr() *net.UDPAddr { return d.conn.LocalAddr().(*net.UDPAddr) }

// SetView tells the detector the current view: heartbeats go to members
// other than self, and those members are watched. It is safe from any
// goroutine and never blocks; Run applies the latest view it finds.
func (d *Detector) SetView(id codec.ViewID, members []codec.PeerID) {
	d.mu.Lock()
	d.change.view, d.change.members, d.change.viewSet = id, append([]codec.PeerID(nil), members...), true
	d.mu.Unlock()
	d.poke()
}

// SetBallot tells the detector the ballot this peer follows, which every
// heartbeat carries from the next round on. It is safe from any goroutine
// and never blocks.
func (d *Detector) SetBallot(epoch uint64, leader codec.PeerID) {
	d.mu.Lock()
	d.change.epoch, d.change.leader = epoch, leader
	d.mu.Unlock()
	d.poke()
}

// Rewatch makes the detector watch members afresh that it reported silent:
// the node found them alive, so a new silence is reported again. It is safe
// from any goroutine and never blocks; Run applies it after the latest view.
func (d *Detector) Rewatch(members []codec.PeerID) {
	d.mu.Lock()
	d.change.rewatch = append(d.change.rewatch, members...)
	d.mu.Unlock()
	d.poke()
}

func (d *Detector) poke() {
	select {
	case d.changeCh <- struct{}{}:
	default: // a poke is already waiting; Run reads the latest state
	}
}

// change is what SetView, SetBallot and Rewatch leave for Run.
type change struct {
	view    codec.ViewID
	members []codec.PeerID
	viewSet bool
	epoch   uint64 // the ballot
	leader  codec.PeerID
	rewatch []codec.PeerID // members to watch afresh, after the view
}

// pending returns the view and ballot last given and takes the members
// waiting to be watched afresh.
func (d *Detector) pending() change {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.change
	d.change.rewatch = nil
	return c
}

// Stats returns the counters.
func (d *Detector) Stats() Stats {
	return Stats{Sent: d.sent.Load(), Received: d.received.Load(), Bad: d.bad.Load(),
		AuthFailed: d.authFailed.Load(), Stalls: d.stalls.Load()}
}

// Close closes the socket and waits for the reader; Run returns too. It is
// safe to call more than once.
func (d *Detector) Close() error {
	d.closeOnce.Do(func() {
		close(d.closed)
		if err := d.conn.Close(); err != nil {
			d.closeErr = fmt.Errorf("detector: close: %w", err)
		}
		d.wg.Wait()
	})
	return d.closeErr
}

// readBatch is how many datagrams the reader takes in one system call: a
// round's heartbeats arrive in one burst (rounds start on the same
// wall-clock boundary at every peer), so one wake-up reads most of them.
const readBatch = 64

// read decodes the datagrams, a batch per system call, and records their
// heartbeats in Run's state, taking its lock once per batch.
func (d *Detector) read() {
	defer d.wg.Done()
	msgs := make([]ipv4.Message, readBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, maxPacket)}
	}
	hbs := make([]codec.Heartbeat, readBatch)
	for {
		n, err := d.batch.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Debug().Str("event", "read_failed").Err(err).Msg("udp read failed")
			continue
		}
		k := 0
		for _, m := range msgs[:n] {
			if dropInbound() {
				continue
			}
			from, _ := m.Addr.(*net.UDPAddr)
			if d.handlePacket(m.Buffers[0][:m.N], from, &hbs[k]) {
				k++
			}
		}
		if k > 0 {
			d.accept(hbs[:k], time.Now())
		}
	}
}

// accept records heartbeats in Run's state, then makes the calls to
// Config.Alive and Config.Heard they are due, outside the lock.
func (d *Detector) accept(hbs []codec.Heartbeat, now time.Time) {
	type call struct {
		hb           *codec.Heartbeat
		heard, alive bool
	}
	var calls [readBatch]call
	k := 0
	d.lmu.Lock()
	if d.state != nil {
		for i := range hbs {
			if heard, alive := d.state.receive(&hbs[i], now); heard || alive {
				calls[k] = call{&hbs[i], heard, alive}
				k++
			}
		}
	}
	d.lmu.Unlock()
	for _, c := range calls[:k] {
		if c.alive {
			d.cfg.Alive(c.hb.From)
		}
		if c.heard {
			d.cfg.Heard(*c.hb)
		}
	}
}

// handlePacket checks and decodes one datagram into hb and reports whether
// it held a heartbeat; anything else is counted and dropped with one debug
// line.
func (d *Detector) handlePacket(b []byte, from *net.UDPAddr, hb *codec.Heartbeat) bool {
	err := d.open(b, hb)
	if errors.Is(err, ErrAuth) {
		d.authFailed.Add(1)
		src := ""
		if from != nil {
			src = from.IP.String()
		}
		if d.throttle.Allow(src, time.Now()) {
			d.log.Warn().Str("event", "auth_failed").Stringer("addr", from).Err(err).
				Msg("heartbeat refused: wrong or missing cluster key (further failures from this source are not logged for 10 s)")
		}
		return false
	}
	if err != nil {
		d.bad.Add(1)
		d.log.Debug().Str("event", "bad_packet").Stringer("addr", from).Int("size", len(b)).Err(err).Msg("dropped datagram")
		return false
	}
	d.received.Add(1)
	return true
}

// open checks and decodes one datagram into hb: with a key it must be sealed
// by the heartbeat's sender for this peer, without one it must not be
// sealed; the sender must be in the hostsfile. It runs on the reader
// goroutine.
func (d *Detector) open(b []byte, hb *codec.Heartbeat) error {
	sealed := len(b) > 0 && b[0] == sealedMarker
	key := d.cfg.Key
	switch {
	case key == nil && sealed:
		return fmt.Errorf("%w: sealed, but this peer has no cluster key", ErrAuth)
	case key != nil && !sealed:
		return fmt.Errorf("%w: not sealed: the sender has no cluster key", ErrAuth)
	}
	var sender codec.PeerID
	if key != nil {
		var ctx [32]byte
		var err error
		sender, d.plain, err = key.Open(d.plain[:0], b[1:], sealContext(ctx[:0], d.cfg.Self))
		if err != nil {
			return fmt.Errorf("%w: the sender has a different cluster key, or it is not for this peer", ErrAuth)
		}
		b = d.plain
	}
	err := decodePacket(b, hb)
	switch {
	case err != nil:
		return err
	case key != nil && hb.From != sender:
		return fmt.Errorf("%w: heartbeat of %d sealed by %d", ErrSender, hb.From, sender)
	case d.cfg.Peers > 0 && int(hb.From) > d.cfg.Peers:
		return fmt.Errorf("%w: %d is not in the hostsfile", ErrSender, hb.From)
	}
	return nil
}

// decodePacket decodes one plain datagram into hb; anything but a valid
// heartbeat is an error.
func decodePacket(b []byte, hb *codec.Heartbeat) error {
	if err := codec.DecodeHeartbeat(b, hb); err != nil {
		if len(b) > 0 && codec.Type(b[0]) != codec.TypeHeartbeat && codec.New(codec.Type(b[0])) != nil {
			return fmt.Errorf("%w: %v", ErrNotHeartbeat, codec.Type(b[0]))
		}
		return fmt.Errorf("detector: decode: %w", err)
	}
	return nil
}
