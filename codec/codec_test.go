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

// incs returns the n consecutive incarnations first, first+1, ...
func incs(first uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
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
	const maxInc = math.MaxUint64
	const startInc = 1_700_000_000_000_000_000 // a start time in nanoseconds
	topIncs := incs(maxInc-MaxMembers+1, MaxMembers)
	return []namedMessage{
		{"join", &Join{From: 3, Joiner: 3, Incarnation: startInc}},
		{"join forwarded", &Join{From: 1, Joiner: 5, Incarnation: 1}},
		{"join max values", &Join{From: maxPeer, Joiner: maxPeer, Incarnation: maxInc}},

		{"req add", &Req{From: 1, RequestID: NewRequestID(1, 1), ViewID: 1, Op: OpAdd, Peers: []PeerID{2}, Epoch: 1, Leader: 1, Voters: []PeerID{1}, Incarnations: []uint64{startInc}}},
		{"req del", &Req{From: 2, RequestID: NewRequestID(2, 9), ViewID: 7, Op: OpDel, Peers: []PeerID{1}, Epoch: 4, Leader: 2, Voters: []PeerID{2, 3}}},
		{"req del empty incarnations", &Req{From: 2, RequestID: NewRequestID(2, 9), ViewID: 7, Op: OpDel, Peers: []PeerID{1}, Epoch: 4, Leader: 2, Voters: []PeerID{2, 3}, Incarnations: []uint64{}}},
		{"req batch", &Req{From: 1, RequestID: NewRequestID(1, 2), ViewID: 3, Op: OpAdd, Peers: []PeerID{4, 5, 9}, Epoch: 1, Leader: 1, Voters: []PeerID{1, 2, 3}, Incarnations: []uint64{7, 1, 7}}},
		{"req forced", &Req{From: 3, RequestID: NewRequestID(3, 1), ViewID: 5, Op: OpDel, Peers: []PeerID{1}, Epoch: 9, Leader: 2, Voters: []PeerID{2, 3, 4}, Forced: 1}},
		{"req forced add", &Req{From: 3, RequestID: NewRequestID(3, 2), ViewID: 5, Op: OpAdd, Peers: []PeerID{6}, Epoch: 9, Leader: 2, Voters: []PeerID{2, 3, 4}, Forced: 1, Incarnations: []uint64{1 << 40}}},
		{"req nil voters", &Req{From: 1, RequestID: NewRequestID(1, 3), ViewID: 2, Op: OpAdd, Peers: []PeerID{2}, Leader: 1, Incarnations: []uint64{1}}},
		{"req empty voters", &Req{From: 1, RequestID: NewRequestID(1, 3), ViewID: 2, Op: OpAdd, Peers: []PeerID{2}, Epoch: 2, Leader: 1, Voters: []PeerID{}, Incarnations: []uint64{2}}},
		{"req max values", &Req{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Op: OpDel, Peers: []PeerID{maxPeer}, Epoch: math.MaxUint64, Leader: maxPeer, Voters: []PeerID{maxPeer}, Forced: 1}},
		{"req add max values", &Req{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Op: OpAdd, Peers: []PeerID{maxPeer}, Epoch: math.MaxUint64, Leader: maxPeer, Voters: []PeerID{maxPeer}, Forced: 1, Incarnations: []uint64{maxInc}}},
		{"req max members", &Req{From: 1, RequestID: 1, ViewID: 1, Op: OpAdd, Peers: top, Epoch: 1, Leader: 1, Voters: ids(1, MaxMembers), Incarnations: topIncs}},

		{"ok", &OK{From: 2, RequestID: NewRequestID(1, 1), ViewID: 1, Epoch: 1}},
		{"ok zero ids", &OK{From: 2}},
		{"ok epoch 2^32", &OK{From: 3, RequestID: NewRequestID(2, 5), ViewID: 6, Epoch: 1 << 32}},
		{"ok max values", &OK{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Epoch: math.MaxUint64}},

		{"newview single", &NewView{From: 1, ViewID: 1, Leader: 1, Members: []PeerID{1}, EpochLeader: 1, Incarnations: []uint64{1}}},
		{"newview resent by new leader", &NewView{From: 2, ViewID: 4, Leader: 1, Members: []PeerID{1, 2, 5}, Epoch: 3, EpochLeader: 2, Incarnations: []uint64{startInc, startInc + 1, 3}}},
		{"newview epoch leader not a member", &NewView{From: 5, ViewID: 8, Leader: 5, Members: []PeerID{5, 6}, Epoch: 7, EpochLeader: 1, Incarnations: []uint64{9, 9}}},
		{"newview large view id", &NewView{From: 1, ViewID: math.MaxUint64, Leader: maxPeer, Members: []PeerID{1, 1 << 16, maxPeer}, Epoch: 1 << 40, EpochLeader: 1 << 16, Incarnations: []uint64{1 << 16, 1 << 32, 1 << 63}}},
		{"newview max epoch", &NewView{From: maxPeer, ViewID: 9, Leader: maxPeer, Members: []PeerID{maxPeer}, Epoch: math.MaxUint64, EpochLeader: maxPeer, Incarnations: []uint64{maxInc}}},
		{"newview 1024 members", &NewView{From: 1, ViewID: 1 << 40, Leader: 1, Members: ids(1, MaxMembers), Epoch: 2, EpochLeader: 1, Incarnations: incs(1, MaxMembers)}},
		{"newview 1024 max ids", &NewView{From: maxPeer, ViewID: 2, Leader: maxPeer, Members: top, Epoch: math.MaxUint64, EpochLeader: maxPeer, Incarnations: topIncs}},

		{"newleader", &NewLeader{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Op: OpPending, Epoch: 1}},
		{"newleader epoch 0", &NewLeader{From: 2, RequestID: NewRequestID(2, 2), ViewID: 3, Op: OpPending}},
		{"newleader max values", &NewLeader{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Op: OpPending, Epoch: math.MaxUint64}},

		{"pendingreply nothing", &PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpNothing, Incarnations: []uint64{1, 2, 3}}},
		{"pendingreply nothing empty peers", &PendingReply{From: 3, RequestID: 1, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing, Peers: []PeerID{}, Incarnations: []uint64{5, 5}}},
		{"pendingreply nothing empty voters", &PendingReply{From: 3, RequestID: 1, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing, Peers: []PeerID{}, Voters: []PeerID{}, Incarnations: []uint64{5, 5}}},
		{"pendingreply nothing empty pending incarnations", &PendingReply{From: 3, RequestID: 1, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing, Incarnations: []uint64{5, 5}, PendingIncarnations: []uint64{}}},
		{"pendingreply no view", &PendingReply{From: 4, RequestID: 1, Op: OpNothing}},
		{"pendingreply empty members", &PendingReply{From: 4, RequestID: 1, Members: []PeerID{}, Op: OpNothing}},
		{"pendingreply empty members and incarnations", &PendingReply{From: 4, RequestID: 1, Members: []PeerID{}, Op: OpNothing, Incarnations: []uint64{}}},
		{"pendingreply add", &PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpAdd, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{4}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{1, 2, 3},
			Incarnations: []uint64{startInc, startInc, startInc}, PendingIncarnations: []uint64{startInc + 1}}},
		{"pendingreply add batch", &PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpAdd, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{4, 7}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{1, 2, 3},
			Incarnations: []uint64{1, 2, 3}, PendingIncarnations: []uint64{4, 1 << 62}}},
		{"pendingreply add, empty members", &PendingReply{From: 4, RequestID: NewRequestID(2, 1), Op: OpAdd, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{4}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{1, 2, 3},
			PendingIncarnations: []uint64{9}}},
		{"pendingreply del", &PendingReply{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpDel, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{1, 3}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{1, 2, 3},
			Incarnations: []uint64{1, 1, 1}}},
		{"pendingreply del empty pending incarnations", &PendingReply{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpDel, PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{1, 3}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{1, 2, 3},
			Incarnations: []uint64{1, 1, 1}, PendingIncarnations: []uint64{}}},
		{"pendingreply del forced", &PendingReply{From: 2, RequestID: NewRequestID(2, 2), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpDel, PendingRequest: NewRequestID(3, 1), PendingView: 3, Peers: []PeerID{1}, PendingEpoch: 5, PendingLeader: 3, Voters: []PeerID{2, 3}, Forced: 1,
			Incarnations: []uint64{3, 2, 1}}},
		{"pendingreply leave", &PendingReply{From: 2, RequestID: NewRequestID(2, 2), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpLeave, PendingRequest: NewRequestID(1, 5), PendingView: 3, Peers: []PeerID{3}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{1, 2},
			Incarnations: []uint64{3, 2, 1}}},
		{"pendingreply add nil voters", &PendingReply{From: 2, RequestID: NewRequestID(2, 1), ViewID: 1, Leader: 1, Members: []PeerID{1, 2}, Op: OpAdd, PendingRequest: NewRequestID(1, 2), PendingView: 1, Peers: []PeerID{3}, PendingLeader: 1,
			Incarnations: []uint64{1, 1}, PendingIncarnations: []uint64{1}}},
		{"pendingreply add empty voters", &PendingReply{From: 2, RequestID: NewRequestID(2, 1), ViewID: 1, Leader: 1, Members: []PeerID{1, 2}, Op: OpAdd, PendingRequest: NewRequestID(1, 2), PendingView: 1, Peers: []PeerID{3}, PendingEpoch: 1, PendingLeader: 1, Voters: []PeerID{},
			Incarnations: []uint64{1, 1}, PendingIncarnations: []uint64{1}}},
		{"pendingreply max values", &PendingReply{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Leader: maxPeer, Members: top, Op: OpDel, PendingRequest: maxReq, PendingView: math.MaxUint64, Peers: top, PendingEpoch: math.MaxUint64, PendingLeader: maxPeer, Voters: top, Forced: 1,
			Incarnations: topIncs}},
		{"pendingreply add max values", &PendingReply{From: maxPeer, RequestID: maxReq, ViewID: math.MaxUint64, Leader: maxPeer, Members: top, Op: OpAdd, PendingRequest: maxReq, PendingView: math.MaxUint64, Peers: top, PendingEpoch: math.MaxUint64, PendingLeader: maxPeer, Voters: top, Forced: 1,
			Incarnations: topIncs, PendingIncarnations: topIncs}},

		{"heartbeat", &Heartbeat{From: 1, ViewID: 1, Seq: 1}},
		{"heartbeat zero view and seq", &Heartbeat{From: 1}},
		{"heartbeat max values", &Heartbeat{From: maxPeer, ViewID: math.MaxUint64, Seq: math.MaxUint64, Epoch: math.MaxUint64, EpochLeader: maxPeer}},
		{"heartbeat with a ballot", &Heartbeat{From: 2, ViewID: 9, Seq: 3, Epoch: 4, EpochLeader: 2}},

		{"probe", &Probe{From: 1, Nonce: 1}},
		{"probe zero nonce", &Probe{From: 2}},
		{"probe max values", &Probe{From: maxPeer, Nonce: math.MaxUint64}},

		{"probeack", &ProbeAck{From: 2, Nonce: 1, Epoch: 3, EpochLeader: 1, Incarnation: startInc}},
		{"probeack from a joiner", &ProbeAck{From: 2, Nonce: 1, Incarnation: 1}},
		{"probeack zero nonce", &ProbeAck{From: 1, Incarnation: 2}},
		{"probeack max values", &ProbeAck{From: maxPeer, Nonce: math.MaxUint64, Epoch: math.MaxUint64, EpochLeader: maxPeer, Incarnation: maxInc}},
		{"leave", &Leave{From: 3, Incarnation: 1}},
		{"queued by the leader", &Queued{From: 1, Joiner: 5, Leader: 1, Epoch: 1}},
		{"queued by a member", &Queued{From: 3, Joiner: 5, Leader: 2, Epoch: math.MaxUint64}},
		{"leave max id", &Leave{From: maxPeer, Incarnation: maxInc}},
		{"req leave", &Req{From: 1, RequestID: NewRequestID(1, 3), ViewID: 4, Op: OpLeave, Peers: []PeerID{3}, Epoch: 2, Leader: 1, Voters: []PeerID{2, 3}}},
		{"req lead", &Req{From: 3, RequestID: NewRequestID(3, 1), ViewID: 9, Op: OpLead, Peers: []PeerID{3}, Epoch: 5, Leader: 3, Voters: []PeerID{1, 2}}},
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
		{&Join{From: 1, Joiner: 2, Incarnation: 1_700_000_000_000_000_000}, "01" + "93" + "01" + "02" + "cf17979cfe362a0000"},
		{&Join{From: 1, Joiner: 5, Incarnation: 200}, "01" + "93" + "01" + "05" + "ccc8"},
		{&Req{From: 1, RequestID: NewRequestID(1, 2), ViewID: 3, Op: OpAdd, Peers: []PeerID{4}, Epoch: 300, Leader: 1, Voters: []PeerID{1, 2}, Forced: 1, Incarnations: []uint64{1 << 32}},
			"02" + "9a" + "01" + "cf0000000100000002" + "03" + "01" + "9104" + "cd012c" + "01" + "920102" + "01" + "91cf0000000100000000"},
		{&Req{From: 2, RequestID: NewRequestID(2, 1), ViewID: 200, Op: OpDel, Peers: []PeerID{1, 3}, Leader: 2},
			"02" + "9a" + "02" + "cf0000000200000001" + "ccc8" + "02" + "920103" + "00" + "02" + "c0" + "00" + "c0"},
		{&Req{From: 1, RequestID: 1, ViewID: 1, Op: OpAdd, Peers: []PeerID{2}, Epoch: 1 << 16, Leader: 1, Voters: []PeerID{}, Incarnations: []uint64{7}},
			"02" + "9a" + "01" + "01" + "01" + "01" + "9102" + "ce00010000" + "01" + "90" + "00" + "9107"},
		{&Req{From: 1, RequestID: NewRequestID(1, 3), ViewID: 4, Op: OpLeave, Peers: []PeerID{3}, Epoch: 2, Leader: 1, Voters: []PeerID{2, 3}, Incarnations: []uint64{}},
			"02" + "9a" + "01" + "cf0000000100000003" + "04" + "05" + "9103" + "02" + "01" + "920203" + "00" + "90"},
		{&Req{From: 1, RequestID: 1, ViewID: 1, Op: OpAdd, Peers: []PeerID{4, 5}, Epoch: 1, Leader: 1, Incarnations: []uint64{math.MaxUint64, 1}},
			"02" + "9a" + "01" + "01" + "01" + "01" + "920405" + "01" + "01" + "c0" + "00" + "92" + "cfffffffffffffffff" + "01"},
		{&OK{From: 2, RequestID: NewRequestID(1, 2), ViewID: 300, Epoch: 255},
			"03" + "94" + "02" + "cf0000000100000002" + "cd012c" + "ccff"},
		{&NewView{From: 1, ViewID: 2, Leader: 1, Members: []PeerID{1, 2}, Epoch: 3, EpochLeader: 2, Incarnations: []uint64{5, 1 << 40}},
			"04" + "98" + "01" + "02" + "01" + "920102" + "03" + "02" + "92" + "05" + "cf0000010000000000" + "c0"},
		{&NewLeader{From: 2, RequestID: NewRequestID(2, 1), ViewID: 3, Op: OpPending, Epoch: 4},
			"05" + "95" + "02" + "cf0000000200000001" + "03" + "03" + "04"},
		{&PendingReply{From: 3, RequestID: 5, ViewID: 3, Leader: 1, Members: []PeerID{1, 3}, Op: OpNothing, Incarnations: []uint64{1, 2}},
			"06" + "9f" + "03" + "05" + "03" + "01" + "920103" + "04" + "00" + "00" + "c0" + "00" + "00" + "c0" + "00" + "920102" + "c0"},
		{&PendingReply{From: 4, RequestID: 1, Op: OpNothing},
			"06" + "9f" + "04" + "01" + "00" + "00" + "c0" + "04" + "00" + "00" + "c0" + "00" + "00" + "c0" + "00" + "c0" + "c0"},
		{&PendingReply{From: 3, RequestID: NewRequestID(2, 1), ViewID: 3, Leader: 1, Members: []PeerID{1, 2, 3}, Op: OpAdd,
			PendingRequest: NewRequestID(1, 4), PendingView: 3, Peers: []PeerID{4}, PendingEpoch: 2, PendingLeader: 1, Voters: []PeerID{1, 2, 3}, Forced: 1,
			Incarnations: []uint64{9, 8, 7}, PendingIncarnations: []uint64{255}},
			"06" + "9f" + "03" + "cf0000000200000001" + "03" + "01" + "93010203" + "01" +
				"cf0000000100000004" + "03" + "9104" + "02" + "01" + "93010203" + "01" + "93090807" + "91ccff"},
		{&Heartbeat{From: 7, ViewID: 1 << 32, Seq: 65536, Epoch: 3, EpochLeader: 2},
			"07" + "95" + "07" + "cf0000000100000000" + "ce00010000" + "03" + "02"},
		{&Probe{From: 4, Nonce: 200}, "08" + "92" + "04" + "ccc8"},
		{&ProbeAck{From: 4, Nonce: 1 << 40, Epoch: 2, EpochLeader: 1, Incarnation: 65535}, "09" + "95" + "04" + "cf0000010000000000" + "02" + "01" + "cdffff"},
		{&Leave{From: 3, Incarnation: 1 << 40}, "0a" + "92" + "03" + "cf0000010000000000"},
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
	join := &Join{From: 1, Joiner: 2, Incarnation: 3}
	tests := []struct {
		hex  string
		want Message
	}{
		{"01" + "93" + "cf0000000000000001" + "ce00000002" + "cd0003", join}, // uint64, uint32, uint16
		{"01" + "93" + "d30000000000000001" + "d10002" + "d200000003", join}, // int64, int16, int32
		{"01" + "93" + "cc01" + "d002" + "d30000000000000003", join},         // uint8, int8, int64
		// The largest int64, and 2^63 that only a uint64 holds.
		{"01" + "93" + "01" + "02" + "d37fffffffffffffff", &Join{From: 1, Joiner: 2, Incarnation: math.MaxInt64}},
		{"01" + "93" + "01" + "02" + "cf8000000000000000", &Join{From: 1, Joiner: 2, Incarnation: 1 << 63}},
		// Incarnation lists: wide elements, and array16 and array32 headers.
		{"02" + "9a" + "01" + "01" + "01" + "01" + "92" + "ce00000002" + "d30000000000000003" + "01" + "01" + "c0" + "00" + "92" + "d001" + "cfffffffffffffffff",
			&Req{From: 1, RequestID: 1, ViewID: 1, Op: OpAdd, Peers: []PeerID{2, 3}, Epoch: 1, Leader: 1, Incarnations: []uint64{1, math.MaxUint64}}},
		{"02" + "9a" + "01" + "01" + "01" + "01" + "9102" + "01" + "01" + "c0" + "00" + "dc0001" + "cd0100",
			&Req{From: 1, RequestID: 1, ViewID: 1, Op: OpAdd, Peers: []PeerID{2}, Epoch: 1, Leader: 1, Incarnations: []uint64{256}}},
		{"02" + "9a" + "01" + "01" + "01" + "02" + "9102" + "01" + "01" + "c0" + "00" + "dd00000000",
			&Req{From: 1, RequestID: 1, ViewID: 1, Op: OpDel, Peers: []PeerID{2}, Epoch: 1, Leader: 1, Incarnations: []uint64{}}},
		{"04" + "98" + "01" + "02" + "01" + "dc0002" + "01" + "02" + "03" + "02" + "dd00000002" + "d005" + "cd0006" + "c0",
			&NewView{From: 1, ViewID: 2, Leader: 1, Members: []PeerID{1, 2}, Epoch: 3, EpochLeader: 2, Incarnations: []uint64{5, 6}}},
		{"06" + "9f" + "03" + "01" + "01" + "01" + "9103" + "01" + "01" + "01" + "9104" + "01" + "01" + "c0" + "00" + "dc0001" + "d20000ffff" + "dd00000001" + "d100ff",
			&PendingReply{From: 3, RequestID: 1, ViewID: 1, Leader: 1, Members: []PeerID{3}, Op: OpAdd, PendingRequest: 1, PendingView: 1, Peers: []PeerID{4},
				PendingEpoch: 1, PendingLeader: 1, Incarnations: []uint64{65535}, PendingIncarnations: []uint64{255}}},
		{"09" + "95" + "01" + "01" + "01" + "01" + "d27fffffff", &ProbeAck{From: 1, Nonce: 1, Epoch: 1, EpochLeader: 1, Incarnation: math.MaxInt32}},
	}
	for _, tc := range tests {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Unmarshal(b)
		if err != nil || !reflect.DeepEqual(m, tc.want) {
			t.Errorf("Unmarshal(%s) = %#v, %v; want %#v", tc.hex, m, err, tc.want)
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
	joinBase         = []any{1, 2, 1}
	reqBase          = []any{1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, []uint64{1}}
	reqDelBase       = []any{1, 1, 1, OpDel, []PeerID{2}, 1, 1, []PeerID{1}, 0, nil}
	okBase           = []any{1, 1, 1, 1}
	newViewBase      = []any{1, 1, 1, []PeerID{1}, 1, 1, []uint64{1}, nil}
	newLeaderBase    = []any{2, 1, 1, OpPending, 1}
	nothingBase      = []any{3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, []uint64{1, 1}, nil}
	pendingAddBase   = []any{3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, []uint64{1, 1}, []uint64{1}}
	pendingDelBase   = []any{3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 1, []PeerID{1, 3}, 0, []uint64{1, 1}, nil}
	heartbeatBase    = []any{1, 1, 1, 1, 1}
	probeBase        = []any{1, 1}
	probeAckBase     = []any{1, 1, 1, 1, 1}
	brokenBaselineOf = map[Type][][]any{
		TypeJoin:         {joinBase},
		TypeReq:          {reqBase, reqDelBase},
		TypeOK:           {okBase},
		TypeNewView:      {newViewBase},
		TypeNewLeader:    {newLeaderBase},
		TypePendingReply: {nothingBase, pendingAddBase, pendingDelBase},
		TypeHeartbeat:    {heartbeatBase},
		TypeProbe:        {probeBase},
		TypeProbeAck:     {probeAckBase},
		TypeLeave:        {{1, 1}},
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
	joinMap, _ := msgpack.Marshal(map[string]any{"From": 1, "Joiner": 2, "Incarnation": 1})
	tooMany := ids(1, MaxMembers+1)
	tooManyIncs := incs(1, MaxMembers+1)
	// The incarnations of one, two, three or four peers.
	inc1, inc2, inc3, inc4 := incs(1, 1), incs(1, 2), incs(1, 3), incs(1, 4)
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
		{"type 0 with a join body", body(0, 1, 2, 1), ErrUnknownType, ": 0"},
		{"type 12 with a probe body", body(12, 1, 1), ErrUnknownType, ": 12"},
		{"type 12 with a heartbeat body", body(12, 1, 1, 1, 1, 1), ErrUnknownType, ": 12"},
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
		{"join 1 field", body(TypeJoin, 1), ErrMalformed, "array of 1 fields, want 3"},
		{"join 2 fields (previous layout)", body(TypeJoin, 1, 2), ErrMalformed, "array of 2 fields, want 3"},
		{"join 4 fields", body(TypeJoin, 1, 2, 1, 1), ErrMalformed, "array of 4 fields, want 3"},
		{"req 8 fields", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}), ErrMalformed, "array of 8 fields, want 10"},
		{"req 9 fields (previous layout)", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0), ErrMalformed, "array of 9 fields, want 10"},
		{"req 11 fields", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1, 0), ErrMalformed, "array of 11 fields, want 10"},
		{"req previous 5-field layout", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}), ErrMalformed, "array of 5 fields, want 10"},
		{"ok 3 fields (previous layout)", body(TypeOK, 1, 1, 1), ErrMalformed, "array of 3 fields, want 4"},
		{"ok 5 fields", body(TypeOK, 1, 1, 1, 1, 1), ErrMalformed, "array of 5 fields, want 4"},
		{"newview 4 fields (first layout)", body(TypeNewView, 1, 1, 1, []PeerID{1}), ErrMalformed, "array of 4 fields, want 8"},
		{"newview 5 fields", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1), ErrMalformed, "array of 5 fields, want 8"},
		{"newview 6 fields (previous layout)", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1), ErrMalformed, "array of 6 fields, want 8"},
		{"newview 7 fields (previous layout)", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, inc1), ErrMalformed, "array of 7 fields, want 8"},
		{"newview 9 fields", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, inc1, nil, 1), ErrMalformed, "array of 9 fields, want 8"},
		{"newview unsorted left", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, inc1, []PeerID{3, 2}), ErrMalformed, "left not strictly increasing"},
		{"newview left 0", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, inc1, []PeerID{0}), ErrMalformed, "left not strictly increasing"},
		{"newleader 4 fields", body(TypeNewLeader, 2, 1, 1, OpPending), ErrMalformed, "array of 4 fields, want 5"},
		{"newleader 6 fields", body(TypeNewLeader, 2, 1, 1, OpPending, 1, 1), ErrMalformed, "array of 6 fields, want 5"},
		{"pendingreply 14 fields", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc2), ErrMalformed, "array of 14 fields, want 15"},
		{"pendingreply 16 fields", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc2, nil, nil), ErrMalformed, "array of 16 fields, want 15"},
		{"pendingreply previous 13-field layout", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0), ErrMalformed, "array of 13 fields, want 15"},
		{"pendingreply previous 9-field layout", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil), ErrMalformed, "array of 9 fields, want 15"},
		{"heartbeat 2 fields", body(TypeHeartbeat, 1, 1), ErrMalformed, "array of 2 fields, want 5"},
		{"heartbeat 4 fields", body(TypeHeartbeat, 1, 1, 1, 1), ErrMalformed, "array of 4 fields, want 5"},
		{"probe 1 field", body(TypeProbe, 1), ErrMalformed, "array of 1 fields, want 2"},
		{"probe 3 fields", body(TypeProbe, 1, 1, 1), ErrMalformed, "array of 3 fields, want 2"},
		{"probeack 1 field", body(TypeProbeAck, 1), ErrMalformed, "array of 1 fields, want 5"},
		{"probeack 2 fields (before the ballot)", body(TypeProbeAck, 1, 1), ErrMalformed, "array of 2 fields, want 5"},
		{"probeack 4 fields (before the incarnation)", body(TypeProbeAck, 1, 1, 1, 1), ErrMalformed, "array of 4 fields, want 5"},
		{"probeack 6 fields", body(TypeProbeAck, 1, 1, 1, 1, 1, 1), ErrMalformed, "array of 6 fields, want 5"},
		{"message in a message", body(TypeJoin, body(TypeJoin, 1, 2, 1), 2, 1), ErrMalformed, "From:"},

		// A field of the wrong type.
		{"string from", body(TypeJoin, "1", 2, 1), ErrMalformed, "From:"},
		{"bool joiner", body(TypeJoin, 1, true, 1), ErrMalformed, "Joiner:"},
		{"float from", body(TypeJoin, 1.0, 2, 1), ErrMalformed, "From:"},
		{"array from", body(TypeJoin, []int{1}, 2, 1), ErrMalformed, "From:"},
		{"nil join incarnation", body(TypeJoin, 1, 2, nil), ErrMalformed, "Incarnation: nil"},
		{"string join incarnation", body(TypeJoin, 1, 2, "1"), ErrMalformed, "Incarnation:"},
		{"float join incarnation", body(TypeJoin, 1, 2, 1.0), ErrMalformed, "Incarnation:"},
		{"array join incarnation", body(TypeJoin, 1, 2, inc1), ErrMalformed, "Incarnation:"},
		{"nil view id", body(TypeHeartbeat, 1, nil, 1, 1, 1), ErrMalformed, "ViewID: nil"},
		{"nil seq", body(TypeHeartbeat, 1, 1, nil, 1, 1), ErrMalformed, "Seq: nil"},
		{"nil op", body(TypeReq, 1, 1, 1, nil, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "Op: nil"},
		{"float request id", body(TypeOK, 1, 1.5, 1, 1), ErrMalformed, "RequestID:"},
		{"string members", body(TypeNewView, 1, 1, 1, "1,2", 1, 1, inc1, nil), ErrMalformed, "Members:"},
		{"map members", body(TypeNewView, 1, 1, 1, map[int]int{1: 1}, 1, 1, inc1, nil), ErrMalformed, "Members:"},
		{"int members", body(TypeNewView, 1, 1, 1, 1, 1, 1, inc1, nil), ErrMalformed, "Members:"},
		{"nil member", body(TypeNewView, 1, 1, 1, []any{1, nil}, 1, 1, inc1, nil), ErrMalformed, "Members: nil"},
		{"string member", body(TypeNewView, 1, 1, 1, []any{1, "2"}, 1, 1, inc1, nil), ErrMalformed, "Members:"},
		{"nested member", body(TypeNewView, 1, 1, 1, []any{1, []int{2}}, 1, 1, inc1, nil), ErrMalformed, "Members:"},
		{"nil req epoch", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, nil, 1, []PeerID{1}, 0, inc1), ErrMalformed, "Epoch: nil"},
		{"nil req leader", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, nil, []PeerID{1}, 0, inc1), ErrMalformed, "Leader: nil"},
		{"nil forced", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, nil, inc1), ErrMalformed, "Forced: nil"},
		{"bool forced", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, true, inc1), ErrMalformed, "Forced:"},
		{"int voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, 1, 0, inc1), ErrMalformed, "Voters:"},
		{"string voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, "1", 0, inc1), ErrMalformed, "Voters:"},
		{"nil voter", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []any{1, nil}, 0, inc1), ErrMalformed, "Voters: nil"},
		{"int req incarnations", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, 1), ErrMalformed, "Incarnations:"},
		{"string req incarnations", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, "1"), ErrMalformed, "Incarnations:"},
		{"nil req incarnation", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, []any{nil}), ErrMalformed, "Incarnations: nil"},
		{"float req incarnation", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, []any{1.0}), ErrMalformed, "Incarnations:"},
		{"nil ok epoch", body(TypeOK, 1, 1, 1, nil), ErrMalformed, "Epoch: nil"},
		{"nil newview epoch", body(TypeNewView, 1, 1, 1, []PeerID{1}, nil, 1, inc1, nil), ErrMalformed, "Epoch: nil"},
		{"nil epoch leader", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, nil, inc1, nil), ErrMalformed, "EpochLeader: nil"},
		{"map newview incarnations", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, map[int]int{1: 1}, nil), ErrMalformed, "Incarnations:"},
		{"nil newview incarnation", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, []any{nil}, nil), ErrMalformed, "Incarnations: nil"},
		{"nested newview incarnation", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, []any{inc1}, nil), ErrMalformed, "Incarnations:"},
		{"nil newleader epoch", body(TypeNewLeader, 2, 1, 1, OpPending, nil), ErrMalformed, "Epoch: nil"},
		{"nil pending epoch", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, nil, 1, []PeerID{1, 3}, 0, inc2, inc1), ErrMalformed, "PendingEpoch: nil"},
		{"string pending voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, "1,3", 0, inc2, inc1), ErrMalformed, "Voters:"},
		{"string pendingreply incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, "1,1", nil), ErrMalformed, "PENDING_REPLY: Incarnations:"},
		{"nil pendingreply incarnation", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, []any{1, nil}, nil), ErrMalformed, "PENDING_REPLY: Incarnations: nil"},
		{"int pending incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc2, 1), ErrMalformed, "PendingIncarnations:"},
		{"nil pending incarnation", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc2, []any{nil}), ErrMalformed, "PendingIncarnations: nil"},
		{"nil probe nonce", body(TypeProbe, 1, nil), ErrMalformed, "Nonce: nil"},
		{"nil probeack nonce", body(TypeProbeAck, 1, nil, 1, 1, 1), ErrMalformed, "Nonce: nil"},
		{"nil probeack epoch", body(TypeProbeAck, 1, 1, nil, 1, 1), ErrMalformed, "Epoch: nil"},
		{"nil probeack incarnation", body(TypeProbeAck, 1, 1, 1, 1, nil), ErrMalformed, "Incarnation: nil"},
		{"string probe nonce", body(TypeProbe, 1, "1"), ErrMalformed, "Nonce:"},
		{"float probeack nonce", body(TypeProbeAck, 1, 1.0, 1, 1, 1), ErrMalformed, "Nonce:"},
		{"float probeack incarnation", body(TypeProbeAck, 1, 1, 1, 1, 1.5), ErrMalformed, "Incarnation:"},

		// A number outside its field: msgpack alone would truncate or wrap it.
		{"negative from", body(TypeJoin, -1, 2, 1), ErrMalformed, "From: negative"},
		{"negative int64 view id", raw(TypeHeartbeat, "95"+"01"+"d3ffffffffffffffff"+"01"+"01"+"01"), ErrMalformed, "ViewID: negative"},
		{"from 2^32+1", body(TypeJoin, uint64(1<<32+1), 2, 1), ErrMalformed, "From: 4294967297 does not fit"},
		{"joiner 2^32", body(TypeJoin, 1, uint64(1<<32), 1), ErrMalformed, "Joiner: 4294967296 does not fit"},
		{"negative join incarnation", body(TypeJoin, 1, 2, -1), ErrMalformed, "Incarnation: negative -1"},
		{"negative int64 join incarnation", raw(TypeJoin, "93"+"01"+"02"+"d38000000000000000"), ErrMalformed, "Incarnation: negative -9223372036854775808"},
		{"op 256", body(TypeReq, 1, 1, 1, 256, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "Op: 256 does not fit"},
		{"newleader op 259", body(TypeNewLeader, 2, 1, 1, 259, 1), ErrMalformed, "Op: 259 does not fit"},
		{"member 2^32+2", body(TypeNewView, 1, 1, 1, []uint64{1, 1<<32 + 2}, 1, 1, inc2, nil), ErrMalformed, "Members: 4294967298 does not fit"},
		{"negative member", body(TypeNewView, 1, 1, 1, []int{-1, 1}, 1, 1, inc2, nil), ErrMalformed, "Members: negative"},
		{"negative newview incarnation", body(TypeNewView, 1, 1, 1, []PeerID{1, 2}, 1, 1, []int{1, -1}, nil), ErrMalformed, "Incarnations: negative -1"},
		{"negative req epoch", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, -1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "Epoch: negative"},
		{"req leader 2^32", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, uint64(1<<32), []PeerID{1}, 0, inc1), ErrMalformed, "Leader: 4294967296 does not fit"},
		{"voter 2^32", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []uint64{1, 1 << 32}, 0, inc1), ErrMalformed, "Voters: 4294967296 does not fit"},
		{"negative voter", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []int{-2, 1}, 0, inc1), ErrMalformed, "Voters: negative"},
		{"forced 256", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 256, inc1), ErrMalformed, "Forced: 256 does not fit"},
		{"forced 257", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 257, inc1), ErrMalformed, "Forced: 257 does not fit"},
		{"negative forced", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, -1, inc1), ErrMalformed, "Forced: negative"},
		{"negative req incarnation", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, []int{-1}), ErrMalformed, "Incarnations: negative -1"},
		{"negative int64 req incarnation", raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"9101"+"00"+"91"+"d3ffffffffffffffff"), ErrMalformed, "Incarnations: negative -1"},
		{"negative ok epoch", raw(TypeOK, "94"+"01"+"01"+"01"+"d3ffffffffffffffff"), ErrMalformed, "Epoch: negative"},
		{"epoch leader 2^32", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, uint64(1<<32), inc1, nil), ErrMalformed, "EpochLeader: 4294967296 does not fit"},
		{"negative newleader epoch", body(TypeNewLeader, 2, 1, 1, OpPending, -5), ErrMalformed, "Epoch: negative"},
		{"pending leader 2^32", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, uint64(1<<32), []PeerID{1, 3}, 0, inc2, inc1), ErrMalformed, "PendingLeader: 4294967296 does not fit"},
		{"pendingreply forced 256", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 256, inc2, inc1), ErrMalformed, "Forced: 256 does not fit"},
		{"negative pendingreply incarnation", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, []int{1, -5}, nil), ErrMalformed, "PENDING_REPLY: Incarnations: negative -5"},
		{"negative pending incarnation", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc2, []int{-7}), ErrMalformed, "PendingIncarnations: negative -7"},
		{"negative probe nonce", body(TypeProbe, 1, -1), ErrMalformed, "Nonce: negative"},
		{"negative int64 probeack nonce", raw(TypeProbeAck, "95"+"01"+"d38000000000000000"+"01"+"01"+"01"), ErrMalformed, "Nonce: negative"},
		{"negative int8 probeack incarnation", raw(TypeProbeAck, "95"+"01"+"01"+"01"+"01"+"d080"), ErrMalformed, "Incarnation: negative -128"},
		{"probe from 2^32", body(TypeProbe, uint64(1<<32), 1), ErrMalformed, "From: 4294967296 does not fit"},

		// An operation that does not belong to the type.
		{"req op 0", body(TypeReq, 1, 1, 1, 0, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "req op OP(0)"},
		{"req op pending", body(TypeReq, 1, 1, 1, OpPending, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "req op PENDING"},
		{"req op nothing", body(TypeReq, 1, 1, 1, OpNothing, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "req op NOTHING"},
		{"req op 7", body(TypeReq, 1, 1, 1, 7, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "req op OP(7)"},
		{"req lead with incarnations", body(TypeReq, 1, 1, 1, OpLead, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "incarnations: 1 for LEAD"},
		{"req lead of two peers", body(TypeReq, 1, 1, 1, OpLead, []PeerID{2, 3}, 1, 1, []PeerID{1}, 0, nil), ErrMalformed, "lead with 2 peers"},
		{"req op nothing without incarnations", body(TypeReq, 1, 1, 1, OpNothing, []PeerID{2}, 1, 1, []PeerID{1}, 0, nil), ErrMalformed, "req op NOTHING"},
		{"leave 1 field (previous layout)", body(TypeLeave, 1), ErrMalformed, "array of 1 fields, want 2"},
		{"leave 3 fields", body(TypeLeave, 1, 1, 1), ErrMalformed, "array of 3 fields, want 2"},
		{"leave from 0", body(TypeLeave, 0, 1), ErrMalformed, "from is 0"},
		{"leave incarnation 0", body(TypeLeave, 1, 0), ErrMalformed, "incarnation is 0"},
		{"newleader op 0", body(TypeNewLeader, 2, 1, 1, 0, 1), ErrMalformed, "newleader op OP(0)"},
		{"newleader op add", body(TypeNewLeader, 2, 1, 1, OpAdd, 1), ErrMalformed, "newleader op ADD"},
		{"newleader op del", body(TypeNewLeader, 2, 1, 1, OpDel, 1), ErrMalformed, "newleader op DEL"},
		{"newleader op nothing", body(TypeNewLeader, 2, 1, 1, OpNothing, 1), ErrMalformed, "newleader op NOTHING"},
		{"pendingreply op 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, 0, 0, 0, nil, 0, 0, nil, 0, inc2, nil), ErrMalformed, "pending reply op OP(0)"},
		{"pendingreply op pending", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpPending, 0, 0, nil, 0, 0, nil, 0, inc2, nil), ErrMalformed, "pending reply op PENDING"},
		{"pendingreply op pending with a proposal", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpPending, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc2, inc1), ErrMalformed, "pending reply op PENDING"},
		{"pendingreply nothing with peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, []PeerID{2}, 0, 0, nil, 0, inc2, nil), ErrMalformed, "nothing with peers, voters or incarnations"},
		{"pendingreply nothing with voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, []PeerID{1}, 0, inc2, nil), ErrMalformed, "nothing with peers, voters or incarnations"},
		{"pendingreply nothing with voter 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, []PeerID{}, 0, 0, []PeerID{0}, 0, inc2, nil), ErrMalformed, "nothing with peers, voters or incarnations"},
		{"pendingreply add without peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, nil, 1, 1, []PeerID{1, 3}, 0, inc2, nil), ErrMalformed, "peers has 0 entries"},
		{"pendingreply del empty peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{}, 1, 1, []PeerID{1, 3}, 0, inc2, nil), ErrMalformed, "peers has 0 entries"},

		// Incarnations: JOIN and PROBE_ACK carry a non-zero one; an ADD one
		// non-zero incarnation per peer, another op none; a view one non-zero
		// incarnation per member. Their errors do not name the list: the counts
		// chosen here tell which list a case breaks.
		{"join incarnation 0", body(TypeJoin, 1, 2, 0), ErrMalformed, "incarnation is 0"},
		{"join forwarded incarnation 0", body(TypeJoin, 1, 5, 0), ErrMalformed, "incarnation is 0"},
		{"probeack incarnation 0", body(TypeProbeAck, 1, 1, 1, 1, 0), ErrMalformed, "incarnation is 0"},
		{"probeack from a joiner incarnation 0", body(TypeProbeAck, 2, 1, 0, 0, 0), ErrMalformed, "incarnation is 0"},
		{"req add nil incarnations", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, nil), ErrMalformed, "incarnations: 0 for 1 peers"},
		{"req add empty incarnations", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, []uint64{}), ErrMalformed, "incarnations: 0 for 1 peers"},
		{"req add batch missing an incarnation", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2, 3, 4}, 1, 1, []PeerID{1}, 0, inc2), ErrMalformed, "incarnations: 2 for 3 peers"},
		{"req add too many incarnations", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc2), ErrMalformed, "incarnations: 2 for 1 peers"},
		{"req add 1024 incarnations for 1 peer", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, incs(1, MaxMembers)), ErrMalformed, "incarnations: 1024 for 1 peers"},
		{"req add incarnation 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, []uint64{0}), ErrMalformed, "incarnations: entry 0 is 0"},
		{"req add batch, last incarnation 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2, 3, 4}, 1, 1, []PeerID{1}, 0, []uint64{1, 2, 0}), ErrMalformed, "incarnations: entry 2 is 0"},
		{"req forced add incarnation 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 1, []uint64{0}), ErrMalformed, "incarnations: entry 0 is 0"},
		{"req del with an incarnation", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "incarnations: 1 for DEL"},
		{"req del with incarnation 0", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2}, 1, 1, []PeerID{1}, 0, []uint64{0}), ErrMalformed, "incarnations: 1 for DEL"},
		{"req del batch with incarnations", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2, 3}, 1, 1, []PeerID{1}, 0, inc2), ErrMalformed, "incarnations: 2 for DEL"},
		{"req leave with an incarnation", body(TypeReq, 1, 1, 1, OpLeave, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "incarnations: 1 for LEAVE"},
		{"newview nil incarnations", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, nil, nil), ErrMalformed, "incarnations: 0 for 1 members"},
		{"newview empty incarnations", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, []uint64{}, nil), ErrMalformed, "incarnations: 0 for 1 members"},
		{"newview fewer incarnations than members", body(TypeNewView, 1, 1, 1, []PeerID{1, 2, 3}, 1, 1, inc2, nil), ErrMalformed, "incarnations: 2 for 3 members"},
		{"newview more incarnations than members", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, inc2, nil), ErrMalformed, "incarnations: 2 for 1 members"},
		{"newview incarnation 0", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, []uint64{0}, nil), ErrMalformed, "incarnations: entry 0 is 0"},
		{"newview a member's incarnation 0", body(TypeNewView, 1, 1, 1, []PeerID{1, 2, 3}, 1, 1, []uint64{1, 0, 1}, nil), ErrMalformed, "incarnations: entry 1 is 0"},
		{"pendingreply nothing without incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, nil, nil), ErrMalformed, "incarnations: 0 for 2 members"},
		{"pendingreply fewer incarnations than members", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc1, nil), ErrMalformed, "incarnations: 1 for 2 members"},
		{"pendingreply more incarnations than members", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc3, nil), ErrMalformed, "incarnations: 3 for 2 members"},
		{"pendingreply no view with incarnations", body(TypePendingReply, 4, 1, 0, 0, nil, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc1, nil), ErrMalformed, "incarnations: 1 for 0 members"},
		{"pendingreply a member's incarnation 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, []uint64{0, 1}, nil), ErrMalformed, "incarnations: entry 0 is 0"},
		{"pendingreply add, members' incarnations short", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc1, inc1), ErrMalformed, "incarnations: 1 for 2 members"},
		{"pendingreply add, members' incarnations for the pending peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc1, inc2), ErrMalformed, "incarnations: 1 for 2 members"},
		{"pendingreply nothing with pending incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc2, inc1), ErrMalformed, "nothing with peers, voters or incarnations"},
		{"pendingreply nothing with pending incarnation 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc2, []uint64{0}), ErrMalformed, "nothing with peers, voters or incarnations"},
		{"pendingreply no view, nothing with pending incarnations", body(TypePendingReply, 4, 1, 0, 0, nil, OpNothing, 0, 0, nil, 0, 0, nil, 0, nil, inc1), ErrMalformed, "nothing with peers, voters or incarnations"},
		{"pendingreply add without pending incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc2, nil), ErrMalformed, "pending incarnations: 0 for 1 peers"},
		{"pendingreply add empty pending incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc2, []uint64{}), ErrMalformed, "pending incarnations: 0 for 1 peers"},
		{"pendingreply add too many pending incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc2, inc3), ErrMalformed, "pending incarnations: 3 for 1 peers"},
		{"pendingreply add batch missing a pending incarnation", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4, 5, 6, 7}, 1, 1, []PeerID{1, 3}, 0, inc2, inc3), ErrMalformed, "pending incarnations: 3 for 4 peers"},
		{"pendingreply add batch with the members' incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4, 5, 6, 7}, 1, 1, []PeerID{1, 3}, 0, inc2, inc2), ErrMalformed, "pending incarnations: 2 for 4 peers"},
		{"pendingreply add pending incarnation 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 0, inc2, []uint64{0}), ErrMalformed, "pending incarnations: entry 0 is 0"},
		{"pendingreply del with pending incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 1, []PeerID{1, 3}, 0, inc2, inc1), ErrMalformed, "pending incarnations: 1 for DEL"},
		{"pendingreply leave with pending incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpLeave, 1, 1, []PeerID{1, 3}, 1, 1, []PeerID{1, 3}, 0, inc2, inc2), ErrMalformed, "pending incarnations: 2 for LEAVE"},

		// A peer id of 0.
		{"join from 0", body(TypeJoin, 0, 2, 1), ErrMalformed, "from is 0"},
		{"join joiner 0", body(TypeJoin, 1, 0, 1), ErrMalformed, "joiner is 0"},
		{"req from 0", body(TypeReq, 0, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "from is 0"},
		{"req leader 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 0, []PeerID{1}, 0, inc1), ErrMalformed, "leader is 0"},
		{"req leader 0 and no voters", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2}, 0, 0, nil, 0, nil), ErrMalformed, "leader is 0"},
		{"ok from 0", body(TypeOK, 0, 1, 1, 1), ErrMalformed, "from is 0"},
		{"newview from 0", body(TypeNewView, 0, 1, 1, []PeerID{1}, 1, 1, inc1, nil), ErrMalformed, "from is 0"},
		{"newview leader 0", body(TypeNewView, 1, 1, 0, []PeerID{1}, 1, 1, inc1, nil), ErrMalformed, "leader is 0"},
		{"newview epoch leader 0", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 0, inc1, nil), ErrMalformed, "epoch leader is 0"},
		{"newview epoch 0 epoch leader 0", body(TypeNewView, 1, 1, 1, []PeerID{1}, 0, 0, inc1, nil), ErrMalformed, "epoch leader is 0"},
		{"newleader from 0", body(TypeNewLeader, 0, 1, 1, OpPending, 1), ErrMalformed, "from is 0"},
		{"pendingreply from 0", body(TypePendingReply, 0, 1, 1, 1, []PeerID{1}, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc1, nil), ErrMalformed, "from is 0"},
		{"pendingreply add pending leader 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 0, []PeerID{1, 3}, 0, inc2, inc1), ErrMalformed, "pending leader is 0"},
		{"pendingreply del pending leader 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 0, nil, 0, inc2, nil), ErrMalformed, "pending leader is 0"},
		{"heartbeat from 0", body(TypeHeartbeat, 0, 1, 1, 1, 1), ErrMalformed, "from is 0"},
		{"probe from 0", body(TypeProbe, 0, 1), ErrMalformed, "from is 0"},
		{"probeack from 0", body(TypeProbeAck, 0, 1, 1, 1, 1), ErrMalformed, "from is 0"},

		// Member, peer and voter lists: non-empty where required, strictly increasing, no 0.
		{"req nil peers", body(TypeReq, 1, 1, 1, OpAdd, nil, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "peers has 0 entries"},
		{"req empty peers", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "peers has 0 entries"},
		{"req nil peers, no incarnations", body(TypeReq, 1, 1, 1, OpAdd, nil, 1, 1, []PeerID{1}, 0, nil), ErrMalformed, "peers has 0 entries"},
		{"req unsorted peers", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{3, 2}, 1, 1, []PeerID{1}, 0, inc2), ErrMalformed, "peers not strictly increasing"},
		{"req duplicate peers", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2, 2}, 1, 1, []PeerID{1}, 0, nil), ErrMalformed, "peers not strictly increasing"},
		{"req peer 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{0}, 1, 1, []PeerID{1}, 0, inc1), ErrMalformed, "peers not strictly increasing"},
		{"req unsorted voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{3, 1}, 0, inc1), ErrMalformed, "voters not strictly increasing"},
		{"req duplicate voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1, 3, 3}, 0, inc1), ErrMalformed, "voters not strictly increasing"},
		{"req voter 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{0, 1}, 0, inc1), ErrMalformed, "voters not strictly increasing"},
		{"req only voter 0", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{0}, 0, inc1), ErrMalformed, "voters not strictly increasing"},
		{"req forced 2", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 2, inc1), ErrMalformed, "forced is 2"},
		{"req forced 255", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2}, 1, 1, []PeerID{1}, 255, nil), ErrMalformed, "forced is 255"},
		{"newview nil members", body(TypeNewView, 1, 1, 1, nil, 1, 1, nil, nil), ErrMalformed, "members has 0 entries"},
		{"newview empty members", body(TypeNewView, 1, 1, 1, []PeerID{}, 1, 1, []uint64{}, nil), ErrMalformed, "members has 0 entries"},
		{"newview unsorted members", body(TypeNewView, 1, 1, 1, []PeerID{1, 3, 2}, 1, 1, inc3, nil), ErrMalformed, "members not strictly increasing"},
		{"newview duplicate members", body(TypeNewView, 1, 1, 1, []PeerID{1, 2, 2, 3}, 1, 1, inc4, nil), ErrMalformed, "members not strictly increasing"},
		{"newview descending members", body(TypeNewView, 1, 1, 1, []PeerID{3, 2, 1}, 1, 1, inc3, nil), ErrMalformed, "members not strictly increasing"},
		{"newview member 0", body(TypeNewView, 1, 1, 1, []PeerID{0, 1}, 1, 1, inc2, nil), ErrMalformed, "members not strictly increasing"},
		{"pendingreply unsorted members", body(TypePendingReply, 3, 1, 1, 1, []PeerID{3, 1}, OpNothing, 0, 0, nil, 0, 0, nil, 0, inc2, nil), ErrMalformed, "members not strictly increasing"},
		{"pendingreply duplicate peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4, 4}, 1, 1, []PeerID{1, 3}, 0, inc2, inc2), ErrMalformed, "peers not strictly increasing"},
		{"pendingreply unsorted peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{3, 1}, 1, 1, []PeerID{1, 3}, 0, inc2, nil), ErrMalformed, "peers not strictly increasing"},
		{"pendingreply unsorted voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{3, 1}, 0, inc2, inc1), ErrMalformed, "voters not strictly increasing"},
		{"pendingreply duplicate voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 1, []PeerID{3, 3}, 0, inc2, nil), ErrMalformed, "voters not strictly increasing"},
		{"pendingreply voter 0", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{0, 1, 3}, 0, inc2, inc1), ErrMalformed, "voters not strictly increasing"},
		{"pendingreply add forced 2", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1, 3}, 2, inc2, inc1), ErrMalformed, "forced is 2"},
		{"pendingreply del forced 2", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1, 3}, OpDel, 1, 1, []PeerID{1}, 1, 1, []PeerID{1, 3}, 2, inc2, nil), ErrMalformed, "forced is 2"},

		// More than MaxMembers, honestly encoded.
		{"req too many peers", body(TypeReq, 1, 1, 1, OpAdd, tooMany, 1, 1, []PeerID{1}, 0, tooManyIncs), ErrMalformed, "Peers: 1025 entries, limit 1024"},
		{"req too many voters", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, tooMany, 0, inc1), ErrMalformed, "Voters: 1025 entries, limit 1024"},
		{"req too many incarnations", body(TypeReq, 1, 1, 1, OpAdd, []PeerID{2}, 1, 1, []PeerID{1}, 0, tooManyIncs), ErrMalformed, "Incarnations: 1025 entries, limit 1024"},
		{"req del too many incarnations", body(TypeReq, 1, 1, 1, OpDel, []PeerID{2}, 1, 1, []PeerID{1}, 0, tooManyIncs), ErrMalformed, "Incarnations: 1025 entries, limit 1024"},
		{"newview too many members", body(TypeNewView, 1, 1, 1, tooMany, 1, 1, tooManyIncs, nil), ErrMalformed, "Members: 1025 entries, limit 1024"},
		{"newview too many incarnations", body(TypeNewView, 1, 1, 1, []PeerID{1}, 1, 1, tooManyIncs, nil), ErrMalformed, "Incarnations: 1025 entries, limit 1024"},
		{"pendingreply too many members", body(TypePendingReply, 3, 1, 1, 1, tooMany, OpNothing, 0, 0, nil, 0, 0, nil, 0, tooManyIncs, nil), ErrMalformed, "Members: 1025 entries, limit 1024"},
		{"pendingreply too many peers", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1}, OpAdd, 1, 1, tooMany, 1, 1, []PeerID{1}, 0, inc1, tooManyIncs), ErrMalformed, "Peers: 1025 entries, limit 1024"},
		{"pendingreply too many voters", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1}, OpAdd, 1, 1, []PeerID{4}, 1, 1, tooMany, 0, inc1, inc1), ErrMalformed, "Voters: 1025 entries, limit 1024"},
		{"pendingreply too many incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1}, OpNothing, 0, 0, nil, 0, 0, nil, 0, tooManyIncs, nil), ErrMalformed, "Incarnations: 1025 entries, limit 1024"},
		{"pendingreply too many pending incarnations", body(TypePendingReply, 3, 1, 1, 1, []PeerID{1}, OpAdd, 1, 1, []PeerID{4}, 1, 1, []PeerID{1}, 0, inc1, tooManyIncs), ErrMalformed, "PendingIncarnations: 1025 entries, limit 1024"},
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
		{"req peers 2^31", raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"dd80000000"), "Peers: 2147483648 entries"},
		{"req peers 2^32-1", raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"ddffffffff"), "Peers: 4294967295 entries"},
		{"req voters 2^31", raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"dd80000000"+"00"+"9101"), "Voters: 2147483648 entries"},
		{"req voters 2^32-1", raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"ddffffffff"), "Voters: 4294967295 entries"},
		{"req incarnations 2^31", raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"9101"+"00"+"dd80000000"), "Incarnations: 2147483648 entries, limit 1024"},
		{"req incarnations 2^32-1", raw(TypeReq, "9a"+"01"+"01"+"01"+"01"+"9102"+"01"+"01"+"9101"+"00"+"ddffffffff"), "Incarnations: 4294967295 entries, limit 1024"},
		{"req del incarnations 2^31", raw(TypeReq, "9a"+"01"+"01"+"01"+"02"+"9102"+"01"+"01"+"9101"+"00"+"dd80000000"), "Incarnations: 2147483648 entries, limit 1024"},
		{"newview members 2^31", raw(TypeNewView, "98"+"01"+"01"+"01"+"dd80000000"+"01"+"01"+"9101"), "Members: 2147483648 entries"},
		{"newview members 65535", raw(TypeNewView, "98"+"01"+"01"+"01"+"dcffff"), "Members: 65535 entries"},
		{"newview incarnations 2^31", raw(TypeNewView, "98"+"01"+"01"+"01"+"9101"+"01"+"01"+"dd80000000"), "Incarnations: 2147483648 entries, limit 1024"},
		{"newview incarnations 65535", raw(TypeNewView, "98"+"01"+"01"+"01"+"9101"+"01"+"01"+"dcffff"), "Incarnations: 65535 entries, limit 1024"},
		{"newview left 2^31", raw(TypeNewView, "98"+"01"+"01"+"01"+"9101"+"01"+"01"+"9101"+"dd80000000"), "Left: 2147483648 entries"},
		{"pendingreply members 2^31", raw(TypePendingReply, "9f"+"01"+"01"+"01"+"01"+"dd80000000"+"04000090000090"+"00"+"9090"), "Members: 2147483648 entries"},
		{"pendingreply peers 2^31", raw(TypePendingReply, "9f"+"01"+"01"+"01"+"01"+"9101"+"01"+"01"+"01"+"dd80000000"), "Peers: 2147483648 entries"},
		{"pendingreply voters 2^31", raw(TypePendingReply, "9f"+"01"+"01"+"01"+"01"+"9101"+"01"+"01"+"01"+"9102"+"01"+"01"+"dd80000000"+"00"+"9101"+"9101"), "Voters: 2147483648 entries"},
		{"pendingreply incarnations 2^31", raw(TypePendingReply, "9f"+"01"+"01"+"01"+"01"+"9101"+"04"+"00"+"00"+"c0"+"00"+"00"+"c0"+"00"+"dd80000000"+"c0"), "Incarnations: 2147483648 entries, limit 1024"},
		{"pendingreply pending incarnations 2^31", raw(TypePendingReply, "9f"+"01"+"01"+"01"+"01"+"9101"+"01"+"01"+"01"+"9102"+"01"+"01"+"9101"+"00"+"9101"+"dd80000000"), "PendingIncarnations: 2147483648 entries, limit 1024"},
		{"pendingreply pending incarnations 2^32-1", raw(TypePendingReply, "9f"+"01"+"01"+"01"+"01"+"9101"+"01"+"01"+"01"+"9102"+"01"+"01"+"9101"+"00"+"9101"+"ddffffffff"), "PendingIncarnations: 4294967295 entries, limit 1024"},
		{"message 2^31 fields", raw(TypeHeartbeat, "dd80000000"+"0101010101"), "array of 2147483648 fields"},
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
			// The MaxMembers-member messages are several KB: their head,
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
		{OpLead, 6, "LEAD"},
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
	if MaxMembers != 1024 {
		t.Errorf("MaxMembers = %d, want 1024", MaxMembers)
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
		{Op(7).String(), "OP(7)"},
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
