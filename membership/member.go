package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
	"peer/detector"
	"peer/hosts"
	"peer/node"
	"peer/wire"
)

// View is one installed view of the group: its id, its leader and its
// members in increasing order. Each View a Member hands out is its own copy.
type View struct {
	ID      ViewID
	Leader  PeerID
	Members []PeerID
}

// Has reports whether p is a member.
func (v View) Has(p PeerID) bool {
	_, ok := slices.BinarySearch(v.Members, p)
	return ok
}

// String reads "view 2: leader 1, members [1,2]".
func (v View) String() string {
	return "view " + strconv.FormatUint(uint64(v.ID), 10) + ": leader " + strconv.FormatUint(uint64(v.Leader), 10) +
		", members [" + codec.FormatIDs(v.Members) + "]"
}

func viewOf(v node.View) View {
	return View{ID: v.ID, Leader: v.Leader, Members: slices.Clone(v.Members)}
}

// Reason says why a member stopped.
type Reason string

const (
	Running Reason = ""        // it has not stopped
	Removed Reason = "removed" // the group removed it while it ran (and Rejoin was off)
	Left    Reason = "left"    // Leave: the group removed it at its request, or the bounded wait ran out
	Crashed Reason = "crashed" // CrashAfter or TestCase4 ended it on purpose, after "crashing"
	Closed  Reason = "closed"  // Close, or the context given to Start ended
	Failed  Reason = "failed"  // the protocol stopped with an error (Err)
)

// ViewBuffer is how many installed views Views holds for a reader that has
// not received them yet.
const ViewBuffer = 64

// ticksPerRetry: ticks drive retransmissions and probe deadlines; a few per
// retry period keep them prompt.
const ticksPerRetry = 4

type state uint8

const (
	idle    state = iota // sockets bound, the protocol not started
	running              // Start ran
	stopped              // finished, or finishing
)

// Member is one running peer of a group. Its methods are safe for
// concurrent use.
type Member struct {
	self   PeerID
	file   *hosts.File
	log    zerolog.Logger
	net    *wire.Transport
	det    *detector.Detector
	http   *http.Server // the status server, nil when off
	status string       // its bound address
	runner *node.Runner
	inputs chan node.Input

	quit  chan struct{} // closed when the loop has ended: the readers stop pushing
	done  chan struct{} // closed once everything has stopped
	views chan View
	last  atomic.Pointer[View]
	lost  atomic.Uint64 // views dropped from a full Views channel
	wg    sync.WaitGroup

	mu     sync.Mutex
	state  state
	ctx    context.Context // the run's (running), ends when it stops
	cancel context.CancelFunc
	reason Reason
	err    error
}

// Start is Listen followed by Member.Start: it binds the sockets and starts
// the protocol. The member runs until it stops by itself (Done), Leave or
// Close, or ctx ends (then it stops at once, as with Close).
func Start(ctx context.Context, cfg Config) (*Member, error) {
	m, err := Listen(cfg)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Listen checks cfg, reads the group and binds this peer's TCP and UDP
// sockets (and the status address): a port in use is an error now. The
// protocol does not start until Member.Start; messages that arrive before
// wait. Close releases a member that never starts.
func Listen(cfg Config) (*Member, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	cfg = s.cfg
	m := &Member{
		self:   s.self,
		file:   s.file,
		log:    cfg.Logger.With().Uint32("peer_id", uint32(s.self)).Logger(),
		inputs: make(chan node.Input, 1024),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		views:  make(chan View, ViewBuffer),
	}
	push := func(in node.Input) {
		select {
		case m.inputs <- in:
		case <-m.quit:
		}
	}
	resolver := hosts.NewResolver(s.file, cfg.Port, cfg.Port, nil)
	listen := s.entry.ListenAddr(cfg.Port)
	m.net, err = wire.Listen(wire.Config{
		Self:       s.self,
		ListenAddr: listen,
		Addr:       resolver.TCPAddr,
		Deliver:    func(msg codec.Message) { push(node.Receive{Msg: msg}) },
		OnRefused:  func(p codec.PeerID) { push(node.Refused{Peer: p}) },
		Peers:      s.file.Len(),
		Key:        cfg.Key,
		Logger:     m.log,
	})
	if err != nil {
		return nil, err
	}
	m.det, err = detector.Listen(detector.Config{
		Self:       s.self,
		Interval:   cfg.HeartbeatInterval,
		Timeout:    cfg.HeartbeatTimeout,
		ListenAddr: listen,
		Addr:       resolver.UDPAddr,
		Suspect: func(p codec.PeerID) {
			resolver.Forget(p) // a silent peer may have moved: look its name up again
			push(node.Suspect{Peer: p})
		},
		Alive: func(p codec.PeerID) { push(node.Alive{Peer: p}) },
		Heard: func(hb codec.Heartbeat) {
			push(node.Heard{Peer: hb.From, ViewID: hb.ViewID, Epoch: hb.Epoch, EpochLeader: hb.EpochLeader})
		},
		Peers:  s.file.Len(),
		Key:    cfg.Key,
		Logger: m.log,
	})
	if err != nil {
		m.net.Close()
		return nil, err
	}
	if s.status != "" {
		ln, err := net.Listen("tcp", s.status)
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf("membership: status address %s: already in use by another process: %w", s.status, err)
		} else if err != nil {
			err = fmt.Errorf("membership: status address %s: %w", s.status, err)
		}
		if err != nil {
			m.det.Close()
			m.net.Close()
			return nil, err
		}
		m.status = ln.Addr().String()
		m.serveStatus(ln)
	}

	tick := cfg.RetryPeriod / ticksPerRetry
	n := node.New(node.Config{
		Self:       s.self,
		Peers:      s.file.Len(),
		Leader:     s.self == 1 && !cfg.Join,
		RetryTicks: ticksPerRetry,
		ProbeTicks: int(max(1, (cfg.ProbeTimeout+tick-1)/tick)),
		Rejoin:     cfg.Rejoin,
		FastFail:   cfg.FastFail,
		// The start time tells this process from the earlier and later
		// ones with the same id.
		Incarnation: uint64(time.Now().UnixNano()),
		Logger:      m.log,
	})
	testCase4 := cfg.TestCase4
	m.runner = node.NewRunner(node.Runner{
		Node:       n,
		Net:        m.net,
		Detector:   m.det,
		Stderr:     cfg.Stderr,
		Tick:       tick,
		CrashAfter: cfg.CrashAfter,
		Log:        m.log,
		OnView: func(v node.View) {
			m.installed(viewOf(v))
			// TestCase4: once this peer leads a view of every host, run it.
			if testCase4 && v.Leader == s.self && len(v.Members) == s.file.Len() {
				select {
				case m.inputs <- node.TestCase4{}:
				default: // only under overload; the next such view tries again
				}
			}
		},
	})
	ev := m.log.Info().Str("event", "listening").Str("addr", listen).Int("hosts", s.file.Len()).
		Dur("hb_interval", cfg.HeartbeatInterval).Dur("hb_timeout", cfg.HeartbeatTimeout).
		Dur("probe_timeout", cfg.ProbeTimeout).Bool("sealed", cfg.Key != nil)
	if m.status != "" {
		ev = ev.Str("status_addr", m.status)
	}
	ev.Msg("listening")
	return m, nil
}

// Start starts the protocol: peer 1 installs view 1 alone (unless
// Config.Join), any other peer asks to join. The member runs until it stops
// by itself (Done), Leave or Close, or ctx ends (then it stops at once, as
// with Close). Start returns at once; a second call returns ErrStarted, and
// a call after the member stopped ErrStopped.
func (m *Member) Start(ctx context.Context) error {
	m.mu.Lock()
	switch m.state {
	case running:
		m.mu.Unlock()
		return ErrStarted
	case stopped:
		m.mu.Unlock()
		return ErrStopped
	}
	m.state = running
	m.ctx, m.cancel = context.WithCancel(ctx)
	ctx = m.ctx
	m.mu.Unlock()

	m.wg.Go(func() {
		if err := m.det.Run(ctx); err != nil && ctx.Err() == nil {
			m.log.Error().Str("event", "detector_failed").Err(err).Msg("detector stopped")
		}
	})
	go func() {
		exit, err := m.runner.Run(ctx, m.inputs)
		switch {
		case err != nil:
			m.finish(Closed, nil)
		case exit.Code != 0:
			m.finish(Failed, fmt.Errorf("membership: the protocol stopped (%s) with code %d", exit.Reason, exit.Code))
		default:
			m.finish(reasonOf(exit.Reason), nil)
		}
	}()
	return nil
}

// reasonOf reads a node.Exit's reason.
func reasonOf(s string) Reason {
	switch s {
	case "removed":
		return Removed
	case "left":
		return Left
	case "crash flag", "testcase 4":
		return Crashed
	}
	return Reason(s)
}

// finish releases everything, once the loop has ended or never ran.
func (m *Member) finish(r Reason, err error) {
	m.mu.Lock()
	m.state = stopped
	cancel := m.cancel
	m.mu.Unlock()
	close(m.quit) // first: readers blocked on a full queue return before their sockets close
	if cancel != nil {
		cancel()
	}
	if m.http != nil {
		m.http.Close()
	}
	m.wg.Wait()
	m.det.Close()
	m.net.Close()
	m.mu.Lock()
	m.reason, m.err = r, err
	m.mu.Unlock()
	close(m.views)
	close(m.done)
}

// installed keeps v as the current view and offers it to Views. It runs on
// the loop's goroutine and never blocks: when the channel is full, the
// oldest view in it makes room.
func (m *Member) installed(v View) {
	m.last.Store(&v)
	for {
		select {
		case m.views <- v:
			return
		default:
		}
		select {
		case <-m.views:
			if n := m.lost.Add(1); n&(n-1) == 0 { // the 1st, 2nd, 4th, 8th... drop
				m.log.Warn().Str("event", "views_dropped").Uint64("dropped", n).
					Msg("the reader of Views is slow: dropped the oldest unread view")
			}
		default:
		}
	}
}

// ID is this peer's id.
func (m *Member) ID() PeerID { return m.self }

// Hosts is the group as read at Listen, one entry per peer.
func (m *Member) Hosts() *hosts.File { return m.file }

// StatusAddr is the address the status endpoint listens on, "" when
// Config.StatusAddr was empty.
func (m *Member) StatusAddr() string { return m.status }

// View is the view this peer installed last (ID 0 before the first). It
// does not wait for the loop: the member keeps a copy of each view.
func (m *Member) View() View {
	v := m.last.Load()
	if v == nil {
		return View{}
	}
	return View{ID: v.ID, Leader: v.Leader, Members: slices.Clone(v.Members)}
}

// Views delivers every view this peer installs, in order. It is the same
// channel at every call, closed once the member has stopped. The loop never
// waits for the reader: the channel holds the last ViewBuffer views not yet
// received, and when another is installed the oldest unread one is dropped
// (the reader sees a gap in view ids; View always has the latest).
func (m *Member) Views() <-chan View { return m.views }

// Status asks the protocol's loop for this peer's state. It fails with
// ErrNotStarted before Start, ErrStopped once the member stops, and ctx's
// error if ctx ends first (a loop stalled that long).
func (m *Member) Status(ctx context.Context) (Status, error) {
	m.mu.Lock()
	st, run := m.state, m.ctx
	m.mu.Unlock()
	switch st {
	case idle:
		return Status{}, ErrNotStarted
	case stopped:
		return Status{}, ErrStopped
	}
	ask, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(run, cancel)()
	s, err := m.runner.Status(ask)
	switch {
	case err == nil:
		return statusOf(m.self, s), nil
	case ctx.Err() == nil:
		return Status{}, ErrStopped
	}
	return Status{}, err
}

// Leave leaves the group gracefully: the peer asks to be removed, and the
// leader removes it with an ordinary view change that no one reports as a
// failure (a leader hands over first, at once). Leave returns once the
// member has stopped: removed, or after a bounded wait (about twice the
// probe timeout) if the group does not answer. If ctx ends first the member
// stops at once, as with Close, and Leave returns ctx's error. A member
// that never started just stops.
func (m *Member) Leave(ctx context.Context) error {
	m.mu.Lock()
	st := m.state
	if st == idle {
		m.state = stopped
	}
	m.mu.Unlock()
	switch st {
	case idle:
		m.finish(Left, nil)
		return nil
	case running:
		select {
		case m.inputs <- node.Leave{}:
		case <-m.quit:
		case <-ctx.Done():
			m.Close()
			return ctx.Err()
		}
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		m.Close()
		return ctx.Err()
	}
}

// Close stops the member at once, telling no one: the others find it gone
// as they find a crash. It returns once every socket is closed. Closing a
// stopped member does nothing.
func (m *Member) Close() error {
	m.mu.Lock()
	st, cancel := m.state, m.cancel
	if st == idle {
		m.state = stopped
	}
	m.mu.Unlock()
	switch st {
	case idle:
		m.finish(Closed, nil)
	case running:
		cancel()
	}
	<-m.done
	return nil
}

// Done is closed once the member has stopped and released its sockets;
// Reason then says why.
func (m *Member) Done() <-chan struct{} { return m.done }

// Reason says why the member stopped (Running until Done is closed).
func (m *Member) Reason() Reason {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reason
}

// Err is the error the member stopped with (Reason Failed), else nil.
func (m *Member) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}
