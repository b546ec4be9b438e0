package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
	"peer/internal/lograte"
	"peer/seal"
)

func frameBytes(n uint32, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), body...)
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		max     int
	}{
		{"empty", []byte{}, 16},
		{"one byte", []byte{0x7f}, 16},
		{"exactly max", bytes.Repeat([]byte{0xab}, 16), 16},
		{"default max", bytes.Repeat([]byte{0xcd}, DefaultMaxFrame), 0},
	}
	writers := []struct {
		name string
		wrap func(io.Writer) (io.Writer, func() error)
	}{
		{"plain", func(w io.Writer) (io.Writer, func() error) { return w, func() error { return nil } }},
		{"bufio", func(w io.Writer) (io.Writer, func() error) {
			bw := bufio.NewWriterSize(w, 16) // small, to cross buffer boundaries
			return bw, bw.Flush
		}},
	}
	for _, tt := range tests {
		for _, wr := range writers {
			t.Run(tt.name+"/"+wr.name, func(t *testing.T) {
				var buf bytes.Buffer
				w, flush := wr.wrap(&buf)
				// Two frames back to back, then a clean end.
				for range 2 {
					if err := WriteFrame(w, tt.payload); err != nil {
						t.Fatalf("WriteFrame: %v", err)
					}
				}
				if err := flush(); err != nil {
					t.Fatal(err)
				}
				if got, want := buf.Len(), 2*(headerLen+len(tt.payload)); got != want {
					t.Fatalf("encoded %d bytes, want %d", got, want)
				}
				var reuse []byte
				for i := range 2 {
					got, err := ReadFrame(&buf, tt.max, reuse)
					if err != nil {
						t.Fatalf("ReadFrame %d: %v", i, err)
					}
					if !bytes.Equal(got, tt.payload) {
						t.Fatalf("ReadFrame %d: got %d bytes, want %d", i, len(got), len(tt.payload))
					}
					reuse = got
				}
				if _, err := ReadFrame(&buf, tt.max, reuse); err != io.EOF {
					t.Fatalf("ReadFrame at end: got %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestReadFrameBroken(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		max   int
		want  error
	}{
		{"clean EOF", nil, 16, io.EOF},
		{"truncated header", []byte{0, 0}, 16, io.ErrUnexpectedEOF},
		{"header only", frameBytes(5, nil), 16, io.ErrUnexpectedEOF},
		{"truncated body", frameBytes(10, []byte{1, 2, 3}), 16, io.ErrUnexpectedEOF},
		{"length over max", frameBytes(17, make([]byte, 17)), 16, ErrFrameTooLarge},
		{"length 0xFFFFFFFF", frameBytes(0xFFFFFFFF, nil), 0, ErrFrameTooLarge},
		{"length over default max", frameBytes(DefaultMaxFrame+1, nil), 0, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tt.input), tt.max, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("got %d bytes with an error", len(got))
			}
		})
	}
}

// TestReadFrameHugeLengthDoesNotAllocate checks that the limit is applied
// before the body is allocated.
func TestReadFrameHugeLengthDoesNotAllocate(t *testing.T) {
	input := frameBytes(0xFFFFFFFF, []byte{1, 2, 3})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(bytes.NewReader(input), DefaultMaxFrame, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("ReadFrame allocated %d bytes for a rejected frame", grew)
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 64)
	got, err := ReadFrame(bytes.NewReader(frameBytes(3, []byte("abc"))), 16, buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "abc" || &got[:1][0] != &buf[:1][0] {
		t.Fatalf("got %q, not read into the given buffer", got)
	}
}

func TestFrameOverPipe(t *testing.T) {
	client, server := net.Pipe()
	payloads := [][]byte{{}, {1}, bytes.Repeat([]byte{2}, 1000)}
	errc := make(chan error, 1)
	go func() {
		defer client.Close()
		for _, p := range payloads {
			if err := WriteFrame(client, p); err != nil {
				errc <- err
				return
			}
		}
		// Half a header, then the connection ends.
		_, err := client.Write([]byte{0, 0})
		errc <- err
	}()
	var buf []byte
	for i, want := range payloads {
		got, err := ReadFrame(server, 0, buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
		}
		buf = got
	}
	if _, err := ReadFrame(server, 0, buf); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated header: got %v, want io.ErrUnexpectedEOF", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteFrameError(t *testing.T) {
	boom := errors.New("boom")
	if err := WriteFrame(failWriter{boom}, []byte{1}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want it to wrap %v", err, boom)
	}
}

// FuzzReadFrame reads a stream of frames as an inbound connection does and
// hands every frame to three connection states: one without a key, one
// with a key (a fuzzed frame can never authenticate there), and one with a
// key that receives the fuzzed frame sealed by a genuine key holder, so that
// what comes after authentication is fuzzed too. ReadFrame must never
// panic, never exceed its limit, and give back exactly the bytes it read;
// a connection must deliver only messages from one sender of the hostsfile.
//
// testdata/fuzz/FuzzReadFrame holds the seeds and regressions; they run with
// every go test.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add(frameBytes(0, nil))
	f.Add(frameBytes(1, []byte{7}))
	f.Add(frameBytes(3, []byte{1}))
	f.Add(frameBytes(0xFFFFFFFF, nil))
	f.Add(frameBytes(64, make([]byte, 64)))
	f.Add(append(frameBytes(2, []byte{1, 2}), frameBytes(1, []byte{3})...))
	for _, m := range []codec.Message{
		&codec.Join{From: 2, Joiner: 2, Incarnation: 1},
		&codec.OK{From: 3, RequestID: 1<<32 | 1, ViewID: 2, Epoch: 1},
		&codec.NewView{From: 1, ViewID: 2, Leader: 1, Members: []codec.PeerID{1, 2}, Epoch: 1, EpochLeader: 1, Incarnations: []uint64{1, 1}},
		&codec.Join{From: 9, Joiner: 9, Incarnation: 1},
	} {
		b, err := codec.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frameBytes(uint32(len(b)), b))
		f.Add(append(frameBytes(0, nil), frameBytes(uint32(len(b)), b)...))
	}
	const max = 256
	key := testKey(f, 1)
	f.Fuzz(func(t *testing.T, input []byte) {
		plain := fuzzInbound(nil)
		keyed := fuzzInbound(key)
		behind := fuzzInbound(key)
		r := bytes.NewReader(input)
		var buf []byte
		consumed := 0
		for {
			got, err := ReadFrame(r, max, buf)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				if err == io.EOF && consumed != len(input) {
					t.Fatalf("io.EOF after %d of %d bytes", consumed, len(input))
				}
				return
			}
			if len(got) > max {
				t.Fatalf("frame of %d bytes over limit %d", len(got), max)
			}
			// The frame re-encodes to exactly the bytes it was read from.
			var enc bytes.Buffer
			if err := WriteFrame(&enc, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc.Bytes(), input[consumed:consumed+enc.Len()]) {
				t.Fatalf("frame at %d does not re-encode to its input", consumed)
			}
			consumed += enc.Len()

			plain.check(t, got)
			if _, v, _ := keyed.handle(got); v != refuse {
				t.Fatalf("a fuzzed frame %x got past the key: verdict %d", got, v)
			}
			var sender codec.PeerID
			if len(got) > 0 {
				sender = codec.PeerID(got[0] % 5) // 0 and 4 are not peers
			}
			sealed := key.Seal(nil, sender, sealContext(nil, behind.challenge, behind.frames+1), got)
			if v := behind.check(t, sealed); v == refuse {
				t.Fatalf("a genuinely sealed frame was refused")
			}
			buf = got
		}
	})
}

// fuzzInbound is a connection state of a Transport for peers 1..3.
func fuzzInbound(key *seal.Key) *fuzzConn {
	t := &Transport{cfg: Config{Self: 1, Peers: 3, Key: key}, log: zerolog.Nop(), throttle: lograte.New(time.Second)}
	return &fuzzConn{inbound: newInbound(t, "fuzz", "fuzz")}
}

type fuzzConn struct {
	*inbound
	sender codec.PeerID // the one sender delivered so far
}

// check handles one frame and checks that a delivered message comes from a
// known peer, the same one for the whole connection.
func (c *fuzzConn) check(t *testing.T, payload []byte) verdict {
	t.Helper()
	m, v, err := c.handle(payload)
	switch {
	case v == deliver && (m == nil || err != nil):
		t.Fatalf("deliver %v with error %v", m, err)
	case v != deliver && m != nil:
		t.Fatalf("verdict %d with a message %#v", v, m)
	case v == deliver:
		from := m.Sender()
		if from < 1 || from > 3 || from != c.bound || c.sender != 0 && from != c.sender {
			t.Fatalf("delivered a message from %d on a connection of %d (first sender %d)", from, c.bound, c.sender)
		}
		c.sender = from
	}
	return v
}

func BenchmarkFrameRoundTrip(b *testing.B) {
	payload := bytes.Repeat([]byte{0x5a}, 64)
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	br := bufio.NewReader(&buf)
	var out []byte
	b.ReportAllocs()
	b.SetBytes(int64(headerLen + len(payload)))
	for b.Loop() {
		if err := WriteFrame(bw, payload); err != nil {
			b.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		got, err := ReadFrame(br, 0, out)
		if err != nil {
			b.Fatal(err)
		}
		out = got
	}
}
