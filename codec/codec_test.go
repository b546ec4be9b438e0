package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strings"
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
	top := ids(maxPeer-MaxMembers+1, MaxMembers) // the MaxMembers largest ids
	return []namedMessage{
		{"join", &Join{From: 3, Joiner: 3}},
		{"join forwarded", &Join{From: 1, Joiner: 5}},
		{"join max ids", &Join{From: maxPeer, Joiner: maxPeer}},

		{"req add", &Req{From: 1, RequestID: NewRequestID(1, 1), ViewID: 1, Op: OpAdd, Peers: []PeerID{2}, Epoch: 1, Leader: 1, Voters: []PeerID{1}}},
		{"req del", &Req{From: 2, RequestID: NewRequestID(2, 9), ViewID: 7, Op: OpDel, Peers: []PeerID{1}, Epoch: 4, Leader: 2, Voters: []PeerID{2, 3}}},
		{"req batch", &Req{From: 1, RequestID: NewRequestID(1, 2), ViewID: 3, Op: OpAdd, Peers: []PeerID{4, 5, 9}, Epoch: 1, Leader: 1, Voters: []PeerID{1, 2, 3}}},
		{"req forced", &Req{From: 3, RequestID: NewRequestID(3, 1), ViewID: 5, Op: OpDel, Peers: []PeerID{1}, Epoch: 9, Leader: 2, Voters: []PeerID{2, 3, 4}, Forced: 1}},
		{"req nil voters", &Req{From: 1, RequestID: NewRequestID(1, 3), ViewID: 2, Op: OpAdd, Peers: []PeerID{2}, Leader: 1}},
		{"req empty voters", &Req{From: 1, RequestID: NewRequestID(1, 3), ViewID: 2, Op: OpAdd, Peers: []PeerID{2}, Epoch: 2, Leader: 1, Voters: []PeerID{}}},
		{"req max values", &Req{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Op: OpDel, Peers: []PeerID{maxPeer}, Epoch: math.MaxUint64, Leader: maxPeer, Voters: []PeerID{maxPeer}, Forced: 1}},
		{"req max members", &Req{From: 1, RequestID: 1, ViewID: 1, Op: OpAdd, Peers: top, Epoch: 1, Leader: 1, Voters: ids(1, MaxMembers)}},

		{"ok", &OK{From: 2, RequestID: NewRequestID(1, 1), ViewID: 1, Epoch: 1}},
		{"ok zero ids", &OK{From: 2}},
		{"ok epoch 2^32", &OK{From: 3, RequestID: NewRequestID(2, 5), ViewID: 6, Epoch: 1 << 32}},
		{"ok max values", &OK{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Epoch: math.MaxUint64}},

		{"newview single", &NewView{From: 1, ViewID: 1, Leader: 1, Members: []PeerID{1}, EpochLeader: 1}},
		{"newview resent by new leader", &NewView{From: 2, ViewID: 4, Leader: 1, Members: []PeerID{1, 2, 5}, Epoch: 3, EpochLeader: 2}},
		{"newview epoch leader not a member", &NewView{From: 5, ViewID: 8, Leader: 5, Members: []PeerID{5, 6}, Epoch: 7, EpochLeader: 1}},
		{"newview large view id", &NewView{From: 1, ViewID: math.MaxUint64, Leader: maxPeer, Members: []PeerID{1, 1 << 16, maxPeer}, Epoch: 1 << 40, EpochLeader: 1 << 16}},
		{"newview max epoch", &NewView{From: maxPeer, ViewID: 9, Leader: maxPeer, Members: []PeerID{maxPeer}, Epoch: math.MaxUint64, EpochLeader: maxPeer}},
		{"newview 4096 members", &NewView{From: 1, ViewID: 1 << 40, Leader: 1, Members: ids(1, MaxMembers), Epoch: 2, EpochLeader: 1}},
		{"newview 4096 max ids", &NewView{From: maxPeer, ViewID: 2, Leader: maxPeer, Members: top, Epoch: math.MaxUint64, EpochLeader: maxPeer}},

		{"newleader", &NewLeader{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Op: OpPending, Epoch: 1}},
		{"newleader epoch 0", &NewLeader{From: 2, RequestID: NewRequestID(2, 2), ViewID: 3, Op: OpPending}},
		{"newleader max values", &NewLeader{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Op: OpPending, Epoch: math.MaxUint64}},

		{"pendingreply nothing", &PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpNothing}},
		{"pendingreply nothing empty peers", &PendingReply{From: 3, RequestID: 1, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing, Peers: []PeerID{}}},
		{"pendingreply nothing empty voters", &PendingReply{From: 3, RequestID: 1, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing, Peers: []PeerID{}, Voters: []PeerID{}}},
		{"pendingreply no view", &PendingReply{From: 4, RequestID: 1, Op: OpNothing}},
		{"pendingreply empty members", &PendingReply{From: 4, RequestID: 1, Members: []PeerID{}, Op: OpNothing}},
		{"pendingreply add", &PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpAdd, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{4}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{1, 2, 3}}},
		{"pendingreply del", &PendingReply{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpDel, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{1, 3}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{1, 2, 3}}},
		{"pendingreply del forced", &PendingReply{From: 2, RequestID: NewRequestID(2, 2), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpDel, PendingRequest: NewRequestID(3, 1), PendingView: 3, Peers: []PeerID{1}, PendingEpoch: 5, PendingLeader: 3, Voters: []PeerID{2, 3}, Forced: 1}},
		{"pendingreply add nil voters", &PendingReply{From: 2, RequestID: NewRequestID(2, 1), ViewID: 1, Leader: 1, Members: []PeerID{1, 2}, Op: OpAdd, PendingRequest: NewRequestID(1, 2), PendingView: 1, Peers: []PeerID{3}, PendingLeader: 1}},
		{"pendingreply add empty voters", &PendingReply{From: 2, RequestID: NewRequestID(2, 1), ViewID: 1, Leader: 1, Members: []PeerID{1, 2}, Op: OpAdd, PendingRequest: NewRequestID(1, 2), PendingView: 1, Peers: []PeerID{3}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{}}},
		{"pendingreply max values", &PendingReply{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Leader: maxPeer, Members: top, Op: OpDel, PendingRequest: maxReq, PendingView: math.MaxUint64, Peers: top, PendingEpoch: math.MaxUint64, PendingLeader: maxPeer, Voters: top, Forced: 1}},

		{"heartbeat", &Heartbeat{From: 1, ViewID: 1, Seq: 1}},
		{"heartbeat zero view and seq", &Heartbeat{From: 1}},
		{"heartbeat max values", &Heartbeat{From: maxPeer, ViewID: math.MaxUint64, Seq: math.MaxUint64}},

		{"probe", &Probe{From: 1, Nonce: 1}},
		{"probe zero nonce", &Probe{From: 2}},
		{"probe max values", &Probe{From: maxPeer, Nonce: math.MaxUint64}},

		{"probeack", &ProbeAck{From: 2, Nonce: 1, Epoch: 3, EpochLeader: 1}},
		{"probeack from a joiner", &ProbeAck{From: 2, Nonce: 1}},
		{"probeack zero nonce", &ProbeAck{From: 1}},
		{"probeack max values", &ProbeAck{From: maxPeer, Nonce: math.MaxUint64, Epoch: math.MaxUint64, EpochLeader: maxPeer}},
		{"leave", &Leave{From: 3}},
		{"queued by the leader", &Queued{From: 1, Joiner: 5, Leader: 1, Epoch: 1}},
		{"queued by a member", &Queued{From: 3, Joiner: 5, Leader: 2, Epoch: math.MaxUint64}},
		{"leave max id", &Leave{From: maxPeer}},
		{"req leave", &Req{From: 1, RequestID: NewRequestID(1, 3), ViewID: 4, Op: OpLeave, Peers: []PeerID{3}, Epoch: 2, Leader: 1, Voters: []PeerID{2, 3}}},
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
		{&Req{From: 1, RequestID: NewRequestID(1, 2), ViewID: 3, Op: OpAdd, Peers: []PeerID{4}, Epoch: 300, Leader: 1, Voters: []PeerID{1, 2}, Forced: 1},
			"02" + "99" + "01" + "cf0000000100000002" + "03" + "01" + "9104" + "cd012c" + "01" + "920102" + "01"},
		{&Req{From: 2, RequestID: NewRequestID(2, 1), ViewID: 200, Op: OpDel, Peers: []PeerID{1, 3}, Leader: 2},
			"02" + "99" + "02" + "cf0000000200000001" + "ccc8" + "02" + "920103" + "00" + "02" + "c0" + "00"},
		{&Req{From: 1, RequestID: 1, ViewID: 1, Op: OpAdd, Peers: []PeerID{2}, Epoch: 1 << 16, Leader: 1, Voters: []PeerID{}},
			"02" + "99" + "01" + "01" + "01" + "01" + "9102" + "ce00010000" + "01" + "90" + "00"},
		{&OK{From: 2, RequestID: NewRequestID(1, 2), ViewID: 300, Epoch: 255},
			"03" + "94" + "02" + "cf0000000100000002" + "cd012c" + "ccff"},
		{&NewView{From: 1, ViewID: 2, Leader: 1, Members: []PeerID{1, 2}, Epoch: 3, EpochLeader: 2},
			"04" + "96" + "01" + "02" + "01" + "920102" + "03" + "02"},
		{&NewLeader{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Op: OpPending, Epoch: 4},
			"05" + "95" + "02" + "cf0000000200000001" + "03" + "03" + "04"},
		{&PendingReply{From: 3, RequestID: 5, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing},
			"06" + "9d" + "03" + "05" + "03" + "01" + "920103" + "04" + "00" + "00" + "c0" + "00" + "00" + "c0" + "00"},
		{&PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpAdd,
			PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{4}, PendingEpoch: 2, PendingLeader: 1, Voters: []PeerID{1, 2, 3}, Forced: 1},
			"06" + "9d" + "03" + "cf0000000200000001" + "03" + "01" + "93010203" + "01" +
				"cf0000000100000004" + "03" + "9104" + "02" + "01" + "93010203" + "01"},
		{&Heartbeat{From: 7, ViewID: 1 << 32, Seq: 65536},
			"07" + "93" + "07" + "cf0000000100000000" + "ce00010000"},
		{&Probe{From: 4, Nonce: 200}, "08" + "92" + "04" + "ccc8"},
		{&ProbeAck{From: 4, Nonce: 1 << 40, Epoch: 2, EpochLeader: 1}, "09" + "94" + "04" + "cf0000010000000000" + "02" + "01"},
		{&Leave{From: 3}, "0a" + "91" + "03"},
		{&Queued{From: 3, Joiner: 5, Leader: 2, Epoch: 7}, "0b" + "94" + "03" + "05" + "02" + "07"},
	}
	pinned := map[Type]bool{}
	for _, tc := range tests {
		pinned[tc.m.Type()] = true
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
	for ty := range typeNames {
		if !pinned[ty] {
			t.Errorf("no pinned encoding for %v", ty)
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

// checkBroken requires Unmarshal(b) to fail with an error wrapping want and,
// unless why is empty, saying why: so that a case meant to break one rule
// cannot pass by breaking another (a missing field, say).
func checkBroken(t *testing.T, b []byte, want error, why string) {
	t.Helper()
	m, err := Unmarshal(b)
	if err == nil {
		t.Fatalf("Unmarshal(%x) = %#v, want an error", b, m)
	}
	if !errors.Is(err, want) {
		t.Fatalf("Unmarshal(%x): %v, want an error wrapping %q", b, err, want)
	}
	if !strings.Contains(err.Error(), why) {
		t.Fatalf("Unmarshal(%x): %v, want an error saying %q", b, err, why)
	}
	if m != nil {
		t.Fatalf("Unmarshal(%x) returned %#v with its error", b, m)
	}
}

// Valid bodies: each case in TestUnmarshalBroken changes one of them in the
// one way its name says (TestBrokenBaselines checks that they decode).
var (
	reqBase          = []any{1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0}
	okBase           = []any{1, 1, 1, 1}
	newViewBase      = []any{1, 1, 1, []PeerID{1}, 1, 1}
	newLeaderBase    = []any{2, 1, 1, OpPending, 1}
	nothingBase      = []any{3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0}
	pendingAddBase   = []any{3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0}
	heartbeatBase    = []any{1, 1, 1}
	probeBase        = []any{1, 1}
	probeAckBase     = []any{1, 1, 1, 1}
	brokenBaselineOf = map[Type][][]any{
		TypeJoin:         {{1, 2}},
		TypeReq:          {reqBase},
		TypeOK:           {okBase},
		TypeNewView:      {newViewBase},
		TypeNewLeader:    {newLeaderBase},
		TypePendingReply: {nothingBase, pendingAddBase},
		TypeHeartbeat:    {heartbeatBase},
		TypeProbe:        {probeBase},
		TypeProbeAck:     {probeAckBase},
		TypeLeave:        {{1}},
		TypeQueued:       {{1, 2, 1, 1}},
	}
)

func TestBrokenBaselines(t *testing.T) {
	for ty := range typeNames {
		if len(brokenBaselineOf[ty]) == 0 {
			t.Errorf("no baseline body for %v", ty)
		}
	}
	for ty, bodies := range brokenBaselineOf {
		for _, fields := range bodies {
			if _, err := Unmarshal(body(ty, fields...)); err != nil {
				t.Errorf("%v %v: %v", ty, fields, err)
			}
		}
	}
}

func TestUnmarshalBroken(t *testing.T) {
	joinMap, _ := msgpack.Marshal(map[string]any{"From": 1, "Joiner": 2})
	tooMany := ids(1, MaxMembers+1)
	tests := []struct {
		name string
		b    []byte
		want error
		why  string // part of the error's text
	}{
		{"nil input", nil, ErrMalformed, "empty"},
		{"empty input", []byte{}, ErrMalformed, "empty"},
		{"type 0", []byte{0}, ErrUnknownType, ": 0"},
		{"type 12", []byte{12}, ErrUnknownType, ": 12"},
		{"type 255", []byte{255}, ErrUnknownType, ": 255"},
		{"type 0 with a join body", body(0, 1, 2), ErrUnknownType, ": 0"},
		{"type 12 with a probe body", body(12, 1, 1), ErrUnknownType, ": 12"},
		{"type 12 with a heartbeat body", body(12, 1, 1, 1), ErrUnknownType, ": 12"},
		{"queued 3 fields", body(TypeQueued, 1, 2, 1), ErrMalformed, "array of 3 fields, want 4"},
		{"queued joiner 0", body(TypeQueued, 1, 0, 1, 1), ErrMalformed, "joiner is 0"},
		{"queued leader 0", body(TypeQueued, 1, 2, 0, 1), ErrMalformed, "leader is 0"},
		{"type 255 with a body", body(255, 1), ErrUnknownType, ": 255"},
		{"type byte only", []byte{byte(TypeJoin)}, ErrMalformed, "EOF"},
		{"probe type byte only", []byte{byte(TypeProbe)}, ErrMalformed, "EOF"},
		{"probeack type byte only", []byte{byte(TypeProbeAck)}, ErrMalformed, "EOF"},

		// The body is not an array of the right length.
		{"nil body", raw(TypeJoin, "c0"), ErrMalformed, "array of -1 fields"},
		{"map body", append([]byte{byte(TypeJoin)}, joinMap...), ErrMalformed, "array length"},
		{"string body", raw(TypeJoin, "a3616263"), ErrMalformed, "array length"},
		{"int body", raw(TypeHeartbeat, "01"), ErrMalformed, "array length"},
		{"bin body", raw(TypeHeartbeat, "c403010101"), ErrMalformed, "array length"},
		{"empty array", raw(TypeOK, "90"), ErrMalformed, "array of 0 fields, want 4"},
		{"probe nil body", raw(TypeProbe, "c0"), ErrMalformed, "array of -1 fields"},
		{"probe empty array", raw(TypeProbe, "90"), ErrMalformed, "array of 0 fields, want 2"},
		{"join 1 field", body(TypeJoin, 1), ErrMalformed, "array of 1 fields, want 2"},
		{"join 3 fields", body(TypeJoin, 1, 2, 3), ErrMalformed, "array of 3 fields, want 2"},
		{"req 8 fields", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}), ErrMalformed, "array of 8 fields, want 9"},
		{"req 10 fields", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, 0), ErrMalformed, "array of 10 fields, want 9"},
		{"req previous 5-field layout", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}), ErrMalformed, "array of 5 fields, want 9"},
		{"ok 3 fields (previous layout)", body(TypeOK, 1, 1, 1), ErrMalformed, "array of 3 fields, want 4"},
		{"ok 5 fields", body(TypeOK, 1, 1, 1, 1, 1), ErrMalformed, "array of 5 fields, want 4"},
		{"newview 4 fields (previous layout)", body(TypeNewView, 1, 1, 1, []PeerID{1}), ErrMalformed, "array of 4 fields, want 6"},
		{"newview 5 fields", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1), ErrMalformed, "array of 5 fields, want 6"},
		{"newview 7 fields", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, 1), ErrMalformed, "array of 7 fields, want 6"},
		{"newleader 4 fields", body(TypeNewLeader, 2, 1, 1, OpPending), ErrMalformed, "array of 4 fields, want 5"},
		{"newleader 6 fields", body(TypeNewLeader, 2, 1, 1, OpPending, 1, 1), ErrMalformed, "array of 6 fields, want 5"},
		{"pendingreply 12 fields", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil), ErrMalformed, "array of 12 fields, want 13"},
		{"pendingreply 14 fields", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, 0), ErrMalformed, "array of 14 fields, want 13"},
		{"pendingreply previous 9-field layout", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil), ErrMalformed, "array of 9 fields, want 13"},
		{"heartbeat 2 fields", body(TypeHeartbeat, 1, 1), ErrMalformed, "array of 2 fields, want 3"},
		{"heartbeat 4 fields", body(TypeHeartbeat, 1, 1, 1, 1), ErrMalformed, "array of 4 fields, want 3"},
		{"probe 1 field", body(TypeProbe, 1), ErrMalformed, "array of 1 fields, want 2"},
		{"probe 3 fields", body(TypeProbe, 1, 1, 1), ErrMalformed, "array of 3 fields, want 2"},
		{"probeack 1 field", body(TypeProbeAck, 1), ErrMalformed, "array of 1 fields, want 4"},
		{"probeack 2 fields (before the ballot)", body(TypeProbeAck, 1, 1), ErrMalformed, "array of 2 fields, want 4"},
		{"probeack 5 fields", body(TypeProbeAck, 1, 1, 1, 1, 1), ErrMalformed, "array of 5 fields, want 4"},
		{"message in a message", body(TypeJoin, body(TypeJoin, 1, 2), 2), ErrMalformed, "From:"},

		// A field of the wrong type.
		{"string from", body(TypeJoin, "1", 2), ErrMalformed, "From:"},
		{"bool joiner", body(TypeJoin, 1, true), ErrMalformed, "Joiner:"},
		{"float from", body(TypeJoin, 1.0, 2), ErrMalformed, "From:"},
		{"array from", body(TypeJoin, []int{1}, 2), ErrMalformed, "From:"},
		{"nil view id", body(TypeHeartbeat, 1, nil, 1), ErrMalformed, "ViewID: nil"},
		{"nil seq", body(TypeHeartbeat, 1, 1, nil), ErrMalformed, "Seq: nil"},
		{"nil op", body(TypeReq, 1, 1, 1, nil, []PeerID{2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "Op: nil"},
		{"float request id", body(TypeOK, 1, 1.5, 1, 1), ErrMalformed, "RequestID:"},
		{"string members", body(TypeNewView, 1, 1, 1, "1,2", 1, 1), ErrMalformed, "Members:"},
		{"map members", body(TypeNewView, 1, 1, 1, map[int]int{1: 1}, 1, 1), ErrMalformed, "Members:"},
		{"int members", body(TypeNewView, 1, 1, 1, 1, 1, 1), ErrMalformed, "Members:"},
		{"nil member", body(TypeNewView, 1, 1, 1, []any{1, nil}, 1, 1), ErrMalformed, "Members: nil"},
		{"string member", body(TypeNewView, 1, 1, 1, []any{1, "2"}, 1, 1), ErrMalformed, "Members:"},
		{"nested member", body(TypeNewView, 1, 1, 1, []any{1, []int{2}}, 1, 1), ErrMalformed, "Members:"},
		{"nil req epoch", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, nil, 1, []PeerID{1}, 0), ErrMalformed, "Epoch: nil"},
		{"nil req leader", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, nil, []PeerID{1}, 0), ErrMalformed, "Leader: nil"},
		{"nil forced", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, nil), ErrMalformed, "Forced: nil"},
		{"bool forced", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, true), ErrMalformed, "Forced:"},
		{"int voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, 1, 0), ErrMalformed, "Voters:"},
		{"string voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, "1", 0), ErrMalformed, "Voters:"},
		{"nil voter", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []any{1, nil}, 0), ErrMalformed, "Voters: nil"},
		{"nil ok epoch", body(TypeOK, 1, 1, 1, nil), ErrMalformed, "Epoch: nil"},
		{"nil newview epoch", body(TypeNewView, 1, 1, 1, []PeerID{1}, nil, 1), ErrMalformed, "Epoch: nil"},
		{"nil epoch leader", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, nil), ErrMalformed, "EpochLeader: nil"},
		{"nil newleader epoch", body(TypeNewLeader, 2, 1, 1, OpPending, nil), ErrMalformed, "Epoch: nil"},
		{"nil pending epoch", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, nil, 1, []PeerID{1, 3}, 0), ErrMalformed, "PendingEpoch: nil"},
		{"string pending voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, "1,3", 0), ErrMalformed, "Voters:"},
		{"nil probe nonce", body(TypeProbe, 1, nil), ErrMalformed, "Nonce: nil"},
		{"nil probeack nonce", body(TypeProbeAck, 1, nil, 1, 1), ErrMalformed, "Nonce: nil"},
		{"nil probeack epoch", body(TypeProbeAck, 1, 1, nil, 1), ErrMalformed, "Epoch: nil"},
		{"string probe nonce", body(TypeProbe, 1, "1"), ErrMalformed, "Nonce:"},
		{"float probeack nonce", body(TypeProbeAck, 1, 1.0, 1, 1), ErrMalformed, "Nonce:"},

		// A number outside its field: msgpack alone would truncate or wrap it.
		{"negative from", body(TypeJoin, -1, 2), ErrMalformed, "From: negative"},
		{"negative int64 view id", raw(TypeHeartbeat, "93"+"01"+"d3ffffffffffffffff"+"01"), ErrMalformed, "ViewID: negative"},
		{"from 2^32+1", body(TypeJoin, uint64(1<<32+1), 2), ErrMalformed, "From: 4294967297 does not fit"},
		{"joiner 2^32", body(TypeJoin, 1, uint64(1<<32)), ErrMalformed, "Joiner: 4294967296 does not fit"},
		{"op 256", body(TypeReq, 1, 1, 1, 256, []PeerID{2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "Op: 256 does not fit"},
		{"newleader op 259", body(TypeNewLeader, 2, 1, 1, 259, 1), ErrMalformed, "Op: 259 does not fit"},
		{"member 2^32+2", body(TypeNewView, 1, 1, 1, []uint64{1, 1<<32 + 2}, 1, 1), ErrMalformed, "Members: 4294967298 does not fit"},
		{"negative member", body(TypeNewView, 1, 1, 1, []int{-1, 1}, 1, 1), ErrMalformed, "Members: negative"},
		{"negative req epoch", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, -1, 1, []PeerID{1}, 0), ErrMalformed, "Epoch: negative"},
		{"req leader 2^32", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, uint64(1<<32), []PeerID{1}, 0), ErrMalformed, "Leader: 4294967296 does not fit"},
		{"voter 2^32", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []uint64{1, 1 << 32}, 0), ErrMalformed, "Voters: 4294967296 does not fit"},
		{"negative voter", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []int{-2, 1}, 0), ErrMalformed, "Voters: negative"},
		{"forced 256", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 256), ErrMalformed, "Forced: 256 does not fit"},
		{"forced 257", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 257), ErrMalformed, "Forced: 257 does not fit"},
		{"negative forced", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, -1), ErrMalformed, "Forced: negative"},
		{"negative ok epoch", raw(TypeOK, "94"+"01"+"01"+"01"+"d3ffffffffffffffff"), ErrMalformed, "Epoch: negative"},
		{"epoch leader 2^32", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, uint64(1<<32)), ErrMalformed, "EpochLeader: 4294967296 does not fit"},
		{"negative newleader epoch", body(TypeNewLeader, 2, 1, 1, OpPending, -5), ErrMalformed, "Epoch: negative"},
		{"pending leader 2^32", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, uint64(1<<32), []PeerID{1, 3}, 0), ErrMalformed, "PendingLeader: 4294967296 does not fit"},
		{"pendingreply forced 256", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 256), ErrMalformed, "Forced: 256 does not fit"},
		{"negative probe nonce", body(TypeProbe, 1, -1), ErrMalformed, "Nonce: negative"},
		{"negative int64 probeack nonce", raw(TypeProbeAck, "94"+"01"+"d38000000000000000"+"01"+"01"), ErrMalformed, "Nonce: negative"},
		{"probe from 2^32", body(TypeProbe, uint64(1<<32), 1), ErrMalformed, "From: 4294967296 does not fit"},

		// An operation that does not belong to the type.
		{"req op 0", body(TypeReq, 1, 1, 1, 0, []PeerID{2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "req op OP(0)"},
		{"req op pending", body(TypeReq, 1, 1, 1, OpPending, []PeerID{2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "req op PENDING"},
		{"req op nothing", body(TypeReq, 1, 1, 1, OpNothing, []PeerID{2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "req op NOTHING"},
		{"req op 6", body(TypeReq, 1, 1, 1, 6, []PeerID{2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "req op OP(6)"},
		{"leave 2 fields", body(TypeLeave, 1, 1), ErrMalformed, "array of 2 fields, want 1"},
		{"leave from 0", body(TypeLeave, 0), ErrMalformed, "from is 0"},
		{"newleader op 0", body(TypeNewLeader, 2, 1, 1, 0, 1), ErrMalformed, "newleader op OP(0)"},
		{"newleader op add", body(TypeNewLeader, 2, 1, 1, OpAdd, 1), ErrMalformed, "newleader op ADD"},
		{"newleader op del", body(TypeNewLeader, 2, 1, 1, OpDel, 1), ErrMalformed, "newleader op DEL"},
		{"newleader op nothing", body(TypeNewLeader, 2, 1, 1, OpNothing, 1), ErrMalformed, "newleader op NOTHING"},
		{"pendingreply op 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, 0, 0, 0, nil, 0, 0, nil, 0), ErrMalformed, "pending reply op OP(0)"},
		{"pendingreply op pending", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpPending, 0, 0, nil, 0, 0, nil, 0), ErrMalformed, "pending reply op PENDING"},
		{"pendingreply op pending with a proposal", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpPending, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0), ErrMalformed, "pending reply op PENDING"},
		{"pendingreply nothing with peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, []PeerID{2}, 0, 0, nil, 0), ErrMalformed, "nothing with peers or voters"},
		{"pendingreply nothing with voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, []PeerID{1}, 0), ErrMalformed, "nothing with peers or voters"},
		{"pendingreply nothing with voter 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, []PeerID{}, 0, 0, []PeerID{0}, 0), ErrMalformed, "nothing with peers or voters"},
		{"pendingreply add without peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, nil, 1, 1, []PeerID{1, 3}, 0), ErrMalformed, "peers has 0 entries"},
		{"pendingreply del empty peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{}, 1, 1, []PeerID{1, 3}, 0), ErrMalformed, "peers has 0 entries"},

		// A peer id of 0.
		{"join from 0", body(TypeJoin, 0, 2), ErrMalformed, "from is 0"},
		{"join joiner 0", body(TypeJoin, 1, 0), ErrMalformed, "joiner is 0"},
		{"req from 0", body(TypeReq, 0, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "from is 0"},
		{"req leader 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 0, []PeerID{1}, 0), ErrMalformed, "leader is 0"},
		{"req leader 0 and no voters", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2}, 0, 0, nil, 0), ErrMalformed, "leader is 0"},
		{"ok from 0", body(TypeOK, 0, 1, 1, 1), ErrMalformed, "from is 0"},
		{"newview from 0", body(TypeNewView, 0, 1, 1, []PeerID{1}, 1, 1), ErrMalformed, "from is 0"},
		{"newview leader 0", body(TypeNewView, 1, 1, 0, []PeerID{1}, 1, 1), ErrMalformed, "leader is 0"},
		{"newview epoch leader 0", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 0), ErrMalformed, "epoch leader is 0"},
		{"newview epoch 0 epoch leader 0", body(TypeNewView, 1, 1, 1, []PeerID{1}, 0, 0), ErrMalformed, "epoch leader is 0"},
		{"newleader from 0", body(TypeNewLeader, 0, 1, 1, OpPending, 1), ErrMalformed, "from is 0"},
		{"pendingreply from 0", body(TypePendingReply, 0, 1, 1, 1, []PeerID{1}, OpNothing, 0, 0, nil, 0, 0, nil, 0), ErrMalformed, "from is 0"},
		{"pendingreply add pending leader 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 0, []PeerID{1, 3}, 0), ErrMalformed, "pending leader is 0"},
		{"pendingreply del pending leader 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 0, nil, 0), ErrMalformed, "pending leader is 0"},
		{"heartbeat from 0", body(TypeHeartbeat, 0, 1, 1), ErrMalformed, "from is 0"},
		{"probe from 0", body(TypeProbe, 0, 1), ErrMalformed, "from is 0"},
		{"probeack from 0", body(TypeProbeAck, 0, 1, 1, 1), ErrMalformed, "from is 0"},

		// Member, peer and voter lists: non-empty where required, strictly increasing, no 0.
		{"req nil peers", body(TypeReq, 1, 1, 1, OpAdd, nil, 1, 1, []PeerID{1}, 0), ErrMalformed, "peers has 0 entries"},
		{"req empty peers", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{}, 1, 1, []PeerID{1}, 0), ErrMalformed, "peers has 0 entries"},
		{"req unsorted peers", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{3, 2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "peers not strictly increasing"},
		{"req duplicate peers", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2, 2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "peers not strictly increasing"},
		{"req peer 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{0}, 1, 1, []PeerID{1}, 0), ErrMalformed, "peers not strictly increasing"},
		{"req unsorted voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{3, 1}, 0), ErrMalformed, "voters not strictly increasing"},
		{"req duplicate voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1, 3, 3}, 0), ErrMalformed, "voters not strictly increasing"},
		{"req voter 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{0, 1}, 0), ErrMalformed, "voters not strictly increasing"},
		{"req only voter 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{0}, 0), ErrMalformed, "voters not strictly increasing"},
		{"req forced 2", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 2), ErrMalformed, "forced is 2"},
		{"req forced 255", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2}, 1, 1, []PeerID{1}, 255), ErrMalformed, "forced is 255"},
		{"newview nil members", body(TypeNewView, 1, 1, 1, nil, 1, 1), ErrMalformed, "members has 0 entries"},
		{"newview empty members", body(TypeNewView, 1, 1, 1, []PeerID{}, 1, 1), ErrMalformed, "members has 0 entries"},
		{"newview unsorted members", body(TypeNewView, 1, 1, 1, []PeerID{1, 3, 2}, 1, 1), ErrMalformed, "members not strictly increasing"},
		{"newview duplicate members", body(TypeNewView, 1, 1, 1, []PeerID{1, 2, 2, 3}, 1, 1), ErrMalformed, "members not strictly increasing"},
		{"newview descending members", body(TypeNewView, 1, 1, 1, []PeerID{3, 2, 1}, 1, 1), ErrMalformed, "members not strictly increasing"},
		{"newview member 0", body(TypeNewView, 1, 1, 1, []PeerID{0, 1}, 1, 1), ErrMalformed, "members not strictly increasing"},
		{"pendingreply unsorted members", body(TypePendingReply, 3, 1, 1, 1, []PeerID{3, 1}, OpNothing, 0, 0, nil, 0, 0, nil, 0), ErrMalformed, "members not strictly increasing"},
		{"pendingreply duplicate peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4, 4}, 1, 1, []PeerID{1, 3}, 0), ErrMalformed, "peers not strictly increasing"},
		{"pendingreply unsorted peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{3, 1}, 1, 1, []PeerID{1, 3}, 0), ErrMalformed, "peers not strictly increasing"},
		{"pendingreply unsorted voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{3, 1}, 0), ErrMalformed, "voters not strictly increasing"},
		{"pendingreply duplicate voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 1, []PeerID{3, 3}, 0), ErrMalformed, "voters not strictly increasing"},
		{"pendingreply voter 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{0, 1, 3}, 0), ErrMalformed, "voters not strictly increasing"},
		{"pendingreply add forced 2", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 2), ErrMalformed, "forced is 2"},
		{"pendingreply del forced 2", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 1, []PeerID{1, 3}, 2), ErrMalformed, "forced is 2"},

		// More than MaxMembers, honestly encoded.
		{"req 4097 peers", body(TypeReq, 1, 1, 1, OpAdd, tooMany, 1, 1, []PeerID{1}, 0), ErrMalformed, "Peers: 4097 entries"},
		{"req 4097 voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, tooMany, 0), ErrMalformed, "Voters: 4097 entries"},
		{"newview 4097 members", body(TypeNewView, 1, 1, 1, tooMany, 1, 1), ErrMalformed, "Members: 4097 entries"},
		{"pendingreply 4097 members", body(TypePendingReply, 3, 1, 1, 1, tooMany, OpNothing, 0, 0, nil, 0, 0, nil, 0), ErrMalformed, "Members: 4097 entries"},
		{"pendingreply 4097 peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1}, OpAdd, 1, 1, tooMany, 1, 1, []PeerID{1}, 0), ErrMalformed, "Peers: 4097 entries"},
		{"pendingreply 4097 voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1}, OpAdd, 1, 1, []PeerID{4}, 1, 1, tooMany, 0), ErrMalformed, "Voters: 4097 entries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkBroken(t, tc.b, tc.want, tc.why) })
	}
}

// TestUnmarshalHugeLength: a list header claiming billions of entries, backed
// by no data, must be refused before anything is allocated for it. msgpack's
// own slice decoding allocated the claimed length (4 bytes an entry) up front.
func TestUnmarshalHugeLength(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		why  string
	}{
		{"req peers 2^31", raw(TypeReq, "99"+"01"+"01"+"01"+"01"+"dd80000000"), "Peers: 2147483648 entries"},
		{"req peers 2^32-1", raw(TypeReq, "99"+"01"+"01"+"01"+"01"+"ddffffffff"), "Peers: 4294967295 entries"},
		{"req voters 2^31", raw(TypeReq, "99"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"dd80000000"+"00"), "Voters: 2147483648 entries"},
		{"req voters 2^32-1", raw(TypeReq, "99"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"ddffffffff"), "Voters: 4294967295 entries"},
		{"newview members 2^31", raw(TypeNewView, "96"+"01"+"01"+"01"+"dd80000000"+"01"+"01"), "Members: 2147483648 entries"},
		{"newview members 65535", raw(TypeNewView, "96"+"01"+"01"+"01"+"dcffff"), "Members: 65535 entries"},
		{"pendingreply members 2^31", raw(TypePendingReply, "9d"+"01"+"01"+"01"+"01"+"dd80000000"+"04000090000090"+"00"), "Members: 2147483648 entries"},
		{"pendingreply peers 2^31", raw(TypePendingReply, "9d"+"01"+"01"+"01"+"01"+"9101"+"01"+"01"+"01"+"dd80000000"), "Peers: 2147483648 entries"},
		{"pendingreply voters 2^31", raw(TypePendingReply, "9d"+"01"+"01"+"01"+"01"+"9101"+"01"+"01"+"01"+"9102"+"01"+"01"+"dd80000000"+"00"), "Voters: 2147483648 entries"},
		{"message 2^31 fields", raw(TypeHeartbeat, "dd80000000"+"010101"), "array of 2147483648 fields"},
		{"message map 2^31 fields", raw(TypeHeartbeat, "df80000000"), "array length"},
		{"probe 2^31 fields", raw(TypeProbe, "dd80000000"+"0101"), "array of 2147483648 fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			checkBroken(t, tc.b, ErrMalformed, tc.why)
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
		{TypeProbe, 8, "PROBE"},
		{TypeProbeAck, 9, "PROBE_ACK"},
		{TypeLeave, 10, "LEAVE"},
		{TypeQueued, 11, "QUEUED"},
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
		{OpLeave, 5, "LEAVE"},
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
		{Type(12).String(), "TYPE(12)"},
		{Type(255).String(), "TYPE(255)"},
		{Op(0).String(), "OP(0)"},
		{Op(6).String(), "OP(6)"},
		{Op(255).String(), "OP(255)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for _, ty := range []Type{0, 12, 255} {
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
