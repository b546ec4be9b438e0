package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestParseLogLevel(t *testing.T) {
	for s, want := range map[string]zerolog.Level{
		"debug": zerolog.DebugLevel, "info": zerolog.InfoLevel, "warn": zerolog.WarnLevel,
		"error": zerolog.ErrorLevel, "off": zerolog.Disabled,
	} {
		if got, err := parseLogLevel(s); err != nil || got != want {
			t.Errorf("parseLogLevel(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "loud"} {
		if _, err := parseLogLevel(s); err == nil {
			t.Errorf("parseLogLevel(%q): no error", s)
		}
	}
}

// PEER_LOG_LEVEL sets -log-level's default (the image sets it to off) and
// the flag still wins over it. The check uses a peer that stops at once (its
// port is taken): it logs one "fatal" JSON line on stdout at any level but
// off, and its one-line error on stderr at every level.
func TestLogLevelFromEnvironment(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hosts := filepath.Join(t.TempDir(), "h.txt")
	if err := os.WriteFile(hosts, []byte(l.Addr().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env     string
		flags   []string
		logging bool
	}{
		{"", nil, true},
		{"off", nil, false},
		{"off", []string{"-log-level", "info"}, true},
		{"info", []string{"-log-level", "off"}, false},
	}
	for _, c := range cases {
		t.Setenv(logLevelEnv, c.env)
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"-h", hosts, "-i", "1"}, c.flags...), &stdout, &stderr); code == 0 {
			t.Fatalf("%s=%q %v: exit 0", logLevelEnv, c.env, c.flags)
		}
		if got := strings.Contains(stdout.String(), `"event":"fatal"`); got != c.logging {
			t.Errorf("%s=%q %v: stdout %q, want the JSON log: %v", logLevelEnv, c.env, c.flags, stdout.String(), c.logging)
		}
		if n := strings.Count(stderr.String(), "\n"); n != 1 {
			t.Errorf("%s=%q %v: stderr %q, want one line", logLevelEnv, c.env, c.flags, stderr.String())
		}
	}
}
