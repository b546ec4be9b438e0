package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

const maxPeer = PeerID(math.MaxUint32)

// ids returns the n consecutive ids first, first+1, ...
func ids(first PeerID, n int) []PeerID {
	out := make([]PeerID, n)
	for i := range out {
		out[i] = first + PeerID(i)
	}
	return out
}

type namedMessage struct {
	name string
	m    Message
}

// validMessages are the round-trip table: every type, its ops, and edge values.
func validMessages() []namedMessage {
	maxReq := NewRequestID(maxPeer, math.MaxUint32)
	return []namedMessage{
		{"join", &Join{From: 3, Joiner: 3}},
		{"join forwarded", &Join{From: 1, Joiner: 5}},
		{"join max ids", &Join{From: maxPeer, Joiner: maxPeer}},

		{"req add", &Req{From: 1, RequestID: NewRequestID(1, 1), ViewID: 1, Op: OpAdd, Peers: []PeerID{2}}},
		{"req del", &Req{From: 2, RequestID: NewRequestID(2, 9), ViewID: 7, Op: OpDel, Peers: []PeerID{1}}},
		{"req batch", &Req{From: 1, RequestID: NewRequestID(1, 2), ViewID: 3, Op: OpAdd, Peers: []PeerID{4, 5, 9}}},
		{"req max values", &Req{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Op: OpDel, Peers: []PeerID{maxPeer}}},
		{"req max members", &Req{From: 1, RequestID: 1, ViewID: 1, Op: OpAdd, Peers: ids(maxPeer-MaxMembers+1, MaxMembers)}},

		{"ok", &OK{From: 2, RequestID: NewRequestID(1, 1), ViewID: 1}},
		{"ok zero ids", &OK{From: 2}},
		{"ok max values", &OK{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64}},

		{"newview single", &NewView{From: 1, ViewID: 1, Leader: 1, Members: []PeerID{1}}},
		{"newview resent by new leader", &NewView{From: 2, ViewID: 4, Leader: 1, Members: []PeerID{1, 2, 5}}},
		{"newview large view id", &NewView{From: 1, ViewID: math.MaxUint64, Leader: maxPeer, Members: []PeerID{1, 1 << 16, maxPeer}}},
		{"newview 4096 members", &NewView{From: 1, ViewID: 1 << 40, Leader: 1, Members: ids(1, MaxMembers)}},
		{"newview 4096 max ids", &NewView{From: maxPeer, ViewID: 2, Leader: maxPeer, Members: ids(maxPeer-MaxMembers+1, MaxMembers)}},

		{"newleader", &NewLeader{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Op: OpPending, Replaces: 1}},
		{"newleader max values", &NewLeader{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Op: OpPending, Replaces: maxPeer}},

		{"pendingreply nothing", &PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpNothing}},
		{"pendingreply nothing empty peers", &PendingReply{From: 3, RequestID: 1, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing, Peers: []PeerID{}}},
		{"pendingreply no view", &PendingReply{From: 4, RequestID: 1, Op: OpNothing}},
		{"pendingreply empty members", &PendingReply{From: 4, RequestID: 1, Members: []PeerID{}, Op: OpNothing}},
		{"pendingreply add", &PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpAdd, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{4}}},
		{"pendingreply del", &PendingReply{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpDel, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{1, 3}}},
		{"pendingreply max values", &PendingReply{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Leader: maxPeer, Members: ids(maxPeer-MaxMembers+1, MaxMembers), Op: OpDel, PendingRequest: maxReq, PendingView: math.MaxUint64, Peers: ids(maxPeer-MaxMembers+1, MaxMembers)}},

		{"heartbeat", &Heartbeat{From: 1, ViewID: 1, Seq: 1}},
		{"heartbeat zero view and seq", &Heartbeat{From: 1}},
		{"heartbeat max values", &Heartbeat{From: maxPeer, ViewID: math.MaxUint64, Seq: math.MaxUint64}},
	}
}

func mustMarshal(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatalf("Marshal(%#v): %v", m, err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	seen := map[Type]bool{}
	for _, tc := range validMessages() {
		t.Run(tc.name, func(t *testing.T) {
			seen[tc.m.Type()] = true
			b := mustMarshal(t, tc.m)
			if Type(b[0]) != tc.m.Type() {
				t.Fatalf("type byte %d, want %d", b[0], tc.m.Type())
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal(%x): %v", b, err)
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, tc.m)
			}
			if got.Sender() != reflect.ValueOf(tc.m).Elem().FieldByName("From").Interface() {
				t.Errorf("Sender() = %d, want From", got.Sender())
			}
			// Unmarshal keeps nothing of its input.
			clear(b)
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("decoded message aliases its input")
			}
		})
	}
	for ty := range typeNames {
		if !seen[ty] {
			t.Errorf("no round trip for %v", ty)
		}
	}
}

func TestAppendMarshal(t *testing.T) {
	prefix := []byte("prefix")
	for _, tc := range validMessages() {
		want := mustMarshal(t, tc.m)
		got, err := AppendMarshal(slices.Clone(prefix), tc.m)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, append(slices.Clone(prefix), want...)) {
			t.Errorf("%s: AppendMarshal = %x, want prefix then %x", tc.name, got, want)
		}
	}
}

// TestEncoding pins the exact bytes of a few messages: they are protocol, and
// another version of this program must read them.
func TestEncoding(t *testing.T) {
	tests := []struct {
		m    Message
		want string // hex
	}{
		{&Join{From: 1, Joiner: 2}, "01" + "92" + "01" + "02"},
		{&Req{From: 1, RequestID: NewRequestID(1, 2), ViewID: 3, Op: OpAdd, Peers: []PeerID{4}},
			"02" + "95" + "01" + "cf0000000100000002" + "03" + "01" + "9104"},
		{&OK{From: 2, RequestID: NewRequestID(1, 2), ViewID: 300}, "03" + "93" + "02" + "cf0000000100000002" + "cd012c"},
		{&NewView{From: 1, ViewID: 2, Leader: 1, Members: []PeerID{1, 2}}, "04" + "94" + "01" + "02" + "01" + "920102"},
		{&NewLeader{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Op: OpPending, Replaces: 1},
			"05" + "95" + "02" + "cf0000000200000001" + "03" + "03" + "01"},
		{&PendingReply{From: 3, RequestID: 5, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing},
			"06" + "99" + "03" + "05" + "03" + "01" + "920103" + "04" + "00" + "00" + "c0"},
		{&Heartbeat{From: 7, ViewID: 1 << 32, Seq: 65536},
			"07" + "93" + "07" + "cf0000000100000000" + "ce00010000"},
	}
	for _, tc := range tests {
		got := hex.EncodeToString(mustMarshal(t, tc.m))
		if got != tc.want {
			t.Errorf("Marshal(%#v)\n got %s\nwant %s", tc.m, got, tc.want)
		}
		b, _ := hex.DecodeString(tc.want)
		m, err := Unmarshal(b)
		if err != nil || !reflect.DeepEqual(m, tc.m) {
			t.Errorf("Unmarshal(%s) = %#v, %v; want %#v", tc.want, m, err, tc.m)
		}
	}
}

// TestUnmarshalWideIntegers: another encoder may not use the smallest integer
// encoding, or may use signed codes for non-negative numbers. Same value, same
// message.
func TestUnmarshalWideIntegers(t *testing.T) {
	tests := []string{
		"01" + "92" + "cf0000000000000001" + "ce00000002", // uint64, uint32
		"01" + "92" + "d30000000000000001" + "d10002",     // int64, int16
		"01" + "92" + "cc01" + "d002",                     // uint8, int8
	}
	want := &Join{From: 1, Joiner: 2}
	for _, h := range tests {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Unmarshal(b)
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Errorf("Unmarshal(%s) = %#v, %v; want %#v", h, m, err, want)
		}
	}
}

// body encodes fields as a msgpack array behind type byte t, for crafting
// messages Marshal would never produce.
func body(t Type, fields ...any) []byte {
	b, err := msgpack.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return append([]byte{byte(t)}, b...)
}

// raw is a type byte followed by literal msgpack bytes.
func raw(t Type, hexBody string) []byte {
	b, err := hex.DecodeString(hexBody)
	if err != nil {
		panic(err)
	}
	return append([]byte{byte(t)}, b...)
}

func checkBroken(t *testing.T, b []byte, want error) {
	t.Helper()
	m, err := Unmarshal(b)
	if err == nil {
		t.Fatalf("Unmarshal(%x) = %#v, want an error", b, m)
	}
	if !errors.Is(err, want) {
		t.Fatalf("Unmarshal(%x): %v, want an error wrapping %q", b, err, want)
	}
	if m != nil {
		t.Fatalf("Unmarshal(%x) returned %#v with its error", b, m)
	}
}

func TestUnmarshalBroken(t *testing.T) {
	joinMap, _ := msgpack.Marshal(map[string]any{"From": 1, "Joiner": 2})
	tooMany := ids(1, MaxMembers+1)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"nil input", nil, ErrMalformed},
		{"empty input", []byte{}, ErrMalformed},
		{"type 0", []byte{0}, ErrUnknownType},
		{"type 8", []byte{8}, ErrUnknownType},
		{"type 255", []byte{255}, ErrUnknownType},
		{"type 0 with a join body", body(0, 1, 2), ErrUnknownType},
		{"type 8 with a heartbeat body", body(8, 1, 1, 1), ErrUnknownType},
		{"type 255 with a body", body(255, 1), ErrUnknownType},
		{"type byte only", []byte{byte(TypeJoin)}, ErrMalformed},

		// The body is not an array of the right length.
		{"nil body", raw(TypeJoin, "c0"), ErrMalformed},
		{"map body", append([]byte{byte(TypeJoin)}, joinMap...), ErrMalformed},
		{"string body", raw(TypeJoin, "a3616263"), ErrMalformed},
		{"int body", raw(TypeHeartbeat, "01"), ErrMalformed},
		{"bin body", raw(TypeHeartbeat, "c403010101"), ErrMalformed},
		{"empty array", raw(TypeOK, "90"), ErrMalformed},
		{"join 1 field", body(TypeJoin, 1), ErrMalformed},
		{"join 3 fields", body(TypeJoin, 1, 2, 3), ErrMalformed},
		{"req 4 fields", body(TypeReq, 1, 1, 1, OpAdd), ErrMalformed},
		{"req 6 fields", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 0), ErrMalformed},
		{"ok 2 fields", body(TypeOK, 1, 1), ErrMalformed},
		{"ok 4 fields", body(TypeOK, 1, 1, 1, 1), ErrMalformed},
		{"newview 3 fields", body(TypeNewView, 1, 1, 1), ErrMalformed},
		{"newview 5 fields", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1), ErrMalformed},
		{"newleader 4 fields", body(TypeNewLeader, 1, 1, 1, OpPending), ErrMalformed},
		{"newleader 6 fields", body(TypeNewLeader, 1, 1, 1, OpPending, 2, 2), ErrMalformed},
		{"pendingreply 8 fields", body(TypePendingReply, 1, 1, 1, 1, []PeerID{1}, OpNothing, 0, 0), ErrMalformed},
		{"pendingreply 10 fields", body(TypePendingReply, 1, 1, 1, 1, []PeerID{1}, OpNothing, 0, 0, nil, 0), ErrMalformed},
		{"heartbeat 2 fields", body(TypeHeartbeat, 1, 1), ErrMalformed},
		{"heartbeat 4 fields", body(TypeHeartbeat, 1, 1, 1, 1), ErrMalformed},
		{"message in a message", body(TypeJoin, body(TypeJoin, 1, 2), 2), ErrMalformed},

		// A field of the wrong type.
		{"string from", body(TypeJoin, "1", 2), ErrMalformed},
		{"bool joiner", body(TypeJoin, 1, true), ErrMalformed},
		{"float from", body(TypeJoin, 1.0, 2), ErrMalformed},
		{"array from", body(TypeJoin, []int{1}, 2), ErrMalformed},
		{"nil view id", body(TypeHeartbeat, 1, nil, 1), ErrMalformed},
		{"nil seq", body(TypeHeartbeat, 1, 1, nil), ErrMalformed},
		{"nil op", body(TypeReq, 1, 1, 1, nil, []PeerID{2}), ErrMalformed},
		{"float request id", body(TypeOK, 1, 1.5, 1), ErrMalformed},
		{"string members", body(TypeNewView, 1, 1, 1, "1,2"), ErrMalformed},
		{"map members", body(TypeNewView, 1, 1, 1, map[int]int{1: 1}), ErrMalformed},
		{"int members", body(TypeNewView, 1, 1, 1, 1), ErrMalformed},
		{"nil member", body(TypeNewView, 1, 1, 1, []any{1, nil}), ErrMalformed},
		{"string member", body(TypeNewView, 1, 1, 1, []any{1, "2"}), ErrMalformed},
		{"nested member", body(TypeNewView, 1, 1, 1, []any{1, []int{2}}), ErrMalformed},

		// A number outside its field: msgpack alone would truncate or wrap it.
		{"negative from", body(TypeJoin, -1, 2), ErrMalformed},
		{"negative int64 view id", raw(TypeHeartbeat, "93"+"01"+"d3ffffffffffffffff"+"01"), ErrMalformed},
		{"from 2^32+1", body(TypeJoin, uint64(1<<32+1), 2), ErrMalformed},
		{"joiner 2^32", body(TypeJoin, 1, uint64(1<<32)), ErrMalformed},
		{"op 256", body(TypeReq, 1, 1, 1, 256, []PeerID{2}), ErrMalformed},
		{"newleader op 259", body(TypeNewLeader, 1, 1, 1, 259, 2), ErrMalformed},
		{"member 2^32+2", body(TypeNewView, 1, 1, 1, []uint64{1, 1<<32 + 2}), ErrMalformed},
		{"negative member", body(TypeNewView, 1, 1, 1, []int{-1, 1}), ErrMalformed},

		// An operation that does not belong to the type.
		{"req op 0", body(TypeReq, 1, 1, 1, 0, []PeerID{2}), ErrMalformed},
		{"req op pending", body(TypeReq, 1, 1, 1, OpPending, []PeerID{2}), ErrMalformed},
		{"req op nothing", body(TypeReq, 1, 1, 1, OpNothing, []PeerID{2}), ErrMalformed},
		{"req op 5", body(TypeReq, 1, 1, 1, 5, []PeerID{2}), ErrMalformed},
		{"newleader op 0", body(TypeNewLeader, 2, 1, 1, 0, 1), ErrMalformed},
		{"newleader op add", body(TypeNewLeader, 2, 1, 1, OpAdd, 1), ErrMalformed},
		{"newleader op del", body(TypeNewLeader, 2, 1, 1, OpDel, 1), ErrMalformed},
		{"newleader op nothing", body(TypeNewLeader, 2, 1, 1, OpNothing, 1), ErrMalformed},
		{"pendingreply op 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, 0, 0, 0, nil), ErrMalformed},
		{"pendingreply op pending", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpPending, 0, 0, nil), ErrMalformed},
		{"pendingreply nothing with peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, []PeerID{2}), ErrMalformed},
		{"pendingreply add without peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, nil), ErrMalformed},
		{"pendingreply del empty peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{}), ErrMalformed},

		// A peer id of 0.
		{"join from 0", body(TypeJoin, 0, 2), ErrMalformed},
		{"join joiner 0", body(TypeJoin, 1, 0), ErrMalformed},
		{"req from 0", body(TypeReq, 0, 1, 1, OpAdd, []PeerID{2}), ErrMalformed},
		{"ok from 0", body(TypeOK, 0, 1, 1), ErrMalformed},
		{"newview from 0", body(TypeNewView, 0, 1, 1, []PeerID{1}), ErrMalformed},
		{"newview leader 0", body(TypeNewView, 1, 1, 0, []PeerID{1}), ErrMalformed},
		{"newleader from 0", body(TypeNewLeader, 0, 1, 1, OpPending, 1), ErrMalformed},
		{"newleader replaces 0", body(TypeNewLeader, 2, 1, 1, OpPending, 0), ErrMalformed},
		{"pendingreply from 0", body(TypePendingReply, 0, 1, 1, 1, []PeerID{1}, OpNothing, 0, 0, nil), ErrMalformed},
		{"heartbeat from 0", body(TypeHeartbeat, 0, 1, 1), ErrMalformed},

		// Member and peer lists: non-empty where required, strictly increasing, no 0.
		{"req nil peers", body(TypeReq, 1, 1, 1, OpAdd, nil), ErrMalformed},
		{"req empty peers", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{}), ErrMalformed},
		{"req unsorted peers", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{3, 2}), ErrMalformed},
		{"req duplicate peers", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2, 2}), ErrMalformed},
		{"req peer 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{0}), ErrMalformed},
		{"newview nil members", body(TypeNewView, 1, 1, 1, nil), ErrMalformed},
		{"newview empty members", body(TypeNewView, 1, 1, 1, []PeerID{}), ErrMalformed},
		{"newview unsorted members", body(TypeNewView, 1, 1, 1, []PeerID{1, 3, 2}), ErrMalformed},
		{"newview duplicate members", body(TypeNewView, 1, 1, 1, []PeerID{1, 2, 2, 3}), ErrMalformed},
		{"newview descending members", body(TypeNewView, 1, 1, 1, []PeerID{3, 2, 1}), ErrMalformed},
		{"newview member 0", body(TypeNewView, 1, 1, 1, []PeerID{0, 1}), ErrMalformed},
		{"pendingreply unsorted members", body(TypePendingReply, 3, 1, 1, 1, []PeerID{3, 1}, OpNothing, 0, 0, nil), ErrMalformed},
		{"pendingreply duplicate peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4, 4}), ErrMalformed},
		{"pendingreply unsorted peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{3, 1}), ErrMalformed},

		// More than MaxMembers, honestly encoded.
		{"req 4097 peers", body(TypeReq, 1, 1, 1, OpAdd, tooMany), ErrMalformed},
		{"newview 4097 members", body(TypeNewView, 1, 1, 1, tooMany), ErrMalformed},
		{"pendingreply 4097 members", body(TypePendingReply, 3, 1, 1, 1, tooMany, OpNothing, 0, 0, nil), ErrMalformed},
		{"pendingreply 4097 peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1}, OpAdd, 1, 1, tooMany), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkBroken(t, tc.b, tc.want) })
	}
}

// TestUnmarshalHugeLength: a list header claiming billions of entries, backed
// by no data, must be refused before anything is allocated for it. msgpack's
// own slice decoding allocated the claimed length (4 bytes an entry) up front.
func TestUnmarshalHugeLength(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"req peers 2^31", raw(TypeReq, "95"+"01"+"01"+"01"+"01"+"dd80000000")},
		{"req peers 2^32-1", raw(TypeReq, "95"+"01"+"01"+"01"+"01"+"ddffffffff")},
		{"newview members 2^31", raw(TypeNewView, "94"+"01"+"01"+"01"+"dd80000000")},
		{"newview members 65535", raw(TypeNewView, "94"+"01"+"01"+"01"+"dcffff")},
		{"pendingreply members 2^31", raw(TypePendingReply, "99"+"01"+"01"+"01"+"01"+"dd80000000"+"04000090")},
		{"pendingreply peers 2^31", raw(TypePendingReply, "99"+"01"+"01"+"01"+"01"+"9101"+"01"+"01"+"01"+"dd80000000")},
		{"message 2^31 fields", raw(TypeHeartbeat, "dd80000000"+"010101")},
		{"message map 2^31 fields", raw(TypeHeartbeat, "df80000000")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			checkBroken(t, tc.b, ErrMalformed)
			runtime.ReadMemStats(&after)
			// Generous: the whole test binary allocates far less than this
			// meanwhile; the bug allocated 8 GiB for the first case.
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Fatalf("Unmarshal(%x) allocated %d bytes", tc.b, n)
			}
		})
	}
}

// TestUnmarshalTruncated: every proper prefix of a valid encoding is an error.
func TestUnmarshalTruncated(t *testing.T) {
	for _, tc := range validMessages() {
		b := mustMarshal(t, tc.m)
		for n := range len(b) {
			// The 4096-member messages are 20 to 40 KB: their head,
			// their tail and a stride through the middle are enough.
			if n >= 256 && n < len(b)-16 && n%509 != 0 {
				continue
			}
			m, err := Unmarshal(b[:n])
			if !errors.Is(err, ErrMalformed) || m != nil {
				t.Errorf("%s: Unmarshal(%x) = %#v, %v; want %v", tc.name, b[:n], m, err, ErrMalformed)
			}
		}
	}
}

// TestUnmarshalTrailing: the whole input must be one message.
func TestUnmarshalTrailing(t *testing.T) {
	extra := [][]byte{{0}, {0xc0}, {0x90}, {0xff}, mustMarshal(t, &Heartbeat{From: 1})}
	for _, tc := range validMessages() {
		b := mustMarshal(t, tc.m)
		for _, e := range extra {
			in := append(slices.Clip(b), e...)
			m, err := Unmarshal(in)
			if !errors.Is(err, ErrMalformed) || m != nil {
				t.Errorf("%s + %x: got %#v, %v; want %v", tc.name, e, m, err, ErrMalformed)
			}
		}
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		leader PeerID
		seq    uint32
		id     RequestID
		str    string
	}{
		{0, 0, 0, "0.0"},
		{1, 0, 1 << 32, "1.0"},
		{0, 1, 1, "0.1"},
		{7, 42, 7<<32 | 42, "7.42"},
		{maxPeer, 1, math.MaxUint32<<32 | 1, "4294967295.1"},
		{1, math.MaxUint32, 1<<32 | math.MaxUint32, "1.4294967295"},
		{maxPeer, math.MaxUint32, math.MaxUint64, "4294967295.4294967295"},
	}
	for _, tc := range tests {
		id := NewRequestID(tc.leader, tc.seq)
		if id != tc.id {
			t.Errorf("NewRequestID(%d, %d) = %#x, want %#x", tc.leader, tc.seq, uint64(id), uint64(tc.id))
		}
		if id.Leader() != tc.leader || id.Seq() != tc.seq {
			t.Errorf("%#x: Leader, Seq = %d, %d; want %d, %d", uint64(id), id.Leader(), id.Seq(), tc.leader, tc.seq)
		}
		if id.String() != tc.str {
			t.Errorf("%#x.String() = %q, want %q", uint64(id), id.String(), tc.str)
		}
	}
	// Two leaders never issue the same id.
	if NewRequestID(1, 2) == NewRequestID(2, 1) || NewRequestID(1, math.MaxUint32) == NewRequestID(2, 0) {
		t.Error("request ids of different leaders collide")
	}
}

// TestProtocolNumbers: the numbers of Type and Op travel on the wire. A change
// here breaks every peer running the previous version.
func TestProtocolNumbers(t *testing.T) {
	types := []struct {
		t    Type
		n    uint8
		name string
	}{
		{TypeJoin, 1, "JOIN"},
		{TypeReq, 2, "REQ"},
		{TypeOK, 3, "OK"},
		{TypeNewView, 4, "NEWVIEW"},
		{TypeNewLeader, 5, "NEWLEADER"},
		{TypePendingReply, 6, "PENDING_REPLY"},
		{TypeHeartbeat, 7, "HEARTBEAT"},
	}
	for _, tc := range types {
		if uint8(tc.t) != tc.n {
			t.Errorf("%s is %d, want %d", tc.name, uint8(tc.t), tc.n)
		}
		if tc.t.String() != tc.name {
			t.Errorf("Type(%d).String() = %q, want %q", tc.n, tc.t.String(), tc.name)
		}
		if m := New(tc.t); m == nil || m.Type() != tc.t {
			t.Errorf("New(%v) = %#v", tc.t, m)
		}
	}
	if len(typeNames) != len(types) {
		t.Errorf("%d types, test knows %d: add the new one here", len(typeNames), len(types))
	}
	ops := []struct {
		o    Op
		n    uint8
		name string
	}{
		{OpAdd, 1, "ADD"},
		{OpDel, 2, "DEL"},
		{OpPending, 3, "PENDING"},
		{OpNothing, 4, "NOTHING"},
	}
	for _, tc := range ops {
		if uint8(tc.o) != tc.n {
			t.Errorf("%s is %d, want %d", tc.name, uint8(tc.o), tc.n)
		}
		if tc.o.String() != tc.name {
			t.Errorf("Op(%d).String() = %q, want %q", tc.n, tc.o.String(), tc.name)
		}
	}
	if len(opNames) != len(ops) {
		t.Errorf("%d ops, test knows %d: add the new one here", len(opNames), len(ops))
	}
	if MaxMembers != 4096 {
		t.Errorf("MaxMembers = %d, want 4096", MaxMembers)
	}
}

func TestUnknownNames(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{Type(0).String(), "TYPE(0)"},
		{Type(8).String(), "TYPE(8)"},
		{Type(255).String(), "TYPE(255)"},
		{Op(0).String(), "OP(0)"},
		{Op(5).String(), "OP(5)"},
		{Op(255).String(), "OP(255)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for _, ty := range []Type{0, 8, 255} {
		if m := New(ty); m != nil {
			t.Errorf("New(%d) = %#v, want nil", ty, m)
		}
	}
}

func TestSortedIDs(t *testing.T) {
	tests := []struct {
		in, want []PeerID
	}{
		{nil, nil},
		{[]PeerID{}, nil},
		{[]PeerID{5}, []PeerID{5}},
		{[]PeerID{1, 2, 3}, []PeerID{1, 2, 3}},
		{[]PeerID{3, 1, 2}, []PeerID{1, 2, 3}},
		{[]PeerID{2, 2, 2}, []PeerID{2}},
		{[]PeerID{4, 1, 4, 0, 1, maxPeer, 0}, []PeerID{0, 1, 4, maxPeer}},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.in)
		got := SortedIDs(in)
		if len(got) != len(tc.want) || !slices.Equal(got, tc.want) {
			t.Errorf("SortedIDs(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("SortedIDs modified its input: %v, was %v", in, tc.in)
		}
		if len(got) > 0 && len(in) > 0 {
			got[0] = 99
			if in[0] == 99 {
				t.Errorf("SortedIDs(%v) shares its input's array", tc.in)
			}
		}
	}
}

func TestFormatIDs(t *testing.T) {
	tests := []struct {
		in   []PeerID
		want string
	}{
		{nil, ""},
		{[]PeerID{}, ""},
		{[]PeerID{1}, "1"},
		{[]PeerID{1, 2, 3}, "1,2,3"},
		{[]PeerID{10, 200, maxPeer}, "10,200,4294967295"},
		{[]PeerID{3, 1}, "3,1"}, // as given: sorting is the caller's job
	}
	for _, tc := range tests {
		if got := FormatIDs(tc.in); got != tc.want {
			t.Errorf("FormatIDs(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
