package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if len(lines) != 1 || !strings.Contains(lines[0], "address already in use") {
		t.Fatalf("stderr %q", stderr.String())
	}
}
