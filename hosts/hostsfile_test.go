package hosts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"peer/codec"
)

type ent struct {
	host string
	port int
	line int
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ent
	}{
		{"one name", "one", []ent{{"one", 0, 1}}},
		{"course", "one\ntwo\nthree\nfour\nfive\n", []ent{{"one", 0, 1}, {"two", 0, 2}, {"three", 0, 3}, {"four", 0, 4}, {"five", 0, 5}}},
		{"comments and blanks",
			"# header\n\n  one   # first\n\t\n#two\ntwo#x\n   # indented comment\nthree",
			[]ent{{"one", 0, 3}, {"two", 0, 6}, {"three", 0, 8}}},
		{"crlf", "one\r\ntwo\r\n\r\nthree\r\n", []ent{{"one", 0, 1}, {"two", 0, 2}, {"three", 0, 4}}},
		{"bom", "\ufeffone\ntwo\n", []ent{{"one", 0, 1}, {"two", 0, 2}}},
		{"bom crlf comment", "\ufeff# hosts\r\none:7000\r\n", []ent{{"one", 7000, 2}}},
		{"ports", "127.0.0.1:7001\n127.0.0.1:7002\n127.0.0.1:65535\nlocalhost:1", []ent{
			{"127.0.0.1", 7001, 1}, {"127.0.0.1", 7002, 2}, {"127.0.0.1", 65535, 3}, {"localhost", 1, 4}}},
		{"ipv4 without port", "10.0.0.1\n10.0.0.2", []ent{{"10.0.0.1", 0, 1}, {"10.0.0.2", 0, 2}}},
		{"ipv6 brackets", "[::1]:7000\n[fe80::1]:7001\n[2001:db8::1]", []ent{
			{"::1", 7000, 1}, {"fe80::1", 7001, 2}, {"2001:db8::1", 0, 3}}},
		{"ipv6 bare", "::1\n2001:db8::2 # comment", []ent{{"::1", 0, 1}, {"2001:db8::2", 0, 2}}},
		{"hostnames", "peer-1.example.com\nPeer_2\nx\n3com.net:80\na.b.c.d.e", []ent{
			{"peer-1.example.com", 0, 1}, {"Peer_2", 0, 2}, {"x", 0, 3}, {"3com.net", 80, 4}, {"a.b.c.d.e", 0, 5}}},
		{"same host different ports", "a\na:7000\na:7001", []ent{{"a", 0, 1}, {"a", 7000, 2}, {"a", 7001, 3}}},
		{"leading zeros in port", "a:07001", []ent{{"a", 7001, 1}}},
		{"no final newline", "one\ntwo", []ent{{"one", 0, 1}, {"two", 0, 2}}},
		{"longest line", strings.Repeat(" ", MaxLineLen-3) + "one\r\n", []ent{{"one", 0, 1}}},
		{"long comment", "one # " + strings.Repeat("x", MaxLineLen-6) + "\ntwo", []ent{{"one", 0, 1}, {"two", 0, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if f.Len() != len(tt.want) {
				t.Fatalf("Len = %d, want %d: %+v", f.Len(), len(tt.want), f.Entries)
			}
			for i, w := range tt.want {
				got := f.Entries[i]
				want := Entry{ID: codec.PeerID(i + 1), Host: w.host, Port: w.port, Line: w.line}
				if got != want {
					t.Errorf("entry %d = %+v, want %+v", i, got, want)
				}
				if e, ok := f.Entry(want.ID); !ok || e != want {
					t.Errorf("Entry(%d) = %+v, %v", want.ID, e, ok)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
		line int
		msg  string // a substring of the message
	}{
		{"empty", "", ErrNoEntries, 0, "hostsfile: no entries (the file is empty)"},
		{"only blank lines", "\n\n  \r\n", ErrNoEntries, 0, "only blank lines and comments"},
		{"only comments", "# one\n#two\n   # three\n", ErrNoEntries, 0, "only blank lines and comments"},
		{"only bom", "\ufeff", ErrNoEntries, 0, "no entries"},
		{"duplicate", "one\ntwo\none\n", ErrDuplicate, 3, `hostsfile: line 3: duplicate entry "one" (same as line 1)`},
		{"duplicate case", "one\nONE", ErrDuplicate, 2, "same as line 1"},
		{"duplicate with port", "127.0.0.1:7001\n127.0.0.1:7002\n127.0.0.1:7001", ErrDuplicate, 3, "same as line 1"},
		{"duplicate ipv6 forms", "[::1]\n0:0::1", ErrDuplicate, 2, "same as line 1"},
		{"duplicate port zeros", "a:7000\na:07000", ErrDuplicate, 2, "same as line 1"},
		{"port 0", "one:0", ErrBadPort, 1, `hostsfile: line 1: bad port "0" (want 1..65535)`},
		{"port 70000", "one\ntwo\nthree:70000", ErrBadPort, 3, `hostsfile: line 3: bad port "70000"`},
		{"port abc", "one:abc", ErrBadPort, 1, `bad port "abc"`},
		{"port empty", "one:", ErrBadPort, 1, `bad port ""`},
		{"port negative", "one:-1", ErrBadPort, 1, `bad port "-1"`},
		{"port plus", "one:+80", ErrBadPort, 1, `bad port "+80"`},
		{"port huge", "one:99999999999999999999", ErrBadPort, 1, `bad port`},
		{"port space", "one: 7000", ErrBadPort, 1, `bad port " 7000"`},
		{"ipv6 bad port", "[::1]:0", ErrBadPort, 1, `bad port "0"`},
		{"host with space", "one two", ErrBadHost, 1, `bad host "one two": contains a space`},
		{"host with tab", "one\ttwo:7000", ErrBadHost, 1, `bad host "one\ttwo"`},
		{"illegal char", "ok\nbad!host", ErrBadHost, 2, `hostsfile: line 2: bad host "bad!host": illegal character '!'`},
		{"illegal slash", "one/two", ErrBadHost, 1, `bad host "one/two": illegal character '/'`},
		{"url", "http://one", ErrBadPort, 1, `bad port "//one"`},
		{"unicode host", "ホスト", ErrBadHost, 1, "illegal character"},
		{"empty host with port", ":7000", ErrBadHost, 1, "empty host"},
		{"empty label", "a..b", ErrBadHost, 1, "empty label"},
		{"trailing dot", "one.", ErrBadHost, 1, "empty label"},
		{"leading hyphen", "-one", ErrBadHost, 1, "starts or ends with '-'"},
		{"long label", strings.Repeat("a", 64) + ".com", ErrBadHost, 1, "longer than 63"},
		{"long host", strings.Repeat("abcdefgh.", 30) + "com", ErrBadHost, 1, "longer than 253"},
		{"bad ipv4", "127.0.0.256:7000", ErrBadHost, 1, "not a valid IP address"},
		{"short ipv4", "1.2.3", ErrBadHost, 1, "not a valid IP address"},
		{"number", "7000", ErrBadHost, 1, "not a valid IP address"},
		{"bad ipv6", "::g", ErrBadHost, 1, "not an IPv6 address"},
		{"ipv6 port without brackets", "fe80::1::7000", ErrBadHost, 1, "not an IPv6 address"},
		{"bad zone bare", "::1%0]", ErrBadHost, 1, "bad IPv6 zone"},
		{"bad zone brackets", "[fe80::1%a[b]:7000", ErrBadHost, 1, "bad IPv6 zone"},
		{"unclosed bracket", "[::1:7000", ErrBadHost, 1, "missing ']'"},
		{"text after bracket", "[::1]x", ErrBadHost, 1, "after ']'"},
		{"ipv4 in brackets", "[127.0.0.1]:7000", ErrBadHost, 1, "IPv6"},
		{"name in brackets", "[one]", ErrBadHost, 1, "IPv6"},
		{"bare carriage return", "one\rtwo\r", ErrBadHost, 1, "illegal character"},
		{"too long line", "one\n" + strings.Repeat("x", MaxLineLen+1) + "\n", ErrLineTooLong, 2, "hostsfile: line 2: line too long (at most 4096 bytes)"},
		{"too long comment", "#" + strings.Repeat("x", MaxLineLen) + "\none", ErrLineTooLong, 1, "line too long"},
		{"too long crlf", strings.Repeat("x", MaxLineLen+1) + "\r\n", ErrLineTooLong, 1, "line too long"},
		{"too long no newline", strings.Repeat("x", 3*MaxLineLen), ErrLineTooLong, 1, "line too long"},
		{"too long huge", "a\nb\n" + strings.Repeat("#", 1<<20), ErrLineTooLong, 3, "line too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Parse = %+v, want error %v", f.Entries, tt.err)
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %q does not wrap %q", err, tt.err)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Line != tt.line {
				t.Errorf("error %q: line %v, want %d", err, pe, tt.line)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "\n") || len(err.Error()) > 300 {
				t.Errorf("error is not one short line: %q", err)
			}
		})
	}
}

func TestParseTooMany(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= MaxEntries; i++ {
		fmt.Fprintf(&b, "10.0.%d.%d\n", i/256, i%256)
	}
	f, err := Parse(strings.NewReader(b.String()))
	if err != nil || f.Len() != MaxEntries {
		t.Fatalf("%d entries: Len %v, err %v", MaxEntries, f, err)
	}
	b.WriteString("one\n")
	_, err = Parse(strings.NewReader(b.String()))
	if want := fmt.Sprintf("line %d", MaxEntries+1); !errors.Is(err, ErrTooMany) || !strings.Contains(err.Error(), want) {
		t.Fatalf("one more: err %v, want ErrTooMany at %s", err, want)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	_, err := Parse(errReader{})
	if err == nil || !strings.Contains(err.Error(), "hostsfile: disk on fire") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()

	missing := filepath.Join(dir, "nope.txt")
	_, err := Load(missing)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}

	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: %v", err)
	}

	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("one\none:70000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	want := "hostsfile: " + bad + `: line 2: bad port "70000" (want 1..65535)`
	if !errors.Is(err, ErrBadPort) || err.Error() != want {
		t.Errorf("bad file: %v, want %s", err, want)
	}

	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(good)
	if err != nil || f.Len() != 2 {
		t.Errorf("good file: %v, %v", f, err)
	}
}

// The ready hostsfiles in hosts/ parse, with the ids and ports run.sh and
// the compose setup rely on.
func TestReadyHostsfiles(t *testing.T) {
	f, err := Load("examples/local5.txt")
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 5 {
		t.Fatalf("local5: %d entries", f.Len())
	}
	for i, e := range f.Entries {
		if e.Host != "127.0.0.1" || e.Port != 7001+i || e.ID != codec.PeerID(i+1) {
			t.Errorf("local5 entry %d = %+v", i, e)
		}
	}
	if _, err := f.Self(0, "anything"); !errors.Is(err, ErrNoSelf) {
		t.Errorf("local5 without -i: %v", err)
	}

	f, err = Load("examples/course.txt")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"one", "two", "three", "four", "five"}
	if f.Len() != len(names) {
		t.Fatalf("course: %d entries", f.Len())
	}
	for i, e := range f.Entries {
		if e.Host != names[i] || e.Port != 0 {
			t.Errorf("course entry %d = %+v", i, e)
		}
		if id, err := f.Self(0, names[i]); err != nil || id != codec.PeerID(i+1) {
			t.Errorf("course Self(%q) = %d, %v", names[i], id, err)
		}
	}
}

func TestSelf(t *testing.T) {
	const file = `
one
two.example.com
Three
127.0.0.1:7001
dup:7001
dup:7002
dup.a.example
four.a.example
four.b.example
`
	f, err := Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	n := f.Len()
	tests := []struct {
		name     string
		id       int
		hostname string
		want     codec.PeerID
		err      error
		msg      string
	}{
		{"by id", 2, "ignored", 2, nil, ""},
		{"by id first", 1, "", 1, nil, ""},
		{"by id last", n, "", codec.PeerID(n), nil, ""},
		{"id zero uses hostname", 0, "one", 1, nil, ""},
		{"id too big", n + 1, "one", 0, ErrIDRange, "hostsfile: id out of range: -i 10, but the hostsfile has 9 entries (ids 1..9)"},
		{"id negative", -1, "one", 0, ErrIDRange, "-i -1"},
		{"hostname", 0, "one", 1, nil, ""},
		{"hostname case", 0, "ONE", 1, nil, ""},
		{"hostname case in file", 0, "three", 3, nil, ""},
		{"hostname full", 0, "two.example.com", 2, nil, ""},
		{"hostname short of entry", 0, "two", 2, nil, ""},
		{"hostname fqdn of short entry", 0, "one.cluster.local", 1, nil, ""},
		{"hostname with trailing dot and space", 0, " one.\n", 1, nil, ""},
		{"exact beats short", 0, "dup.a.example", 7, nil, ""},
		{"ip literal", 0, "127.0.0.1", 4, nil, ""},
		{"no match", 0, "six", 0, ErrNoSelf, `hostsfile: cannot tell which entry is this peer: hostname "six" matches no entry; pass -i ID (1..9)`},
		{"other domain", 0, "two.other.com", 0, ErrNoSelf, "matches no entry"},
		{"ip short name not used", 0, "127", 0, ErrNoSelf, "matches no entry"},
		{"two matches", 0, "dup", 0, ErrNoSelf, `hostname "dup" matches entries 5,6; pass -i ID`},
		{"two short matches", 0, "four", 0, ErrNoSelf, `matches entries 8,9`},
		{"empty hostname", 0, "", 0, ErrNoSelf, "pass -i"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Self(tt.id, tt.hostname)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Self(%d, %q) = %d, %v, want %d", tt.id, tt.hostname, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || got != 0 {
				t.Fatalf("Self(%d, %q) = %d, %v, want %v", tt.id, tt.hostname, got, err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestEntryAddrs(t *testing.T) {
	tests := []struct {
		line       string
		hostPort   string // with default port 7000
		listenAddr string
		str        string
	}{
		{"one", "one:7000", ":7000", "one"},
		{"one:7005", "one:7005", ":7005", "one:7005"},
		{"localhost:7001", "localhost:7001", ":7001", "localhost:7001"},
		{"127.0.0.1", "127.0.0.1:7000", "127.0.0.1:7000", "127.0.0.1"},
		{"127.0.0.3:7003", "127.0.0.3:7003", "127.0.0.3:7003", "127.0.0.3:7003"},
		{"[::1]:7001", "[::1]:7001", "[::1]:7001", "[::1]:7001"},
		{"::1", "[::1]:7000", "[::1]:7000", "::1"},
		{"[fe80::1%eth0]:9", "[fe80::1%eth0]:9", "[fe80::1%eth0]:9", "[fe80::1%eth0]:9"},
	}
	for _, tt := range tests {
		f, err := Parse(strings.NewReader(tt.line))
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		e := f.Entries[0]
		if got := e.HostPort(7000); got != tt.hostPort {
			t.Errorf("%q: HostPort = %q, want %q", tt.line, got, tt.hostPort)
		}
		if got := e.ListenAddr(7000); got != tt.listenAddr {
			t.Errorf("%q: ListenAddr = %q, want %q", tt.line, got, tt.listenAddr)
		}
		if got := e.String(); got != tt.str {
			t.Errorf("%q: String = %q, want %q", tt.line, got, tt.str)
		}
	}
}

func TestEntryOutOfRange(t *testing.T) {
	f, err := Parse(strings.NewReader("a\nb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []codec.PeerID{0, 3, 1 << 31, ^codec.PeerID(0)} {
		if e, ok := f.Entry(id); ok {
			t.Errorf("Entry(%d) = %+v, true", id, e)
		}
	}
}
