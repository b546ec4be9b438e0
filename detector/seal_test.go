package detector

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
	"peer/seal"
)

func testKey(t testing.TB, fill byte) *seal.Key {
	t.Helper()
	k, err := seal.NewKey(bytes.Repeat([]byte{fill}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealedFor is what peer hb.From sends to peer to, with key.
func sealedFor(t testing.TB, key *seal.Key, to codec.PeerID, hb *codec.Heartbeat) []byte {
	t.Helper()
	plain, err := codec.Marshal(hb)
	if err != nil {
		t.Fatal(err)
	}
	return key.Seal([]byte{sealedMarker}, hb.From, sealContext(nil, to), plain)
}

// packetDetector is peer self with key (nil: none) for a hostsfile of 3,
// without a socket: tests hand it datagrams.
func packetDetector(t testing.TB, self codec.PeerID, key *seal.Key) *Detector {
	t.Helper()
	cfg, err := Config{Self: self, Interval: testInterval, Peers: 3, Key: key,
		Addr:    func(codec.PeerID) (*net.UDPAddr, error) { return nil, errors.New("none") },
		Suspect: func(codec.PeerID) {}, Logger: zerolog.Nop()}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return newDetector(cfg, nil)
}

// forwarded hands b to d's reader side and returns the heartbeat it would
// record, or nil.
func forwarded(d *Detector, b []byte) *codec.Heartbeat {
	var hb codec.Heartbeat
	if !d.handlePacket(b, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, &hb) {
		return nil
	}
	return &hb
}

func TestSealedPackets(t *testing.T) {
	key, other := testKey(t, 1), testKey(t, 2)
	beat := &codec.Heartbeat{From: 2, ViewID: 4, Seq: 77}
	plain, _ := codec.Marshal(beat)
	good := sealedFor(t, key, 1, beat)

	d := packetDetector(t, 1, key)
	if hb := forwarded(d, good); hb == nil || *hb != *beat {
		t.Fatalf("a good sealed heartbeat gave %+v", hb)
	}
	refused := map[string][]byte{
		"plain":                 plain,
		"another key":           sealedFor(t, other, 1, beat),
		"sealed for peer 3":     sealedFor(t, key, 3, beat),
		"no marker":             good[1:],
		"flipped bit":           append(append([]byte{}, good[:len(good)-1]...), good[len(good)-1]^1),
		"marker only":           {sealedMarker},
		"empty":                 {},
		"sealed as another one": append([]byte{sealedMarker}, key.Seal(nil, 3, sealContext(nil, 1), plain)...),
	}
	for name, b := range refused {
		before := d.Stats()
		if hb := forwarded(d, b); hb != nil {
			t.Errorf("%s: forwarded %+v", name, hb)
		}
		after := d.Stats()
		if after.AuthFailed+after.Bad != before.AuthFailed+before.Bad+1 {
			t.Errorf("%s: not counted: %+v", name, after)
		}
	}
	// Sealed by 3 but claiming to be 2 opens (3 holds the key) and is then
	// dropped as a sender mismatch; the others fail authentication.
	if s := d.Stats(); s.Bad != 1 || s.AuthFailed != uint64(len(refused)-1) {
		t.Fatalf("stats %+v", s)
	}

	// A peer without a key takes none of it, and says so.
	nokey := packetDetector(t, 1, nil)
	if hb := forwarded(nokey, good); hb != nil || nokey.Stats().AuthFailed != 1 {
		t.Fatalf("keyless peer forwarded a sealed heartbeat: %+v, %+v", hb, nokey.Stats())
	}
	if hb := forwarded(nokey, plain); hb == nil {
		t.Fatal("keyless peer dropped a plain heartbeat")
	}

	// A sender outside the hostsfile is dropped, sealed or not.
	outsider := &codec.Heartbeat{From: 9, ViewID: 4, Seq: 1}
	op, _ := codec.Marshal(outsider)
	if hb := forwarded(nokey, op); hb != nil {
		t.Fatalf("forwarded %+v from outside the hostsfile", hb)
	}
	if hb := forwarded(d, sealedFor(t, key, 1, outsider)); hb != nil {
		t.Fatalf("forwarded sealed %+v from outside the hostsfile", hb)
	}
}

// With a key, a replayed heartbeat never counts, even after the sender has
// been silent for longer than the timeout (without a key that would be taken
// for a restart).
func TestKeyedLoopRejectsReplays(t *testing.T) {
	l, rec := newTestLoop(t, nil)
	l.d.cfg.Key = testKey(t, 1)
	l.setView(1, ids(1, 2), at(0))
	deliver(l, hb(2, 1, 10), at(10))
	deliver(l, hb(2, 1, 10), at(20)) // duplicate
	deliver(l, hb(2, 1, 9), at(30))  // late
	deliver(l, hb(2, 1, 5), at(141)) // replayed after a silence: not a restart with a key
	if want := ids(2); !slices.Equal(rec.observed, want) {
		t.Fatalf("observed %v, want %v", rec.observed, want)
	}
	l.expire(at(141))
	if !slices.Equal(rec.suspects, ids(2)) {
		t.Fatalf("suspects %v: the replays kept a silent peer alive", rec.suspects)
	}
	deliver(l, hb(2, 1, 11), at(150)) // a genuinely newer one is accepted
	if want := ids(2, 2); !slices.Equal(rec.observed, want) {
		t.Fatalf("observed %v, want %v", rec.observed, want)
	}
}

// A group with one key exchanges sealed heartbeats and suspects nobody; a
// peer with another key, or none, is never heard and is suspected.
func TestSealedGroup(t *testing.T) {
	key := testKey(t, 1)
	keys := map[codec.PeerID]*seal.Key{1: key, 2: key, 3: testKey(t, 2), 4: nil}
	g := newGroup(t, 4, 10*time.Millisecond, 300*time.Millisecond, nil, func(self codec.PeerID, c *Config) {
		c.Key, c.Peers = keys[self], 4
	})
	for _, d := range g.dets {
		d.SetView(1, ids(1, 2, 3, 4))
	}
	g.waitHeartbeats(ids(1, 2), 10)
	waitFor(t, "peers 1 and 2 to suspect 3 and 4", func() bool {
		return slices.Equal(g.suspectsOf(1), ids(3, 4)) && slices.Equal(g.suspectsOf(2), ids(3, 4))
	})
	for _, w := range ids(1, 2) {
		if g.count(w, 3) != 0 || g.count(w, 4) != 0 {
			t.Fatalf("peer %d accepted heartbeats from a peer with another key", w)
		}
		if s := g.det(w).Stats(); s.AuthFailed == 0 {
			t.Fatalf("peer %d: %+v", w, s)
		}
	}
	for _, w := range ids(3, 4) {
		if s := g.det(w).Stats(); s.AuthFailed == 0 || g.count(w, 1) != 0 {
			t.Fatalf("peer %d accepted heartbeats with another key: %+v", w, s)
		}
	}
}

// BenchmarkHeartbeat is one heartbeat from sender to receiver without the
// socket: encode (and seal for the receiver) as sendRound and write do, then
// open, decode and forward as the reader does.
func BenchmarkHeartbeat(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		name := "plain"
		var key *seal.Key
		if keyed {
			name, key = "sealed", testKey(b, 1)
		}
		b.Run(name, func(b *testing.B) {
			recv := packetDetector(b, 1, key)
			var hb, sealed, ctx []byte
			b.ReportAllocs()
			seq := uint64(1)
			for b.Loop() {
				seq++
				var err error
				hb, err = codec.AppendMarshal(hb[:0], &codec.Heartbeat{From: 2, ViewID: 9, Seq: seq})
				if err != nil {
					b.Fatal(err)
				}
				datagram := hb
				if key != nil {
					ctx = sealContext(ctx[:0], 1)
					sealed = key.Seal(append(sealed[:0], sealedMarker), 2, ctx, hb)
					datagram = sealed
				}
				if forwarded(recv, datagram) == nil {
					b.Fatal("dropped")
				}
			}
		})
	}
}
