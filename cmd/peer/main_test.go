package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/hosts"
	"peer/seal"
)

// Every bad configuration ends with exactly one line on stderr, a non-zero
// exit and no panic; nothing is printed on stdout.
func TestBadConfigurationOneLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.txt", "127.0.0.1:7001\n127.0.0.1:7002\n")
	cases := []struct {
		name string
		args []string
		want string // a fragment of the error line
	}{
		{"no hostsfile flag", []string{}, "-h HOSTSFILE is required"},
		{"unknown flag", []string{"-h", good, "-x"}, "flag provided but not defined"},
		{"bad delay", []string{"-h", good, "-d", "soon"}, "invalid value"},
		{"negative delay", []string{"-h", good, "-d", "-1"}, "-d"},
		{"negative crash", []string{"-h", good, "-c", "-2"}, "-c"},
		{"bad interval", []string{"-h", good, "-hb-interval", "0s"}, "-hb-interval"},
		{"bad port", []string{"-h", good, "-port", "70000"}, "-port"},
		{"stray argument", []string{"-h", good, "extra"}, "unexpected argument"},
		{"bad log level", []string{"-h", good, "-i", "1", "-log-level", "loud"}, "-log-level"},
		{"missing file", []string{"-h", filepath.Join(dir, "nope.txt"), "-i", "1"}, "nope.txt"},
		{"empty file", []string{"-h", write("empty.txt", "# nothing\n\n"), "-i", "1"}, "no entries"},
		{"duplicate entry", []string{"-h", write("dup.txt", "a\nb\na\n"), "-i", "1"}, "duplicate"},
		{"bad port in file", []string{"-h", write("port.txt", "a:99999\n"), "-i", "1"}, "bad port"},
		{"id out of range", []string{"-h", good, "-i", "3"}, "out of range"},
		{"negative id", []string{"-h", good, "-i", "-1"}, "-i"},
		{"no self", []string{"-h", write("other.txt", "no-such-host-xyz\n"), "-d", "0"}, "-i"},
		{"binary garbage", []string{"-h", write("bin.txt", "\x00\xff\xfe\n"), "-i", "1"}, "hostsfile"},
		{"missing key file", []string{"-h", good, "-i", "1", "-key", filepath.Join(dir, "nokey")}, "-key"},
		{"short key file", []string{"-h", good, "-i", "1", "-key", write("short.key", "abcd\n")}, "64 hex digits or 32 raw bytes"},
		{"16-byte hex key", []string{"-h", good, "-i", "1", "-key", write("k16.key", strings.Repeat("ab", 16))}, "only 16 bytes"},
		{"status without a port", []string{"-h", good, "-i", "1", "-status", "9000"}, "-status: bad status address"},
		{"status offset not a number", []string{"-h", good, "-i", "1", "-status", "+ten"}, "-status: bad status address"},
		{"status port out of range", []string{"-h", good, "-i", "1", "-status", ":70000"}, "-status: bad status address"},
		{"status offset past 65535", []string{"-h", write("high.txt", "127.0.0.1:65000\n"), "-i", "1", "-status", "+1000"}, "past 65535"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			if code == 0 {
				t.Fatalf("exit 0, stderr %q", stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.want) || !strings.HasPrefix(lines[0], "peer: ") {
				t.Fatalf("stderr %q, want one line containing %q", stderr.String(), c.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), "-hb-interval") {
		t.Fatalf("usage does not list flags: %q", stderr.String())
	}
}

// A port that is already taken is one clear error line, not a panic.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hosts := filepath.Join(t.TempDir(), "h.txt")
	if err := os.WriteFile(hosts, []byte(l.Addr().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h", hosts, "-i", "1"}, &stdout, &stderr); code == 0 {
		t.Fatal("exit 0")
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "address already in use") ||
		!strings.Contains(lines[0], "a peer with this id already running?") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

// A status address that is already taken is one clear error line too.
func TestStatusPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hosts := filepath.Join(t.TempDir(), "h.txt")
	if err := os.WriteFile(hosts, []byte(freeLoopback(t)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h", hosts, "-i", "1", "-status", l.Addr().String()}, &stdout, &stderr); code == 0 {
		t.Fatal("exit 0")
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "status address "+l.Addr().String()) ||
		!strings.Contains(lines[0], "already in use") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

// -genkey writes a key only its owner can read, that -key accepts, and
// never overwrites one; the documented one-liner makes an accepted key too.
func TestGenKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.key")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-genkey", path}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "-key "+path) {
		t.Fatalf("stdout %q", stdout.String())
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	before, _ := os.ReadFile(path)
	if _, err := seal.LoadKey(path); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run([]string{"-genkey", path}, &stdout, &stderr); code == 0 || strings.Count(stderr.String(), "\n") != 1 {
		t.Fatalf("second -genkey: exit %d, stderr %q", code, stderr.String())
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("-genkey overwrote a key")
	}

	raw := filepath.Join(dir, "raw.key")
	out, err := exec.Command("sh", "-c", "head -c 32 /dev/urandom > "+raw).CombinedOutput()
	if err != nil {
		t.Skipf("no shell for the one-liner: %v %s", err, out)
	}
	if _, err := seal.LoadKey(raw); err != nil {
		t.Fatalf("the README one-liner's key: %v", err)
	}
}

// A hostsfile changed under a running peer is reported once per change, as
// an error that says to restart; edits that keep the entries are not.
func TestWatchHostsfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts.txt")
	original := "127.0.0.1:7001\n127.0.0.1:7002\n"
	if err := os.WriteFile(path, []byte(original), 0o644); err != nil {
		t.Fatal(err)
	}
	started, err := hosts.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchHostsfile(ctx, path, started, 5*time.Millisecond, zerolog.New(&logBuf))
	}()
	defer func() { cancel(); <-done }()

	events := func() []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(logBuf.String()), "\n") {
			var e struct{ Event, Level string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Event != "" {
				out = append(out, e.Level+" "+e.Event)
			}
		}
		return out
	}
	waitEvents := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Equal(events(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("events %q, want %q", events(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// mtime granularity: make every write look new.
	step := time.Now()
	rewrite := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		step = step.Add(time.Second)
		os.Chtimes(path, step, step)
	}

	rewrite("# a comment\n" + original) // same entries: nothing to say
	rewrite(original + "127.0.0.1:7003\n")
	waitEvents("error hostsfile_changed")
	rewrite(original + "127.0.0.1:7004\n")
	waitEvents("error hostsfile_changed", "error hostsfile_changed")
	os.Remove(path)
	waitEvents("error hostsfile_changed", "error hostsfile_changed", "error hostsfile_changed")
	rewrite(original)
	waitEvents("error hostsfile_changed", "error hostsfile_changed", "error hostsfile_changed", "info hostsfile_restored")
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
