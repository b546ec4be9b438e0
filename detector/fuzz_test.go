package detector

import (
	"errors"
	"net"
	"testing"

	"github.com/rs/zerolog"

	"peer/codec"
)

// FuzzHeartbeatPacket feeds a datagram through what the reader and Run do
// with it: decode, forward, observe, report. It must never panic, and only a
// valid heartbeat may get through.
func FuzzHeartbeatPacket(f *testing.F) {
	seeds := [][]byte{{}, {7}, {0xff}, {7, 0x93, 1, 2}, {7, 0xdd, 0xff, 0xff, 0xff, 0xff}, {7, 0x93, 0xc0, 1, 1}}
	for _, m := range []codec.Message{
		&codec.Heartbeat{From: 2, ViewID: 1, Seq: 1},
		&codec.Heartbeat{From: 3, ViewID: 7, Seq: 1 << 60},
		&codec.Heartbeat{From: 1, ViewID: 1, Seq: 1},
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
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, _ := Config{Self: 1, Interval: testInterval,
			Addr:    func(codec.PeerID) (*net.UDPAddr, error) { return nil, errors.New("none") },
			Suspect: func(codec.PeerID) {}, Logger: zerolog.Nop()}.withDefaults()
		d := newDetector(cfg, nil)
		l := newLoop(d, t0)
		l.setView(1, ids(1, 2, 3), at(0))
		d.handlePacket(b, nil)
		select {
		case h := <-d.packets:
			if h == nil || h.From == 0 {
				t.Fatalf("forwarded %+v for %x", h, b)
			}
			l.receive(h, at(1))
		default:
			if d.Stats().Bad != 1 {
				t.Fatalf("%x neither forwarded nor counted bad", b)
			}
		}
		l.expire(at(1000))
	})
}
