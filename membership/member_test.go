package membership_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"peer/hosts"
	"peer/membership"
)

// waitLimit bounds every wait; the conditions normally hold within a second
// or two (one heartbeat timeout).
const waitLimit = 30 * time.Second

// testConfig is a member of a loopback group with a timeout long enough for
// a busy machine.
func testConfig(addrs []string, id int, stderr io.Writer) membership.Config {
	return membership.Config{
		Addrs:             addrs,
		ID:                id,
		HeartbeatInterval: 100 * time.Millisecond,
		HeartbeatTimeout:  time.Second,
		Stderr:            stderr,
	}
}

func start(t *testing.T, cfg membership.Config) *membership.Member {
	t.Helper()
	m, err := membership.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// waitView reads m's views until one has exactly members, and returns it.
func waitView(t *testing.T, m *membership.Member, members ...membership.PeerID) membership.View {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case v, ok := <-m.Views():
			if !ok {
				t.Fatalf("peer %d stopped (%s) before a view of %v", m.ID(), m.Reason(), members)
			}
			if slices.Equal(v.Members, members) {
				return v
			}
		case <-timeout:
			t.Fatalf("peer %d: no view of %v within %v; last %v", m.ID(), members, waitLimit, m.View())
		}
	}
}

func status(t *testing.T, m *membership.Member) membership.Status {
	t.Helper()
	s, err := m.Status(context.Background())
	if err != nil {
		t.Fatalf("peer %d: %v", m.ID(), err)
	}
	return s
}

// Three members in one process: they agree on views, one leaves without
// anyone reporting a failure, one is closed and found failed.
func TestGroupOfThree(t *testing.T) {
	addrs := loopbackAddrs(3)
	var stderr [4]syncBuffer
	var m [4]*membership.Member
	var last [4]membership.View
	for id := 1; id <= 3; id++ {
		m[id] = start(t, testConfig(addrs, id, &stderr[id]))
		last[id] = waitView(t, m[id], upTo(id)...) // joined before the next starts: views 1, 2, 3
	}
	for id := 1; id <= 3; id++ {
		v := last[id]
		if id < 3 {
			v = waitView(t, m[id], 1, 2, 3)
		}
		if v.ID != 3 || v.Leader != 1 || !v.Has(3) {
			t.Fatalf("peer %d: %v", id, v)
		}
		if got := m[id].View(); got.ID != 3 || !slices.Equal(got.Members, v.Members) {
			t.Fatalf("peer %d: View() %v, want %v", id, got, v)
		}
	}
	if s := status(t, m[1]); s.ID != 1 || s.Role != "leader" || s.Epoch != 1 || s.Leader != 1 || s.ViewID != 3 ||
		!slices.Equal(s.Members, upTo(3)) || s.Pending != nil || s.Suspected == nil {
		t.Fatalf("leader's status %+v", s)
	}
	if s := status(t, m[2]); s.Role != "member" || s.Leader != 1 || s.ViewLeader != 1 {
		t.Fatalf("member's status %+v", s)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := m[2].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if r := m[2].Reason(); r != membership.Left {
		t.Fatalf("peer 2 stopped: %q, want %q", r, membership.Left)
	}
	for range m[2].Views() { // drained, then closed
	}
	if _, err := m[2].Status(ctx); !errors.Is(err, membership.ErrStopped) {
		t.Fatalf("status of a stopped member: %v", err)
	}
	for _, id := range []int{1, 3} {
		waitView(t, m[id], 1, 3)
		if strings.Contains(stderr[id].String(), "unreachable") {
			t.Fatalf("peer %d reported a failure for a leave:\n%s", id, stderr[id].String())
		}
	}

	m[3].Close()
	if r := m[3].Reason(); r != membership.Closed {
		t.Fatalf("peer 3 stopped: %q", r)
	}
	waitView(t, m[1], 1)
	if !strings.Contains(stderr[1].String(), `message:"peer 3 unreachable"`) {
		t.Fatalf("peer 1 did not report the closed peer:\n%s", stderr[1].String())
	}
	m[1].Close()
	select {
	case <-m[1].Done():
	default:
		t.Fatal("Done not closed after Close")
	}
}

// upTo is peers 1..n.
func upTo(n int) []membership.PeerID {
	var out []membership.PeerID
	for p := 1; p <= n; p++ {
		out = append(out, membership.PeerID(p))
	}
	return out
}

// The status endpoint: 503 before Start, the JSON while running (every
// list a list, pending null), only GET, and nothing once closed.
func TestStatusEndpoint(t *testing.T) {
	cfg := testConfig(loopbackAddrs(1), 1, nil)
	cfg.StatusAddr = "127.0.0.1:0"
	m, err := membership.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	url := "http://" + m.StatusAddr() + "/status"
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "not started") {
		t.Fatalf("before Start: %d %s", code, body)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitView(t, m, 1)
	code, body := get()
	if code != http.StatusOK {
		t.Fatalf("GET /status: %d %s", code, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"id": "1", "role": `"leader"`, "epoch": "1", "leader": "1", "view_id": "1", "view_leader": "1",
		"members": "[1]", "suspected": "[]", "failed": "[]", "leaving": "[]", "pending": "null"}
	for k, v := range want {
		if string(raw[k]) != v {
			t.Errorf("%s: %s, want %s (%s)", k, raw[k], v, body)
		}
	}
	if len(raw) != len(want) {
		t.Errorf("fields %s, want %d", body, len(want))
	}
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}

	m.Close()
	_, err = membership.FetchStatus(context.Background(), m.StatusAddr())
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("status of a closed member: %v, want a dial error", err)
	}
}

// Configurations that cannot work are ErrConfig errors, found before any
// socket is bound; a port in use is an error but not ErrConfig.
func TestConfigErrors(t *testing.T) {
	addrs := []string{"127.0.0.1:7001", "127.0.0.1:7002"}
	hostsFile := filepath.Join(t.TempDir(), "hosts.txt")
	os.WriteFile(hostsFile, []byte("127.0.0.1:7001\n"), 0o644)
	cases := []struct {
		name string
		cfg  membership.Config
		want string
	}{
		{"no group", membership.Config{ID: 1}, "one of Config.HostsFile and Config.Addrs"},
		{"both", membership.Config{HostsFile: hostsFile, Addrs: addrs, ID: 1}, "one of"},
		{"missing file", membership.Config{HostsFile: hostsFile + ".no", ID: 1}, "no such file"},
		{"comment in an address", membership.Config{Addrs: []string{"127.0.0.1:7001 # one"}, ID: 1}, "Config.Addrs[0]"},
		{"empty address", membership.Config{Addrs: []string{"127.0.0.1:7001", " "}, ID: 1}, "Config.Addrs[1]"},
		{"duplicate", membership.Config{Addrs: []string{"a", "b", "a"}, ID: 1}, "Config.Addrs: line 3: duplicate"},
		{"bad port", membership.Config{Addrs: []string{"a:0"}, ID: 1}, "bad port"},
		{"id out of range", membership.Config{Addrs: addrs, ID: 3}, "out of range"},
		{"no hostname match", membership.Config{Addrs: addrs, Hostname: "elsewhere"}, "matches no entry"},
		{"negative timing", membership.Config{Addrs: addrs, ID: 1, HeartbeatTimeout: -time.Second}, "negative timing"},
		{"bad status address", membership.Config{Addrs: addrs, ID: 1, StatusAddr: "nowhere"}, "bad status address"},
		{"status port past 65535", membership.Config{Addrs: []string{"127.0.0.1:65000"}, ID: 1, StatusAddr: "+1000"}, "past 65535"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := membership.Listen(c.cfg)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, membership.ErrConfig) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%v, want an ErrConfig line containing %q", err, c.want)
			}
		})
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = membership.Listen(membership.Config{Addrs: []string{l.Addr().String()}, ID: 1})
	if err == nil || errors.Is(err, membership.ErrConfig) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("port in use: %v", err)
	}
	cfg := testConfig(loopbackAddrs(1), 1, nil)
	cfg.StatusAddr = l.Addr().String()
	if _, err = membership.Listen(cfg); err == nil || errors.Is(err, membership.ErrConfig) || !strings.Contains(err.Error(), "status address") {
		t.Fatalf("status port in use: %v", err)
	}
}

// A member stops once, whichever way; a stopped member cannot start, and
// its ports are free again.
func TestStopping(t *testing.T) {
	addrs := loopbackAddrs(1)
	m, err := membership.Listen(testConfig(addrs, 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Status(context.Background()); !errors.Is(err, membership.ErrNotStarted) {
		t.Fatalf("status before Start: %v", err)
	}
	if err := m.Leave(context.Background()); err != nil || m.Reason() != membership.Left {
		t.Fatalf("leave before Start: %v, %q", err, m.Reason())
	}
	if err := m.Start(context.Background()); !errors.Is(err, membership.ErrStopped) {
		t.Fatalf("Start after stopping: %v", err)
	}
	m.Close() // again: nothing

	ctx, cancel := context.WithCancel(context.Background())
	m = start(t, testConfig(addrs, 1, nil)) // the same ports
	if err := m.Start(ctx); !errors.Is(err, membership.ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	m, err = membership.Start(ctx, testConfig(loopbackAddrs(1), 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	waitView(t, m, 1)
	cancel()
	select {
	case <-m.Done():
	case <-time.After(waitLimit):
		t.Fatal("the end of Start's context did not stop the member")
	}
	if m.Reason() != membership.Closed {
		t.Fatalf("reason %q", m.Reason())
	}
}

// A peer alone in its view leaves at once; Leave with a context that has
// ended stops the member all the same.
func TestLeaveAlone(t *testing.T) {
	var stderr syncBuffer
	m := start(t, testConfig(loopbackAddrs(1), 1, &stderr))
	waitView(t, m, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Leave(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	<-m.Done()
	if got := stderr.String(); got != "{peer_id:1, view_id: 1, leader: 1, memb_list: [1]}\n" {
		t.Fatalf("stderr %q", got)
	}
}

// Every ParseStatusAddr form, where a peer listens with it and where
// `peer status` asks.
func TestStatusAddrForms(t *testing.T) {
	f, err := hosts.Parse(strings.NewReader("127.0.0.1:7001\none\n[::1]:7003\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		form         string
		listen, of   [3]string
		listenErrFor int // an entry whose address is out of range, 0 for none
	}{
		{form: ":9000", listen: [3]string{"127.0.0.1:9000", "127.0.0.1:9000", "127.0.0.1:9000"}, of: [3]string{"127.0.0.1:9000", "one:9000", "[::1]:9000"}},
		{form: "+1000", listen: [3]string{"127.0.0.1:8001", "127.0.0.1:8000", "127.0.0.1:8003"}, of: [3]string{"127.0.0.1:8001", "one:8000", "[::1]:8003"}},
		{form: "0.0.0.0+1", listen: [3]string{"0.0.0.0:7002", "0.0.0.0:7001", "0.0.0.0:7004"}, of: [3]string{"127.0.0.1:7002", "one:7001", "[::1]:7004"}},
		{form: "[::1]+2", listen: [3]string{"[::1]:7003", "[::1]:7002", "[::1]:7005"}, of: [3]string{"[::1]:7003", "[::1]:7002", "[::1]:7005"}},
		{form: "[::]:9000", listen: [3]string{"[::]:9000", "[::]:9000", "[::]:9000"}, of: [3]string{"127.0.0.1:9000", "one:9000", "[::1]:9000"}},
		{form: "status.example:9000", listen: [3]string{"status.example:9000", "status.example:9000", "status.example:9000"}, of: [3]string{"status.example:9000", "status.example:9000", "status.example:9000"}},
	}
	for _, c := range cases {
		a, err := membership.ParseStatusAddr(c.form)
		if err != nil {
			t.Fatalf("%s: %v", c.form, err)
		}
		for i, e := range f.Entries {
			l, err1 := a.Listen(e, 7000)
			o, err2 := a.Of(e, 7000)
			if err1 != nil || err2 != nil || l != c.listen[i] || o != c.of[i] {
				t.Errorf("%s, peer %d: listen %s %v, of %s %v; want %s and %s", c.form, e.ID, l, err1, o, err2, c.listen[i], c.of[i])
			}
		}
	}
	for _, bad := range []string{"", "9000", "+", "+0", "+x", "+65535", "1+2+3", "host:", ":70000", ":-1", "a b:80", "[::1+3"} {
		if _, err := membership.ParseStatusAddr(bad); !errors.Is(err, membership.ErrStatusAddr) {
			t.Errorf("%q: %v, want ErrStatusAddr", bad, err)
		}
	}
	a, _ := membership.ParseStatusAddr("+64000")
	if _, err := a.Of(f.Entries[0], 7000); !errors.Is(err, membership.ErrStatusAddr) {
		t.Errorf("+64000 from port 7001: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
