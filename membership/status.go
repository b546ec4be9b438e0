package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"peer/hosts"
	"peer/node"
)

// Status is what a peer reports about itself: Member.Status returns it, and
// GET /status on the status address answers it as JSON. Lists are never
// null; Pending is null when nothing is pending.
type Status struct {
	ID   PeerID `json:"id"`
	Role string `json:"role"` // joining, member, candidate (taking over), leader or gone
	// Epoch and Leader are the ballot this peer follows: the leader it
	// obeys, and how many takeovers led to it.
	Epoch  uint64 `json:"epoch"`
	Leader PeerID `json:"leader"`
	// ViewID, ViewLeader and Members are the installed view (0, 0 and
	// empty before the first one).
	ViewID     ViewID   `json:"view_id"`
	ViewLeader PeerID   `json:"view_leader"`
	Members    []PeerID `json:"members"`
	// Suspected are members whose silence is being checked over TCP.
	Suspected []PeerID `json:"suspected"`
	// Failed are members found failed ("unreachable" printed) that the view
	// still holds: their removal is due or running.
	Failed []PeerID `json:"failed"`
	// Leaving are members that asked to leave, this peer included.
	Leaving []PeerID `json:"leaving"`
	// Pending is the view change this peer accepted for its view (the
	// course's pending operation), or the one it runs as leader.
	Pending *Pending `json:"pending"`
}

// Pending is a view change that is proposed and not yet installed.
type Pending struct {
	RequestID string   `json:"request_id"` // "leader.counter": who proposed it, and its counter
	ViewID    ViewID   `json:"view_id"`    // the view it changes
	Op        string   `json:"op"`         // ADD, DEL, LEAVE or LEAD
	Peers     []PeerID `json:"peers"`      // whom it adds or removes
	Epoch     uint64   `json:"epoch"`      // the ballot that proposed it: its epoch
	Proposer  PeerID   `json:"proposer"`   // ... and its leader
	Forced    bool     `json:"forced"`     // a new leader proposes again what an earlier one may have committed
}

func statusOf(self PeerID, s node.Status) Status {
	ids := func(p []PeerID) []PeerID { return append([]PeerID{}, p...) }
	out := Status{
		ID: self, Role: s.Role, Epoch: s.Ballot.Epoch, Leader: s.Leader,
		ViewID: s.View.ID, ViewLeader: s.View.Leader, Members: ids(s.View.Members),
		Suspected: ids(s.Suspected), Failed: ids(s.Failed), Leaving: ids(s.Leaving),
	}
	if p := s.Pending; p != nil {
		out.Pending = &Pending{RequestID: p.Request.String(), ViewID: p.View, Op: p.Op.String(), Peers: ids(p.Peers),
			Epoch: p.Ballot.Epoch, Proposer: p.Ballot.Leader, Forced: p.Forced}
	}
	return out
}

// ErrStatusAddr is wrapped by ParseStatusAddr's errors.
var ErrStatusAddr = errors.New("membership: bad status address")

// StatusAddr is where a peer serves its status, as peer's -status flag and
// Config.StatusAddr write it:
//
//	host:port   that address ("0.0.0.0:9000" listens on every interface)
//	:port       127.0.0.1:port
//	+N          127.0.0.1, at the peer's own port plus N
//	host+N      host, at the peer's own port plus N
//
// The relative forms let every peer of a hostsfile have its own status port
// from one value; the same value tells `peer status` where to ask each peer.
type StatusAddr struct {
	host     string // without brackets; "" means loopback
	port     int    // when not relative
	offset   int    // when relative
	relative bool
}

// ParseStatusAddr reads a status address in one of StatusAddr's forms.
func ParseStatusAddr(s string) (StatusAddr, error) {
	bad := func(why string) (StatusAddr, error) {
		return StatusAddr{}, fmt.Errorf("%w %q: %s", ErrStatusAddr, s, why)
	}
	const want = "want host:port, :port, +N or host+N"
	if i := strings.LastIndexByte(s, '+'); i >= 0 {
		host := s[:i]
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
		n, err := strconv.Atoi(s[i+1:])
		if err != nil || n < 1 || n > 65534 || strings.ContainsAny(host, "[]/+ ") {
			return bad(want + " (N in 1..65534)")
		}
		return StatusAddr{host: host, offset: n, relative: true}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return bad(want)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || strings.ContainsAny(host, "/ ") {
		return bad(want + " (port in 0..65535)")
	}
	return StatusAddr{host: host, port: p}, nil
}

// String is the address as it was written (in a canonical form).
func (a StatusAddr) String() string {
	host := a.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if a.relative {
		return host + "+" + strconv.Itoa(a.offset)
	}
	return host + ":" + strconv.Itoa(a.port)
}

// Listen is the address the peer of entry e listens on: a's host, or
// 127.0.0.1 when a gives none.
func (a StatusAddr) Listen(e hosts.Entry, defaultPort int) (string, error) {
	host := a.host
	if host == "" {
		host = "127.0.0.1"
	}
	return a.join(host, e, defaultPort)
}

// Of is the address where the peer of entry e answers, when it was started
// with a: a's host when it names one, else e's host (so "0.0.0.0:9000",
// ":9000" and "+1000" are asked at the entry's host).
func (a StatusAddr) Of(e hosts.Entry, defaultPort int) (string, error) {
	host := a.host
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = e.Host
	}
	return a.join(host, e, defaultPort)
}

func (a StatusAddr) join(host string, e hosts.Entry, defaultPort int) (string, error) {
	port := a.port
	if a.relative {
		own := e.Port
		if own == 0 {
			own = defaultPort
		}
		if port = own + a.offset; port > 65535 {
			return "", fmt.Errorf("%w %q: peer %d's port %d plus %d is past 65535", ErrStatusAddr, a.String(), e.ID, own, a.offset)
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// statusTimeout bounds one status query: the loop answers at once unless it
// is stalled.
const statusTimeout = 2 * time.Second

// serveStatus answers GET /status on ln until the member stops.
func (m *Member) serveStatus(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), statusTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		s, err := m.Status(ctx)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(s)
	})
	m.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		// net/http's own complaints (a bad request, a slow client) would go
		// to stderr, which carries only the assignment's lines.
		ErrorLog: log.New(debugWriter{m.log}, "", 0),
	}
	m.wg.Go(func() {
		if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Warn().Str("event", "status_failed").Err(err).Msg("status server stopped")
		}
	})
}

// debugWriter turns net/http's log lines into debug events.
type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Str("event", "status_http").Str("error", strings.TrimSpace(string(p))).Msg("status server")
	return len(p), nil
}

// maxStatus bounds the answer FetchStatus reads.
const maxStatus = 1 << 20

// FetchStatus asks the peer whose status address is addr ("host:port") for
// its Status. An error says whether the peer could not be reached (it wraps
// the dial's *net.OpError, or the context's error), answered that it is not
// running (ErrNotStarted: it waits out -d; ErrStopped), or answered
// something else.
func FetchStatus(ctx context.Context, addr string) (Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return Status{}, fmt.Errorf("membership: status of %s: %w", addr, err)
	}
	client := http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Status{}, fmt.Errorf("membership: status of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatus))
	if err != nil {
		return Status{}, fmt.Errorf("membership: status of %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		for _, known := range []error{ErrNotStarted, ErrStopped} {
			if e.Error == known.Error() {
				return Status{}, fmt.Errorf("membership: status of %s: %w", addr, known)
			}
		}
		return Status{}, fmt.Errorf("membership: status of %s: %s", addr, e.Error)
	}
	var s Status
	if err := json.Unmarshal(body, &s); err != nil {
		return Status{}, fmt.Errorf("membership: status of %s: not a status: %w", addr, err)
	}
	return s, nil
}
