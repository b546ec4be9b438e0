package detector

import (
	"testing"

	"peer/codec"
)

// FuzzHeartbeatPacket feeds a datagram through what the reader and Run do
// with it: open, decode, forward, observe, report. It must never panic, and
// only a valid heartbeat from a peer of the hostsfile may get through. The
// datagram goes to three detectors: one without a key, one with a key (a
// fuzzed datagram can never authenticate there), and one with a key that
// receives the fuzzed bytes sealed by a genuine key holder, so that what
// comes after authentication is fuzzed too.
//
// testdata/fuzz/FuzzHeartbeatPacket holds the seeds and regressions; they
// run with every go test.
func FuzzHeartbeatPacket(f *testing.F) {
	seeds := [][]byte{{}, {7}, {0xff}, {sealedMarker}, {7, 0x93, 1, 2}, {7, 0xdd, 0xff, 0xff, 0xff, 0xff}, {7, 0x93, 0xc0, 1, 1}}
	for _, m := range []codec.Message{
		&codec.Heartbeat{From: 2, ViewID: 1, Seq: 1},
		&codec.Heartbeat{From: 3, ViewID: 7, Seq: 1 << 60},
		&codec.Heartbeat{From: 1, ViewID: 1, Seq: 1},
		&codec.Heartbeat{From: 9, ViewID: 1, Seq: 1},
		&codec.Join{From: 2, Joiner: 2},
		&codec.NewView{From: 1, ViewID: 2, Leader: 1, Members: []codec.PeerID{1, 2}},
	} {
		b, err := codec.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	key := testKey(f, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(d *Detector, b []byte) *codec.Heartbeat {
			l := newState(d, t0)
			l.setView(1, ids(1, 2, 3), at(0))
			before := d.Stats()
			if h := new(codec.Heartbeat); d.handlePacket(b, nil, h) {
				if h.From == 0 || h.From > 3 {
					t.Fatalf("forwarded %+v for %x", h, b)
				}
				l.receive(h, at(1))
				l.expire(at(1000))
				return h
			}
			if s := d.Stats(); s.Bad+s.AuthFailed != before.Bad+before.AuthFailed+1 {
				t.Fatalf("%x neither forwarded nor counted bad", b)
			}
			l.expire(at(1000))
			return nil
		}
		check(packetDetector(t, 1, nil), b)
		if h := check(packetDetector(t, 1, key), b); h != nil {
			t.Fatalf("a fuzzed datagram %x got past the key: %+v", b, h)
		}
		var sender codec.PeerID
		if len(b) > 0 {
			sender = codec.PeerID(b[0] % 5)
		}
		sealed := key.Seal([]byte{sealedMarker}, sender, sealContext(nil, 1), b)
		if h := check(packetDetector(t, 1, key), sealed); h != nil && h.From != sender {
			t.Fatalf("heartbeat of %d sealed by %d got through", h.From, sender)
		}
	})
}
