package membership

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
	"peer/hosts"
	"peer/seal"
)

// PeerID is a peer's id: its 1-based position in the hostsfile or in
// Config.Addrs. Peer 1 starts the group.
type PeerID = codec.PeerID

// ViewID numbers the group's views: 1 for the first, then one more for
// each change.
type ViewID = codec.ViewID

// Defaults of Config, the same as peer's flags.
const (
	DefaultPort              = 7000
	DefaultHeartbeatInterval = 500 * time.Millisecond

	// MinDefaultProbeTimeout is the shortest default ProbeTimeout. A live
	// peer answers a probe within a round trip, but one that is only slow
	// (a busy machine, a start-up storm) must not be taken for failed; a
	// killed peer's connection is refused at once, whatever the wait.
	MinDefaultProbeTimeout = time.Second
)

// Errors.
var (
	// ErrConfig is wrapped by every error Listen and Start return for a
	// configuration that cannot work (a missing or bad hostsfile, an id out
	// of range, a bad timing or status address). Such an error reads as the
	// problem alone: a hostsfile's error reads as package hosts wrote it.
	ErrConfig     = errors.New("membership: bad configuration")
	ErrStarted    = errors.New("membership: already started")
	ErrNotStarted = errors.New("membership: not started")
	ErrStopped    = errors.New("membership: stopped")
)

// Config is everything a member needs. The group is given by HostsFile or by
// Addrs, exactly one of them; every peer of a group must be given the same
// list. The zero value of every other field means its default.
type Config struct {
	// HostsFile is the path of a hostsfile: one "host" or "host:port" per
	// line, '#' comments (package hosts). Read once, by Listen.
	HostsFile string
	// Addrs lists the peers instead, one "host" or "host:port" each, peer 1
	// first.
	Addrs []string
	// Port is the TCP and UDP port of every entry that gives none. Default
	// DefaultPort.
	Port int
	// ID is this peer's id. 0 picks the one entry whose host is Hostname.
	ID int
	// Hostname is matched to the entries when ID is 0. Default
	// os.Hostname(), as in the course's containers.
	Hostname string
	// Join makes peer 1 join a group that is already running instead of
	// starting one. Every other peer always joins.
	Join bool

	// HeartbeatInterval is the heartbeat period T. Default
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is the silence after which a member is suspected and
	// checked over TCP. Default 2*HeartbeatInterval.
	HeartbeatTimeout time.Duration
	// RetryPeriod is how long an unanswered JOIN, REQ, NEWLEADER or probe
	// waits before it is sent again. Default HeartbeatInterval.
	RetryPeriod time.Duration
	// ProbeTimeout is how long a suspected member has to answer the probe
	// before it has failed; a refused connection fails at once. Default
	// HeartbeatTimeout+RetryPeriod, at least MinDefaultProbeTimeout.
	ProbeTimeout time.Duration

	// Key, if not nil, is the cluster key: every frame and heartbeat is
	// sealed with it, and every peer needs the same one (package seal).
	Key *seal.Key
	// Rejoin makes a peer that the group removed while it ran join again
	// instead of stopping.
	Rejoin bool
	// FastFail makes a refused connection to a member a failure at once,
	// without waiting for the heartbeat timeout.
	FastFail bool

	// StatusAddr, if not empty, serves GET /status (JSON, see Status) here.
	// Forms: "host:port"; ":port" (on 127.0.0.1); "+N" (127.0.0.1, this
	// peer's own port plus N, so the peers of one loopback hostsfile each
	// get their own); "host+N". Port 0 picks a free one (Member.StatusAddr
	// tells which). Only loopback unless a host says otherwise.
	StatusAddr string

	// Logger receives the structured log; the member adds peer_id to it,
	// and each part its component. The zero value logs nothing.
	Logger zerolog.Logger
	// Stderr receives the assignment's lines (views, unreachable peers,
	// crashing), one write per line. Nil discards them.
	Stderr io.Writer

	// CrashAfter is the course's -c option, for its testcases only: this
	// long after Start the peer prints "crashing" and stops at once,
	// telling no one.
	CrashAfter time.Duration
	// TestCase4 is the course's -t option, for its testcases only: once
	// this peer leads a view of every peer, it deletes the highest id,
	// sends that REQ to every member but the next leader, prints
	// "crashing" and stops.
	TestCase4 bool
}

// setup is a checked Config with its defaults, and the group it names.
type setup struct {
	cfg    Config
	file   *hosts.File
	self   PeerID
	entry  hosts.Entry
	status string // where the status endpoint listens, "" when off
}

// configError is a configuration problem: errors.Is(err, ErrConfig) holds
// and it reads as err.
type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{e.err, ErrConfig} }

func badConfig(format string, args ...any) error {
	return configError{fmt.Errorf("membership: "+format, args...)}
}

// resolve checks c, fills in the defaults and reads the group.
func (c Config) resolve() (setup, error) {
	var s setup
	switch {
	case (c.HostsFile == "") == (len(c.Addrs) == 0):
		return s, badConfig("set one of Config.HostsFile and Config.Addrs")
	case c.Port < 0 || c.Port > 65535:
		return s, badConfig("Config.Port %d: want 1..65535", c.Port)
	case c.ID < 0:
		return s, badConfig("Config.ID %d: ids start at 1", c.ID)
	case c.HeartbeatInterval < 0 || c.HeartbeatTimeout < 0 || c.RetryPeriod < 0 || c.ProbeTimeout < 0:
		return s, badConfig("negative timing in Config: interval %v, timeout %v, retry %v, probe timeout %v",
			c.HeartbeatInterval, c.HeartbeatTimeout, c.RetryPeriod, c.ProbeTimeout)
	case c.CrashAfter < 0:
		return s, badConfig("Config.CrashAfter %v: must not be negative", c.CrashAfter)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 2 * c.HeartbeatInterval
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = c.HeartbeatInterval
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = max(c.HeartbeatTimeout+c.RetryPeriod, MinDefaultProbeTimeout)
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	status, err := ParseStatusAddr(c.StatusAddr)
	if err != nil && c.StatusAddr != "" {
		return s, configError{err}
	}
	if c.HostsFile != "" {
		s.file, err = hosts.Load(c.HostsFile)
	} else {
		s.file, err = parseAddrs(c.Addrs)
	}
	if err != nil {
		return s, configError{err}
	}
	if c.ID == 0 && c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if s.self, err = s.file.Self(c.ID, c.Hostname); err != nil {
		return s, configError{err}
	}
	s.entry, _ = s.file.Entry(s.self)
	if c.StatusAddr != "" {
		if s.status, err = status.Listen(s.entry, c.Port); err != nil {
			return s, configError{err}
		}
	}
	s.cfg = c
	return s, nil
}

// parseAddrs reads Config.Addrs as the lines of a hostsfile; an error names
// the entry's position (its peer id) as a line number.
func parseAddrs(addrs []string) (*hosts.File, error) {
	for i, a := range addrs {
		if strings.TrimSpace(a) == "" || strings.ContainsAny(a, "#\r\n") {
			return nil, fmt.Errorf("membership: Config.Addrs[%d] %q: want host or host:port", i, a)
		}
	}
	f, err := hosts.Parse(strings.NewReader(strings.Join(addrs, "\n")))
	var he *hosts.Error
	if errors.As(err, &he) {
		he.Path = "Config.Addrs"
	}
	return f, err
}
