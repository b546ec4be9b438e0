package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"peer/codec"
)

func testKey(t testing.TB, fill byte) *Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := testKey(t, 1)
	for _, plain := range [][]byte{nil, {}, {7}, bytes.Repeat([]byte("x"), 5000)} {
		sealed := k.Seal(nil, 3, []byte("ctx"), plain)
		if len(sealed) != len(plain)+Overhead {
			t.Fatalf("sealed %d bytes of %d, want overhead %d", len(sealed), len(plain), Overhead)
		}
		if p, ok := Sender(sealed); !ok || p != 3 {
			t.Fatalf("Sender = %d, %v", p, ok)
		}
		from, got, err := k.Open(nil, sealed, []byte("ctx"))
		if err != nil || from != 3 || !bytes.Equal(got, plain) {
			t.Fatalf("Open: %d %x %v", from, got, err)
		}
	}
}

// Two seals of the same message differ (random nonce), and appending to a
// non-empty dst keeps what was there.
func TestSealAppendsAndVaries(t *testing.T) {
	k := testKey(t, 1)
	a := k.Seal([]byte("head"), 1, nil, []byte("same"))
	b := k.Seal(nil, 1, nil, []byte("same"))
	if !bytes.HasPrefix(a, []byte("head")) {
		t.Fatalf("dst prefix lost: %x", a)
	}
	if bytes.Equal(a[4:], b) {
		t.Fatal("two seals are identical: the nonce is not random")
	}
}

func TestOpenRejects(t *testing.T) {
	k := testKey(t, 1)
	sealed := k.Seal(nil, 2, []byte("ctx"), []byte("hello"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	otherSender := bytes.Clone(sealed)
	otherSender[3] = 9 // claim to be peer 9
	cases := map[string]struct {
		key    *Key
		sealed []byte
		ctx    string
	}{
		"wrong key":       {testKey(t, 2), sealed, "ctx"},
		"other context":   {k, sealed, "ctx2"},
		"no context":      {k, sealed, ""},
		"other sender":    {k, otherSender, "ctx"},
		"flipped nonce":   {k, flip(SenderSize), "ctx"},
		"flipped body":    {k, flip(SenderSize + NonceSize), "ctx"},
		"flipped tag":     {k, flip(len(sealed) - 1), "ctx"},
		"truncated":       {k, sealed[:len(sealed)-1], "ctx"},
		"too short":       {k, sealed[:Overhead-1], "ctx"},
		"empty":           {k, nil, "ctx"},
		"plain message":   {k, []byte{7, 0x93, 1, 1, 1}, "ctx"},
		"extended by one": {k, append(bytes.Clone(sealed), 0), "ctx"},
	}
	for name, c := range cases {
		if _, got, err := c.key.Open(nil, c.sealed, []byte(c.ctx)); !errors.Is(err, ErrOpen) || got != nil {
			t.Errorf("%s: got %x, %v; want ErrOpen", name, got, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	hexKey := hex.EncodeToString(raw)
	good := map[string][]byte{
		"raw":               raw,
		"hex":               []byte(hexKey),
		"hex newline":       []byte(hexKey + "\n"),
		"hex upper, spaces": []byte("  " + strings.ToUpper(hexKey) + " \r\n"),
	}
	ref := testKey(t, 0xab)
	probe := ref.Seal(nil, 1, nil, []byte("probe"))
	for name, b := range good {
		k, err := ParseKey(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, _, err := k.Open(nil, probe, nil); err != nil {
			t.Errorf("%s: parsed to another key", name)
		}
	}
	bad := map[string][]byte{
		"empty":              nil,
		"short raw":          raw[:31],
		"long raw":           append(bytes.Clone(raw), 1, 2),
		"short hex":          []byte(hexKey[:62]),
		"32 hex digits":      []byte(hexKey[:32]),
		"hex with a non-hex": []byte("g" + hexKey[1:]),
		"hex inner space":    []byte(hexKey[:10] + " " + hexKey[10:63]),
	}
	for name, b := range bad {
		if _, err := ParseKey(b); !errors.Is(err, ErrKey) {
			t.Errorf("%s: got %v, want ErrKey", name, err)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error not one line: %q", name, err)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.key")
	if err := WriteKeyFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if len(b) != 2*KeySize+1 || b[len(b)-1] != '\n' {
		t.Fatalf("key file %q", b)
	}
	if _, err := LoadKey(path); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path); err == nil {
		t.Fatal("WriteKeyFile overwrote an existing file")
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, b) {
		t.Fatal("existing key changed")
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); !errors.Is(err, ErrKey) {
		t.Fatalf("missing file: %v", err)
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, err := LoadKey(short); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), short) {
		t.Fatalf("short key file: %v", err)
	}
	if a, b := GenerateHex(), GenerateHex(); a == b || len(a) != 2*KeySize {
		t.Fatalf("GenerateHex: %q %q", a, b)
	}
}

// The cost of the key on one heartbeat-sized and one NEWVIEW-sized message:
// seal on the sender, open on the receiver.
func BenchmarkSealOpen(b *testing.B) {
	k := testKey(b, 1)
	for _, m := range []codec.Message{
		&codec.Heartbeat{From: 2, ViewID: 7, Seq: 1 << 60},
		&codec.NewView{From: 1, ViewID: 7, Leader: 1, Members: []codec.PeerID{1, 2, 3, 4, 5}},
	} {
		plain, err := codec.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(m.Type().String(), func(b *testing.B) {
			ctx := []byte("peer/bench/1 and some context")
			var sealed, opened []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				sealed = k.Seal(sealed[:0], 2, ctx, plain)
				var err error
				if _, opened, err = k.Open(opened[:0], sealed, ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
