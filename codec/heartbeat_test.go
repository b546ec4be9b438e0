package codec

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

// FuzzDecodeHeartbeat: DecodeHeartbeat accepts exactly what Unmarshal accepts
// as a heartbeat, with the same result, and fails with the same sentinel.
func FuzzDecodeHeartbeat(f *testing.F) {
	for _, hb := range []*Heartbeat{{From: 1}, {From: 7, ViewID: 1 << 32, Seq: 65536, Epoch: 2, EpochLeader: 3},
		{From: math.MaxUint32, ViewID: math.MaxUint64, Seq: math.MaxUint64, Epoch: math.MaxUint64, EpochLeader: math.MaxUint32}} {
		f.Add(mustMarshal(f, hb))
	}
	for _, b := range [][]byte{
		nil, {7}, {7, 0x95}, {7, 0x93, 1, 1, 1}, {7, 0x94, 1, 1, 1, 1}, {7, 0x96, 1, 1, 1, 1, 1, 1}, {7, 0x95, 0, 1, 1, 1, 1},
		{7, 0x95, 1, 0xff, 1, 1, 1}, {7, 0x95, 1, 1, 1, 1, 1, 0}, {7, 0x95, 0xd0, 0x80, 1, 1, 1, 1},
		{7, 0x95, 0xd3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}, {7, 0x95, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1},
		{7, 0x95, 1, 1, 1, 1, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0}, {7, 0x95, 1, 0xc0, 1, 1, 1}, {8, 0x92, 1, 1}, {99},
		raw(TypeHeartbeat, "dc00050101010101"), raw(TypeHeartbeat, "dd000000050101010101"), raw(TypeHeartbeat, "95ca3f800000"+"01010101"),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Heartbeat
		err := DecodeHeartbeat(b, &got)
		m, uerr := Unmarshal(b)
		want, isHB := m.(*Heartbeat)
		switch {
		case uerr == nil && isHB:
			if err != nil || !reflect.DeepEqual(&got, want) {
				t.Fatalf("%x: Unmarshal %#v, DecodeHeartbeat %#v, %v", b, want, got, err)
			}
		case err == nil:
			t.Fatalf("%x: DecodeHeartbeat accepted %#v, Unmarshal: %#v, %v", b, got, m, uerr)
		case errors.Is(uerr, ErrUnknownType) != errors.Is(err, ErrUnknownType):
			t.Fatalf("%x: errors differ: Unmarshal %v, DecodeHeartbeat %v", b, uerr, err)
		case !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType):
			t.Fatalf("%x: error %v wraps neither sentinel", b, err)
		}
	})
}

func TestDecodeHeartbeatDoesNotAllocate(t *testing.T) {
	b := mustMarshal(t, &Heartbeat{From: 3, ViewID: 1 << 40, Seq: 1 << 62, Epoch: 1 << 33, EpochLeader: 3})
	var hb Heartbeat
	if n := testing.AllocsPerRun(100, func() {
		if err := DecodeHeartbeat(b, &hb); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per heartbeat", n)
	}
}

func BenchmarkDecodeHeartbeat(b *testing.B) {
	buf := mustMarshal(b, &Heartbeat{From: 3, ViewID: 1 << 40, Seq: 1 << 62})
	var hb Heartbeat
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeHeartbeat(buf, &hb); err != nil {
			b.Fatal(err)
		}
	}
}
