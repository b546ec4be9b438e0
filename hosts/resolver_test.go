package hosts

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"peer/codec"
)

// fakeDNS answers from a table; a name listed in failures fails that many
// times before it resolves, like a container that is not up yet.
type fakeDNS struct {
	mu       sync.Mutex
	table    map[string][]net.IP
	failures map[string]int
	calls    map[string]int
}

func (d *fakeDNS) lookup(ctx context.Context, host string) ([]net.IP, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("lookup without a deadline")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[host]++
	if d.failures[host] > 0 {
		d.failures[host]--
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	ips, ok := d.table[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

// move gives host a new address, as a container that moved.
func (d *fakeDNS) move(host, ip string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.table[host] = []net.IP{net.ParseIP(ip)}
}

// failNext makes the next lookup of host fail.
func (d *fakeDNS) failNext(host string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures[host]++
}

func (d *fakeDNS) count(host string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[host]
}

func newFake() *fakeDNS {
	return &fakeDNS{
		table: map[string][]net.IP{
			"one":   {net.ParseIP("172.18.0.2")},
			"two":   {net.ParseIP("2001:db8::2"), net.ParseIP("172.18.0.3")}, // IPv4 preferred
			"three": {net.ParseIP("2001:db8::3")},
			"empty": {},
		},
		failures: map[string]int{"two": 2},
		calls:    map[string]int{},
	}
}

func mustParse(t *testing.T, s string) *File {
	t.Helper()
	f, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestResolverRetryThenCache(t *testing.T) {
	dns := newFake()
	r := NewResolver(mustParse(t, "one\ntwo\n"), 7000, 7100, dns.lookup)

	for i := 1; i <= 2; i++ {
		_, err := r.TCPAddr(2)
		if !errors.Is(err, ErrResolve) || !strings.Contains(err.Error(), `"two" (peer 2)`) {
			t.Fatalf("attempt %d: err = %v, want ErrResolve", i, err)
		}
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) {
			t.Errorf("attempt %d: the lookup error is not wrapped: %v", i, err)
		}
	}
	got, err := r.TCPAddr(2)
	if err != nil || got != "172.18.0.3:7000" {
		t.Fatalf("third attempt: %q, %v", got, err)
	}
	udp, err := r.UDPAddr(2)
	if err != nil || udp.String() != "172.18.0.3:7100" {
		t.Fatalf("UDPAddr: %v, %v", udp, err)
	}
	for i := 0; i < 5; i++ {
		if _, err := r.TCPAddr(2); err != nil {
			t.Fatal(err)
		}
	}
	if n := dns.count("two"); n != 3 {
		t.Errorf("lookups of two = %d, want 3 (two failures, then cached)", n)
	}

	r.Forget(2)
	if _, err := r.TCPAddr(2); err != nil {
		t.Fatal(err)
	}
	if n := dns.count("two"); n != 4 {
		t.Errorf("after Forget: lookups = %d, want 4", n)
	}
}

func TestResolverAddrs(t *testing.T) {
	dns := newFake()
	f := mustParse(t, "one\none:7005\nthree\n127.0.0.2:7002\n[::1]:7003\n127.0.0.9\nempty\nmissing\n")
	r := NewResolver(f, 7000, 7100, dns.lookup)
	tests := []struct {
		id       codec.PeerID
		tcp, udp string
		err      error
	}{
		{1, "172.18.0.2:7000", "172.18.0.2:7100", nil},
		{2, "172.18.0.2:7005", "172.18.0.2:7005", nil},
		{3, "[2001:db8::3]:7000", "[2001:db8::3]:7100", nil},
		{4, "127.0.0.2:7002", "127.0.0.2:7002", nil},
		{5, "[::1]:7003", "[::1]:7003", nil},
		{6, "127.0.0.9:7000", "127.0.0.9:7100", nil},
		{7, "", "", ErrResolve},
		{8, "", "", ErrResolve},
		{0, "", "", ErrIDRange},
		{9, "", "", ErrIDRange},
	}
	for _, tt := range tests {
		tcp, err := r.TCPAddr(tt.id)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("TCPAddr(%d) = %q, %v, want %v", tt.id, tcp, err, tt.err)
			}
			if udp, err := r.UDPAddr(tt.id); !errors.Is(err, tt.err) || udp != nil {
				t.Errorf("UDPAddr(%d) = %v, %v, want %v", tt.id, udp, err, tt.err)
			}
			continue
		}
		if err != nil || tcp != tt.tcp {
			t.Errorf("TCPAddr(%d) = %q, %v, want %q", tt.id, tcp, err, tt.tcp)
		}
		udp, err := r.UDPAddr(tt.id)
		if err != nil || udp.String() != tt.udp {
			t.Errorf("UDPAddr(%d) = %v, %v, want %q", tt.id, udp, err, tt.udp)
		}
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.9", "::1"} {
		if n := dns.count(ip); n != 0 {
			t.Errorf("IP literal %s was looked up %d times", ip, n)
		}
	}
	if n := dns.count("one"); n != 1 {
		t.Errorf("one was looked up %d times, want 1", n)
	}
}

// A lookup that hangs is cut off by the resolver's deadline instead of
// holding the caller.
func TestResolverLookupDeadline(t *testing.T) {
	hang := func(ctx context.Context, host string) ([]net.IP, error) {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > LookupTimeout {
			return nil, errors.New("no deadline or too far")
		}
		return nil, context.DeadlineExceeded // what a real lookup returns when ctx ends
	}
	r := NewResolver(mustParse(t, "slow"), 7000, 7000, hang)
	if _, err := r.TCPAddr(1); !errors.Is(err, ErrResolve) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestResolverConcurrent(t *testing.T) {
	dns := newFake()
	dns.failures = map[string]int{}
	r := NewResolver(mustParse(t, "one\ntwo\nthree\n127.0.0.1:7001"), 7000, 7100, dns.lookup)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				id := codec.PeerID(i%4 + 1)
				if _, err := r.TCPAddr(id); err != nil {
					t.Error(err)
					return
				}
				if _, err := r.UDPAddr(id); err != nil {
					t.Error(err)
					return
				}
				if i%17 == 0 {
					r.Forget(id)
				}
			}
		}()
	}
	wg.Wait()
}

// With lookup nil the resolver uses the system resolver; "localhost" resolves
// without a network on any machine the tests run on.
func TestResolverDefaultLookup(t *testing.T) {
	r := NewResolver(mustParse(t, "localhost:7001"), 7000, 7000, nil)
	addr, err := r.TCPAddr(1)
	if err != nil {
		t.Skipf("no resolver for localhost here: %v", err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "7001" || !net.ParseIP(host).IsLoopback() {
		t.Errorf("TCPAddr = %q", addr)
	}
}

func TestResolverCacheExpires(t *testing.T) {
	dns := newFake()
	r := NewResolver(mustParse(t, "one\n"), 7000, 7100, dns.lookup)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }

	if got, err := r.TCPAddr(1); err != nil || got != "172.18.0.2:7000" {
		t.Fatalf("TCPAddr(1) = %q, %v", got, err)
	}
	now = now.Add(CacheTTL - time.Millisecond)
	if _, err := r.TCPAddr(1); err != nil {
		t.Fatal(err)
	}
	if n := dns.count("one"); n != 1 {
		t.Fatalf("lookups within the TTL = %d, want 1", n)
	}

	// The container moved: after the TTL the new address is used.
	dns.move("one", "172.19.0.7")
	now = now.Add(time.Millisecond)
	if got, err := r.TCPAddr(1); err != nil || got != "172.19.0.7:7000" {
		t.Fatalf("after the TTL: %q, %v, want the new address", got, err)
	}
	if n := dns.count("one"); n != 2 {
		t.Errorf("lookups = %d, want 2", n)
	}
}

// A name that resolved before keeps its address while the name service
// fails (a container cut off the network cannot reach Docker's DNS): the
// peer behind it is still sent to, and asked about again only after another
// CacheTTL. A lookup that succeeds then gives the new address.
func TestResolverKeepsLastAddressWhileLookupsFail(t *testing.T) {
	dns := newFake()
	r := NewResolver(mustParse(t, "one\n"), 7000, 7100, dns.lookup)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	if got, err := r.TCPAddr(1); err != nil || got != "172.18.0.2:7000" {
		t.Fatalf("TCPAddr(1) = %q, %v", got, err)
	}

	dns.failNext("one")
	now = now.Add(CacheTTL)
	if got, err := r.TCPAddr(1); err != nil || got != "172.18.0.2:7000" {
		t.Fatalf("while the lookup fails: %q, %v, want the last address", got, err)
	}
	now = now.Add(CacheTTL - time.Millisecond)
	if _, err := r.TCPAddr(1); err != nil {
		t.Fatal(err)
	}
	if n := dns.count("one"); n != 2 {
		t.Fatalf("lookups = %d, want 2 (the failed one kept the address for a period)", n)
	}

	// Forget (the peer fell silent) asks again at once; a failure still
	// keeps the address.
	dns.failNext("one")
	r.Forget(1)
	if got, err := r.TCPAddr(1); err != nil || got != "172.18.0.2:7000" || dns.count("one") != 3 {
		t.Fatalf("after Forget, while the lookup fails: %q, %v, %d lookups; want the last address, 3 lookups", got, err, dns.count("one"))
	}

	dns.move("one", "172.19.0.7")
	r.Forget(1)
	if got, err := r.TCPAddr(1); err != nil || got != "172.19.0.7:7000" {
		t.Fatalf("after the name service is back: %q, %v, want the new address", got, err)
	}
}
