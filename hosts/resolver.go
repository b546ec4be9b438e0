package hosts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"peer/codec"
)

// LookupTimeout bounds one DNS lookup, so a caller is never held long by a
// name that does not resolve yet.
const LookupTimeout = time.Second

// CacheTTL is how long a successful lookup is used before the name is looked
// up again: a container that moved (another network, a restart) is found at
// its new address the next time someone dials it or looks for it after a
// silence.
const CacheTTL = 5 * time.Second

// Resolver turns peer ids into addresses, resolving hostnames lazily. A
// successful lookup is cached, per hostname, for CacheTTL or until Forget; a
// failed one is not, so the next call looks again (Docker's DNS knows a
// container only once it is up). When a lookup fails for a name that resolved
// before, the last address stays in use for another CacheTTL. It is safe for
// concurrent use.
type Resolver struct {
	f       *File
	tcpPort int
	udpPort int
	lookup  func(ctx context.Context, host string) ([]net.IP, error)
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]cached // by lower-case hostname
}

type cached struct {
	addr netip.Addr
	at   time.Time
}

// NewResolver resolves the entries of f. Entries without a port use tcpPort
// for TCP and udpPort for UDP; entries with one use it for both. lookup nil
// means net.DefaultResolver.LookupIP(ctx, "ip", host).
func NewResolver(f *File, tcpPort, udpPort int, lookup func(ctx context.Context, host string) ([]net.IP, error)) *Resolver {
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		}
	}
	return &Resolver{
		f:       f,
		tcpPort: tcpPort,
		udpPort: udpPort,
		lookup:  lookup,
		now:     time.Now,
		cache:   make(map[string]cached),
	}
}

// TCPAddr is the peer's TCP address, "ip:port" (IPv6 in brackets).
func (r *Resolver) TCPAddr(id codec.PeerID) (string, error) {
	e, ip, err := r.resolve(id)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(e.port(r.tcpPort))), nil
}

// UDPAddr is the peer's UDP (heartbeat) address.
func (r *Resolver) UDPAddr(id codec.PeerID) (*net.UDPAddr, error) {
	e, ip, err := r.resolve(id)
	if err != nil {
		return nil, err
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(e.port(r.udpPort)))), nil
}

// Forget makes the next call look id's host up again, however recent the
// cached address (a peer that fell silent may have moved: a restarted
// container, a container moved to another network). The address stays the
// fallback while lookups fail.
func (r *Resolver) Forget(id codec.PeerID) {
	e, ok := r.f.Entry(id)
	if !ok {
		return
	}
	key := strings.ToLower(e.Host)
	r.mu.Lock()
	if c, ok := r.cache[key]; ok {
		r.cache[key] = cached{c.addr, time.Time{}}
	}
	r.mu.Unlock()
}

func (r *Resolver) resolve(id codec.PeerID) (Entry, netip.Addr, error) {
	e, ok := r.f.Entry(id)
	if !ok {
		return Entry{}, netip.Addr{}, fmt.Errorf("%w: peer %d (ids 1..%d)", ErrIDRange, id, r.f.Len())
	}
	if a, err := netip.ParseAddr(e.Host); err == nil {
		return e, a.Unmap(), nil
	}
	key := strings.ToLower(e.Host)
	r.mu.Lock()
	c, ok := r.cache[key]
	r.mu.Unlock()
	if ok && r.now().Sub(c.at) < CacheTTL {
		return e, c.addr, nil
	}

	// Look up without holding the lock: a slow name must not hold up the others.
	ctx, cancel := context.WithTimeout(context.Background(), LookupTimeout)
	ips, err := r.lookup(ctx, e.Host)
	cancel()
	a, found := pick(ips)
	if err == nil && !found {
		err = errors.New("no addresses")
	}
	if err != nil {
		if ok {
			// The name service failed, not the name: keep the last address
			// for another period rather than lose a peer that did not move
			// (a container cut off the network cannot reach Docker's DNS,
			// and every lookup would cost LookupTimeout when it comes back).
			r.mu.Lock()
			r.cache[key] = cached{c.addr, r.now()}
			r.mu.Unlock()
			return e, c.addr, nil
		}
		return e, netip.Addr{}, fmt.Errorf("%w %q (peer %d): %w", ErrResolve, e.Host, id, err)
	}
	r.mu.Lock()
	r.cache[key] = cached{a, r.now()}
	r.mu.Unlock()
	return e, a, nil
}

// pick prefers the first IPv4 address, else the first IPv6 one.
func pick(ips []net.IP) (netip.Addr, bool) {
	var v6 netip.Addr
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.Is4() {
			return a, true
		}
		if !v6.IsValid() {
			v6 = a
		}
	}
	return v6, v6.IsValid()
}
