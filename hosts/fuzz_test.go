package hosts

import (
	"errors"
	"strings"
	"testing"

	"peer/codec"
)

// FuzzParse: Parse never panics; whatever parses has ids 1..Len in order on
// increasing lines, sane ports and hosts, addresses that do not panic, and
// reads back the same when written out with Entry.String; whatever fails is
// one *Error line wrapping a sentinel.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"one\ntwo\nthree\nfour\nfive\n",
		"# comment\n\n127.0.0.1:7001 # peer 1\r\n127.0.0.1:7002\r\n",
		"\ufeffone:7000\n",
		"[::1]:7000\n::1\n[fe80::1%eth0]:1\n",
		"a\na:7000\nA\n",
		"one:0\n", "one:70000", "one:abc", "bad host", "[::1", "::g", "1.2.3",
		"peer_1.example.com:65535",
		"#" + strings.Repeat("x", MaxLineLen),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Err == nil {
				t.Fatalf("error %q is not an *Error with a sentinel", err)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if file.Len() < 1 || file.Len() > MaxEntries {
			t.Fatalf("Len = %d", file.Len())
		}
		prevLine := 0
		var out strings.Builder
		for i, e := range file.Entries {
			if e.ID != codec.PeerID(i+1) {
				t.Fatalf("entry %d has id %d", i, e.ID)
			}
			if got, ok := file.Entry(e.ID); !ok || got != e {
				t.Fatalf("Entry(%d) = %+v, %v", e.ID, got, ok)
			}
			if e.Line <= prevLine {
				t.Fatalf("entry %d on line %d after line %d", i, e.Line, prevLine)
			}
			prevLine = e.Line
			if e.Port < 0 || e.Port > 65535 || e.Host == "" || strings.ContainsAny(e.Host, " \t\r\n#[]") {
				t.Fatalf("entry %+v", e)
			}
			_ = e.HostPort(7000)
			_ = e.ListenAddr(7000)
			out.WriteString(e.String())
			out.WriteByte('\n')
		}
		again, err := Parse(strings.NewReader(out.String()))
		if err != nil {
			t.Fatalf("written back %q: %v", out.String(), err)
		}
		for i, e := range again.Entries {
			w := file.Entries[i]
			if e.Host != w.Host || e.Port != w.Port {
				t.Fatalf("round trip: %+v became %+v", w, e)
			}
		}
		if _, err := file.Self(0, file.Entries[0].Host); err != nil && !errors.Is(err, ErrNoSelf) {
			t.Fatalf("Self: %v", err)
		}
	})
}
