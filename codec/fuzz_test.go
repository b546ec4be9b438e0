package codec

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzUnmarshal: Unmarshal never panics and fails only with its sentinels;
// whatever it accepts re-encodes to bytes that decode to the same message, and
// re-encoding that gives the same bytes again.
//
// testdata/fuzz/FuzzUnmarshal holds valid encodings and regressions; they run
// with every go test.
func FuzzUnmarshal(f *testing.F) {
	for _, tc := range validMessages() {
		if b := mustMarshal(f, tc.m); len(b) < 1024 {
			f.Add(b)
		}
	}
	for _, b := range [][]byte{
		nil,
		{0},
		{byte(TypeProbe)},
		{byte(TypeProbeAck)},
		{10},
		{255},
		{byte(TypeJoin)},
		raw(TypeJoin, "c0"),
		raw(TypeJoin, "9201"),
		raw(TypeJoin, "920102"),   // previous layout
		raw(TypeJoin, "920102c0"), // previous layout, a trailing nil
		raw(TypeJoin, "930102c0"), // nil incarnation
		raw(TypeJoin, "930102"),   // incarnation missing
		body(TypeJoin, -1, 2, 1),
		body(TypeJoin, uint64(1<<32+1), 2, 1),
		body(TypeJoin, 1, 2, 0),  // incarnation 0
		body(TypeJoin, 1, 2, -1), // negative incarnation
		raw(TypeJoin, "930102cfffffffffffffffff"),
		body(TypeReq, 1, 1, 1, OpPending, []PeerID{2}, 1, 1, []PeerID{1}, 0, []uint64{1}),
		body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 2, []uint64{1}),    // forced 2
		body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{3, 1}, 0, []uint64{1}), // voters unsorted
		body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 0, []PeerID{1}, 0, []uint64{1}),    // leader 0
		body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, nil),            // no incarnations
		body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, []uint64{1, 1}), // too many incarnations
		body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2, 3}, 1, 1, []PeerID{1}, 0, []uint64{1, 0}),
		body(TypeReq, 1, 1, 1, OpDel, []PeerID{2}, 1, 1, []PeerID{1}, 0, []uint64{1}), // a DEL with incarnations
		body(TypeReq, 1, 1, 1, OpLeave, []PeerID{2}, 1, 1, []PeerID{1}, 0, []uint64{}),
		body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0), // previous layout
		body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}),                       // first layout
		body(TypeOK, 1, 1, 1), // previous layout
		body(TypeNewLeader, 2, 1, 1, OpAdd, 1),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, []PeerID{2}, 0, 0, nil, 0, []uint64{1, 1}, nil),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, []PeerID{1}, 0, []uint64{1, 1}, nil),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, []uint64{1, 1}, []uint64{1}),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, []uint64{1}, nil),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, []uint64{0, 1}, nil),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 0, []PeerID{1, 3}, 0, []uint64{1, 1}, []uint64{1}),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, []uint64{1, 1}, nil),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, []uint64{1, 1}, []uint64{0}),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 1, []PeerID{1, 3}, 2, []uint64{1, 1}, nil),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 1, []PeerID{1, 3}, 0, []uint64{1, 1}, []uint64{1}),
		body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0), // previous layout
		body(TypeNewView, 1, 1, 1, []PeerID{2, 1}, 1, 1, []uint64{1, 1}),
		body(TypeNewView, 1, 1, 0, []PeerID{1}, 1, 1, []uint64{1}),
		body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 0, []uint64{1}),
		body(TypeNewView, 1, 1, 1, []PeerID{1, 2}, 1, 1, []uint64{1}),
		body(TypeNewView, 1, 1, 1, []PeerID{1, 2}, 1, 1, []uint64{1, 0}),
		body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1), // previous layout
		body(TypeProbe, 0, 1),
		body(TypeProbe, 1, -1),
		body(TypeProbeAck, 1, nil, 1, 1, 1),
		body(TypeProbeAck, 1, 1, 1, 1, 0), // incarnation 0
		body(TypeProbeAck, 1, 1, 1, 1),    // previous layout
		body(TypeProbeAck, 1, 1, 1),
		raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"dd80000000"),
		raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"dd80000000"+"00"),
		raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"9101"+"00"+"dd80000000"),
		raw(TypeNewView, "97"+"01"+"01"+"01"+"9101"+"01"+"01"+"dd80000000"),
		raw(TypePendingReply, "9f"+"01"+"01"+"01"+"01"+"9101"+"01"+"01"+"01"+"9102"+"01"+"01"+"9101"+"00"+"9101"+"dd80000000"),
		raw(TypeHeartbeat, "df80000000"),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("Unmarshal(%x): error %v wraps neither sentinel", b, err)
			}
			if m != nil {
				t.Fatalf("Unmarshal(%x) returned %#v with error %v", b, m, err)
			}
			return
		}
		if b[0] != byte(m.Type()) {
			t.Fatalf("Unmarshal(%x) gave a %v", b, m.Type())
		}
		b2, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%#v) of a decoded message: %v", m, err)
		}
		m2, err := Unmarshal(b2)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%#v)) = %x: %v", m, b2, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding changed the message:\n%#v\n%#v", m, m2)
		}
		if b3, _ := Marshal(m2); !bytes.Equal(b2, b3) {
			t.Fatalf("encoding not stable: %x then %x", b2, b3)
		}
	})
}
