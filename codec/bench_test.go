package codec

import "testing"

func benchMessages() []namedMessage {
	const inc = 1_700_000_000_000_000_000 // incarnations are start times in nanoseconds
	return []namedMessage{
		{"Req", &Req{From: 1, RequestID: NewRequestID(1, 12), ViewID: 40, Op: OpAdd, Peers: []PeerID{17}, Epoch: 3, Leader: 1, Voters: ids(1, 16), Incarnations: []uint64{inc}}},
		{"Req128", &Req{From: 1, RequestID: NewRequestID(1, 12), ViewID: 40, Op: OpDel, Peers: []PeerID{5}, Epoch: 3, Leader: 1, Voters: ids(1, 128)}},
		{"OK", &OK{From: 2, RequestID: NewRequestID(1, 12), ViewID: 40, Epoch: 3}},
		{"NewView16", &NewView{From: 1, ViewID: 40, Leader: 1, Members: ids(1, 16), Epoch: 3, EpochLeader: 1, Incarnations: incs(inc, 16)}},
		{"NewView128", &NewView{From: 1, ViewID: 40, Leader: 1, Members: ids(1, 128), Epoch: 3, EpochLeader: 1, Incarnations: incs(inc, 128)}},
		{"Heartbeat", &Heartbeat{From: 3, ViewID: 40, Seq: 123456}},
		{"Probe", &Probe{From: 3, Nonce: 123456}},
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, bm := range benchMessages() {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(mustMarshal(b, bm.m))))
			for b.Loop() {
				if _, err := Marshal(bm.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, bm := range benchMessages() {
		b.Run(bm.name, func(b *testing.B) {
			enc := mustMarshal(b, bm.m)
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if _, err := Unmarshal(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
