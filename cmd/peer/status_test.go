package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"peer/membership"
)

// freeLoopback is a loopback address whose port is free for TCP and UDP now.
func freeLoopback(t *testing.T) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free loopback port")
	return ""
}

// `peer status` prints a row for every peer asked: the state of the ones
// that answer, a word and a line for the ones that do not; the exit code
// says whether all answered.
func TestStatusTable(t *testing.T) {
	addrs := []string{freeLoopback(t), freeLoopback(t)}
	dead := freeLoopback(t) // nothing listens there
	var members []*membership.Member
	for id := 1; id <= 2; id++ {
		m, err := membership.Start(context.Background(), membership.Config{
			Addrs: addrs, ID: id, HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second,
			StatusAddr: "127.0.0.1:0",
		})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		members = append(members, m)
		for v := range m.Views() {
			if len(v.Members) == id {
				break
			}
		}
	}

	var stdout, stderr bytes.Buffer
	code := run([]string{"status", members[0].StatusAddr(), members[1].StatusAddr()}, &stdout, &stderr)
	rows := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if code != 0 || stderr.Len() != 0 || len(rows) != 3 {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr.String(), stdout.String())
	}
	for i, want := range [][]string{
		{"PEER", "ADDRESS", "ROLE", "EPOCH", "LEADER", "VIEW", "VIEW", "LEADER", "MEMBERS", "SUSPECTED", "FAILED", "LEAVING", "PENDING"},
		{"1", members[0].StatusAddr(), "leader", "1", "1", "2", "1", "[1,2]", "-", "-", "-", "-"},
		{"2", members[1].StatusAddr(), "member", "1", "1", "2", "1", "[1,2]", "-", "-", "-", "-"},
	} {
		if got := strings.Fields(rows[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}

	// A hostsfile of one peer whose status port is fixed (":PORT"), and an
	// address where nothing listens.
	_, statusPort, _ := net.SplitHostPort(freeLoopback(t))
	hosts := filepath.Join(t.TempDir(), "hosts.txt")
	self := freeLoopback(t)
	if err := os.WriteFile(hosts, []byte(self+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := membership.Start(context.Background(), membership.Config{HostsFile: hosts, ID: 1, StatusAddr: ":" + statusPort})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	<-m.Views()
	stdout.Reset()
	if code := run([]string{"status", "-h", hosts, "-status", ":" + statusPort}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "127.0.0.1:"+statusPort+"  leader") {
		t.Fatalf("-h: exit %d, stdout:\n%s", code, stdout.String())
	}
	stdout.Reset()
	code = run([]string{"status", members[0].StatusAddr(), dead}, &stdout, &stderr)
	out := stdout.String()
	rows = strings.Split(out, "\n")
	if code != 1 || stderr.Len() != 0 || len(rows) != 6 || !strings.HasPrefix(strings.Join(strings.Fields(rows[2]), " "), "? "+dead+" unreachable - -") ||
		rows[4] != "peer ? at "+dead+": connection refused (not running, or started without -status)" || !strings.Contains(rows[1], "leader") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr.String(), out)
	}
}

// Every usage error of `peer status` is one line on stderr and exit code 2.
func TestStatusUsageErrors(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts.txt")
	os.WriteFile(hosts, []byte("127.0.0.1:7001\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{nil, "give the peers' status addresses"},
		{[]string{"-h", hosts}, "-h needs -status"},
		{[]string{"-status", "+1000", "127.0.0.1:8001"}, "-status goes with -h"},
		{[]string{"-h", hosts, "-status", "+1000", "127.0.0.1:8001"}, "not both"},
		{[]string{"-h", hosts, "-status", "8001"}, "-status: bad status address"},
		{[]string{"-h", hosts + ".no", "-status", "+1000"}, "no such file"},
		{[]string{"8001"}, `"8001": want host:port`},
		{[]string{"-timeout", "0s", "127.0.0.1:8001"}, "-timeout"},
		{[]string{"-x"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"status"}, c.args...), &stdout, &stderr)
		lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
		if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "peer status: ") || !strings.Contains(lines[0], c.want) || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, want one line containing %q", c.args, code, stderr.String(), c.want)
		}
	}
}
