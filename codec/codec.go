package codec

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// PeerID is a peer's 1-based position in the hostsfile.
type PeerID uint32

// ViewID numbers the views of the group; it only grows.
type ViewID uint64

// RequestID names one REQ or NEWLEADER round. The high 32 bits are the id of the
// leader that started it and the low 32 bits a counter of that leader, so two
// leaders never issue the same id; receivers also match the view id.
type RequestID uint64

// NewRequestID composes a request id from the issuing leader and its counter.
func NewRequestID(leader PeerID, seq uint32) RequestID {
	return RequestID(uint64(leader)<<32 | uint64(seq))
}

// Leader is the peer that issued the request.
func (r RequestID) Leader() PeerID { return PeerID(r >> 32) }

// Seq is the issuing leader's counter.
func (r RequestID) Seq() uint32 { return uint32(r) }

func (r RequestID) String() string {
	return strconv.FormatUint(uint64(r.Leader()), 10) + "." + strconv.FormatUint(uint64(r.Seq()), 10)
}

// Type is the message type: the first byte of every encoded message.
// The numbers are protocol: append only, never renumber.
type Type uint8

const (
	TypeJoin         Type = 1  // a peer asks to be added
	TypeReq          Type = 2  // phase one of a view change: save this operation
	TypeOK           Type = 3  // a member saved the operation
	TypeNewView      Type = 4  // phase two: install this view
	TypeNewLeader    Type = 5  // a new leader asks for pending operations
	TypePendingReply Type = 6  // a member's answer to NEWLEADER
	TypeHeartbeat    Type = 7  // UDP liveness beacon
	TypeProbe        Type = 8  // are you there? (verifies a suspicion, over TCP)
	TypeProbeAck     Type = 9  // yes: the answer to a Probe, from the peer's own loop
	TypeLeave        Type = 10 // a member asks to be removed: it is shutting down
	TypeQueued       Type = 11 // a JOIN is queued by a leader: ask that leader alone
)

var typeNames = map[Type]string{
	TypeJoin:         "JOIN",
	TypeReq:          "REQ",
	TypeOK:           "OK",
	TypeNewView:      "NEWVIEW",
	TypeNewLeader:    "NEWLEADER",
	TypePendingReply: "PENDING_REPLY",
	TypeHeartbeat:    "HEARTBEAT",
	TypeProbe:        "PROBE",
	TypeProbeAck:     "PROBE_ACK",
	TypeLeave:        "LEAVE",
	TypeQueued:       "QUEUED",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "TYPE(" + strconv.Itoa(int(t)) + ")"
}

// Op is an operation type. The numbers are protocol: append only.
type Op uint8

const (
	OpAdd     Op = 1 // add the peers
	OpDel     Op = 2 // delete the peers
	OpPending Op = 3 // NEWLEADER: report your pending operation
	OpNothing Op = 4 // PENDING_REPLY: nothing is pending
	OpLeave   Op = 5 // remove the peers, which asked to leave (no failure)
	OpLead    Op = 6 // the peer in Peers (one) leads the same members: a new leader shows itself
)

var opNames = map[Op]string{OpAdd: "ADD", OpDel: "DEL", OpPending: "PENDING", OpNothing: "NOTHING", OpLeave: "LEAVE", OpLead: "LEAD"}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return "OP(" + strconv.Itoa(int(o)) + ")"
}

// Limits checked when decoding, before anything trusts a message.
const (
	// MaxMembers bounds every member or peer list.
	MaxMembers = 1024
)

var (
	// ErrUnknownType is returned for a type byte this version does not know.
	ErrUnknownType = errors.New("codec: unknown message type")
	// ErrMalformed is returned for a body that does not decode or breaks a rule.
	ErrMalformed = errors.New("codec: malformed message")
)

// Message is one of the message structs below.
type Message interface {
	Type() Type
	// Sender is the peer that sent this message (not necessarily its subject).
	Sender() PeerID
	validate() error
}

// Join asks the leader to add Joiner. From is the sender: the joiner itself, or
// a member passing the JOIN on to its leader. Incarnation is the joiner's:
// a JOIN from a member of another incarnation than the view's shows that the
// member's process restarted, so its old incarnation is gone.
type Join struct {
	_msgpack    struct{} `msgpack:",as_array"`
	From        PeerID
	Joiner      PeerID
	Incarnation uint64
}

// Req is phase one of a view change: every voter saves the proposal as its
// pending operation and answers OK. The proposal changes view ViewID by Op on
// Peers (the course's protocol has one peer; a leader may batch several joins
// or deletes), making a view led by Leader. It is proposed under the ballot
// (Epoch, From) and commits once every peer in Voters has answered OK.
// Forced is 1 when the proposal re-proposes a change that an earlier ballot
// may already have committed: a later leader must then make the same view.
// An ADD carries the joiners' incarnations, one per peer.
type Req struct {
	_msgpack     struct{} `msgpack:",as_array"`
	From         PeerID
	RequestID    RequestID
	ViewID       ViewID
	Op           Op
	Peers        []PeerID
	Epoch        uint64
	Leader       PeerID
	Voters       []PeerID
	Forced       uint8
	Incarnations []uint64
}

// OK answers a Req with its request id, view id and ballot epoch.
type OK struct {
	_msgpack  struct{} `msgpack:",as_array"`
	From      PeerID
	RequestID RequestID
	ViewID    ViewID
	Epoch     uint64
}

// NewView carries an installed view: phase two of a view change, or a view
// sent to a peer that is behind. Leader is the view's leader; it is normally
// From, except when the view completes another leader's change or is passed
// on. (Epoch, EpochLeader) is the ballot the sender follows: a peer that
// follows an older one learns that a takeover happened. Incarnations holds
// each member's incarnation, in the order of Members. Left lists the
// members of the view before that this one removes because they asked to
// leave: no one reports them unreachable.
type NewView struct {
	_msgpack     struct{} `msgpack:",as_array"`
	From         PeerID
	ViewID       ViewID
	Leader       PeerID
	Members      []PeerID
	Epoch        uint64
	EpochLeader  PeerID
	Incarnations []uint64
	Left         []PeerID
}

// NewLeader is sent by a peer taking over: it proposes the ballot (Epoch,
// From) for view ViewID and asks for each member's pending operation; Op is
// OpPending.
type NewLeader struct {
	_msgpack  struct{} `msgpack:",as_array"`
	From      PeerID
	RequestID RequestID
	ViewID    ViewID
	Op        Op
	Epoch     uint64
}

// PendingReply answers NewLeader: the member follows the new ballot from now
// on, and reports its installed view and the proposal for that view it saved,
// if any (Op is OpAdd, OpDel, OpLeave or OpLead with the fields after it, or
// OpNothing). The pending fields are those of the Req that carried the
// proposal: its request id, view, peers, ballot epoch (the ballot's leader is
// the request id's), the leader of the view it makes, its voters and Forced.
// A peer that is not in a view yet answers with ViewID 0. Incarnations are
// those of Members, PendingIncarnations those of a pending ADD's Peers.
type PendingReply struct {
	_msgpack       struct{} `msgpack:",as_array"`
	From           PeerID
	RequestID      RequestID // the NewLeader's request id
	ViewID         ViewID    // the member's installed view
	Leader         PeerID    // that view's leader
	Members        []PeerID  // that view's members
	Op             Op
	PendingRequest RequestID // the REQ that created the pending operation
	PendingView    ViewID    // the view the pending operation was proposed in
	Peers          []PeerID
	PendingEpoch   uint64
	PendingLeader  PeerID
	Voters         []PeerID
	Forced         uint8

	Incarnations        []uint64
	PendingIncarnations []uint64
}

// Heartbeat is the UDP liveness beacon: sender, its installed view, a counter
// that grows with every beacon the sender sends, and the ballot (Epoch,
// EpochLeader) the sender follows (EpochLeader 0: none yet), so that a member
// that follows an older one learns within a heartbeat that another leads.
type Heartbeat struct {
	_msgpack    struct{} `msgpack:",as_array"`
	From        PeerID
	ViewID      ViewID
	Seq         uint64
	Epoch       uint64
	EpochLeader PeerID
}

// Leave tells every other member that From is shutting down and asks to be
// removed from the view: the leader (or whoever takes over) removes it with
// an ordinary view change with Op OpLeave, which no one reports as a failure.
// Incarnation is the leaving process's: a LEAVE that arrives after its
// sender restarted and joined again does not concern the new process.
type Leave struct {
	_msgpack    struct{} `msgpack:",as_array"`
	From        PeerID
	Incarnation uint64
}

// Queued answers a JOIN at once: Joiner's request is queued by Leader, who
// follows ballot (Epoch, Leader); the joiner asks that leader alone from now
// on, until it stops answering. The leader sends it, and so does a member
// that passes the JOIN on (naming its leader), so that a joiner never has to
// ask every host again while a leader is there to add it.
type Queued struct {
	_msgpack struct{} `msgpack:",as_array"`
	From     PeerID
	Joiner   PeerID
	Leader   PeerID
	Epoch    uint64
}

// Probe asks a suspected peer whether it is still there. It travels on the
// persistent TCP connection, and the peer's own event loop answers it, so an
// answer shows that the process runs, not only that its kernel is up.
type Probe struct {
	_msgpack struct{} `msgpack:",as_array"`
	From     PeerID
	Nonce    uint64
}

// ProbeAck answers a Probe with its nonce and the ballot (Epoch,
// EpochLeader) the peer follows, so that a member checking whether its
// leader still leads learns that it now follows another (EpochLeader 0: the
// peer is in no view). Incarnation is the answering process's: an answer
// from another incarnation than the view's shows the member's old process
// gone, not alive.
type ProbeAck struct {
	_msgpack    struct{} `msgpack:",as_array"`
	From        PeerID
	Nonce       uint64
	Epoch       uint64
	EpochLeader PeerID
	Incarnation uint64
}

func (*Join) Type() Type         { return TypeJoin }
func (*Req) Type() Type          { return TypeReq }
func (*OK) Type() Type           { return TypeOK }
func (*NewView) Type() Type      { return TypeNewView }
func (*NewLeader) Type() Type    { return TypeNewLeader }
func (*PendingReply) Type() Type { return TypePendingReply }
func (*Heartbeat) Type() Type    { return TypeHeartbeat }
func (*Probe) Type() Type        { return TypeProbe }
func (*ProbeAck) Type() Type     { return TypeProbeAck }
func (*Leave) Type() Type        { return TypeLeave }
func (*Queued) Type() Type       { return TypeQueued }

func (m *Join) Sender() PeerID         { return m.From }
func (m *Req) Sender() PeerID          { return m.From }
func (m *OK) Sender() PeerID           { return m.From }
func (m *NewView) Sender() PeerID      { return m.From }
func (m *NewLeader) Sender() PeerID    { return m.From }
func (m *PendingReply) Sender() PeerID { return m.From }
func (m *Heartbeat) Sender() PeerID    { return m.From }
func (m *Probe) Sender() PeerID        { return m.From }
func (m *ProbeAck) Sender() PeerID     { return m.From }
func (m *Leave) Sender() PeerID        { return m.From }
func (m *Queued) Sender() PeerID       { return m.From }

func (m *Join) validate() error {
	return firstErr(checkPeer("from", m.From), checkPeer("joiner", m.Joiner), checkInc("incarnation", m.Incarnation))
}

func (m *Req) validate() error {
	if m.Op != OpAdd && m.Op != OpDel && m.Op != OpLeave && m.Op != OpLead {
		return fmt.Errorf("req op %v", m.Op)
	}
	if m.Op == OpLead && len(m.Peers) != 1 {
		return fmt.Errorf("lead with %d peers", len(m.Peers))
	}
	return firstErr(checkPeer("from", m.From), checkSet("peers", m.Peers, 1), checkPeer("leader", m.Leader),
		checkSet("voters", m.Voters, 0), checkFlag("forced", m.Forced), checkIncs("incarnations", m.Op, "peers", m.Peers, m.Incarnations))
}

func (m *OK) validate() error { return checkPeer("from", m.From) }

func (m *NewView) validate() error {
	return firstErr(checkPeer("from", m.From), checkPeer("leader", m.Leader), checkSet("members", m.Members, 1),
		checkPeer("epoch leader", m.EpochLeader), checkIncs("incarnations", OpAdd, "members", m.Members, m.Incarnations),
		checkSet("left", m.Left, 0))
}

func (m *NewLeader) validate() error {
	if m.Op != OpPending {
		return fmt.Errorf("newleader op %v", m.Op)
	}
	return checkPeer("from", m.From)
}

func (m *PendingReply) validate() error {
	if err := firstErr(checkPeer("from", m.From), checkSet("members", m.Members, 0),
		checkIncs("incarnations", OpAdd, "members", m.Members, m.Incarnations)); err != nil {
		return err
	}
	switch m.Op {
	case OpNothing:
		if len(m.Peers) != 0 || len(m.Voters) != 0 || len(m.PendingIncarnations) != 0 {
			return errors.New("nothing with peers, voters or incarnations")
		}
		return nil
	case OpAdd, OpDel, OpLeave, OpLead:
		return firstErr(checkSet("peers", m.Peers, 1), checkPeer("pending leader", m.PendingLeader),
			checkSet("voters", m.Voters, 0), checkFlag("forced", m.Forced),
			checkIncs("pending incarnations", m.Op, "peers", m.Peers, m.PendingIncarnations))
	}
	return fmt.Errorf("pending reply op %v", m.Op)
}

func (m *Heartbeat) validate() error { return checkPeer("from", m.From) }
func (m *Probe) validate() error     { return checkPeer("from", m.From) }
func (m *ProbeAck) validate() error {
	return firstErr(checkPeer("from", m.From), checkInc("incarnation", m.Incarnation))
}
func (m *Leave) validate() error {
	return firstErr(checkPeer("from", m.From), checkInc("incarnation", m.Incarnation))
}
func (m *Queued) validate() error {
	return firstErr(checkPeer("from", m.From), checkPeer("joiner", m.Joiner), checkPeer("leader", m.Leader))
}

func checkFlag(field string, f uint8) error {
	if f > 1 {
		return fmt.Errorf("%s is %d, want 0 or 1", field, f)
	}
	return nil
}

func checkInc(field string, inc uint64) error {
	if inc == 0 {
		return fmt.Errorf("%s is 0", field)
	}
	return nil
}

// checkIncs requires one non-zero incarnation per id of the list named
// what for an ADD (and for a view's members), none for another op.
func checkIncs(field string, op Op, what string, ids []PeerID, incs []uint64) error {
	if op != OpAdd {
		if len(incs) != 0 {
			return fmt.Errorf("%s: %d for %v", field, len(incs), op)
		}
		return nil
	}
	if len(incs) != len(ids) {
		return fmt.Errorf("%s: %d for %d %s", field, len(incs), len(ids), what)
	}
	for i, inc := range incs {
		if inc == 0 {
			return fmt.Errorf("%s: entry %d is 0", field, i)
		}
	}
	return nil
}

func checkPeer(field string, p PeerID) error {
	if p == 0 {
		return fmt.Errorf("%s is 0", field)
	}
	return nil
}

// checkSet requires a strictly increasing list of non-zero ids.
func checkSet(field string, ids []PeerID, min int) error {
	if len(ids) < min || len(ids) > MaxMembers {
		return fmt.Errorf("%s has %d entries", field, len(ids))
	}
	for i, p := range ids {
		if p == 0 || (i > 0 && ids[i-1] >= p) {
			return fmt.Errorf("%s not strictly increasing ids", field)
		}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// New returns an empty message of type t, or nil for an unknown type.
func New(t Type) Message {
	switch t {
	case TypeJoin:
		return new(Join)
	case TypeReq:
		return new(Req)
	case TypeOK:
		return new(OK)
	case TypeNewView:
		return new(NewView)
	case TypeNewLeader:
		return new(NewLeader)
	case TypePendingReply:
		return new(PendingReply)
	case TypeHeartbeat:
		return new(Heartbeat)
	case TypeProbe:
		return new(Probe)
	case TypeProbeAck:
		return new(ProbeAck)
	case TypeLeave:
		return new(Leave)
	case TypeQueued:
		return new(Queued)
	}
	return nil
}

// Marshal encodes m as its type byte followed by its msgpack body.
func Marshal(m Message) ([]byte, error) {
	return AppendMarshal(nil, m)
}

// AppendMarshal appends the encoding of m to dst.
func AppendMarshal(dst []byte, m Message) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	buf.WriteByte(byte(m.Type()))
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(m); err != nil {
		return dst, fmt.Errorf("codec: encode %v: %w", m.Type(), err)
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes one message. The whole of b must be one message.
func Unmarshal(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	m := New(Type(b[0]))
	if m == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, b[0])
	}
	r := bytes.NewReader(b[1:])
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	if err := decodeFields(dec, m); err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrMalformed, m.Type(), err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %v: %d trailing bytes", ErrMalformed, m.Type(), r.Len())
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrMalformed, m.Type(), err)
	}
	return m, nil
}

// decodeFields decodes the body of m: a msgpack array of its exported fields in
// declaration order, as AppendMarshal writes them. It replaces msgpack's own
// struct decoding, which accepts a map body, reads nil or a negative number into
// an unsigned field, truncates a number too large for its field, and allocates
// a slice as long as the array length the input claims (2^32 for five bytes).
func decodeFields(d *msgpack.Decoder, m Message) error {
	v := reflect.ValueOf(m).Elem()
	fields := bodyFields[m.Type()]
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != len(fields) {
		return fmt.Errorf("array of %d fields, want %d", n, len(fields))
	}
	for _, i := range fields {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Uint8, reflect.Uint32, reflect.Uint64:
			var x uint64
			x, err = decodeUint(d, f.Type().Bits())
			f.SetUint(x)
		case reflect.Slice: // []PeerID or []uint64, checked by bodyFields
			if f.Type() == reflect.TypeFor[[]PeerID]() {
				var ids []PeerID
				ids, err = decodeList[PeerID](d, 32)
				f.Set(reflect.ValueOf(ids))
			} else {
				var xs []uint64
				xs, err = decodeList[uint64](d, 64)
				f.Set(reflect.ValueOf(xs))
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", v.Type().Field(i).Name, err)
		}
	}
	return nil
}

// bodyFields lists, for each type, the indices of the fields its body holds.
var bodyFields = func() map[Type][]int {
	out := map[Type][]int{}
	for ty := range typeNames {
		t := reflect.TypeOf(New(ty)).Elem()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			switch f.Type.Kind() {
			case reflect.Uint8, reflect.Uint32, reflect.Uint64:
			default:
				if f.Type != reflect.TypeFor[[]PeerID]() && f.Type != reflect.TypeFor[[]uint64]() {
					panic("codec: cannot decode " + t.Name() + "." + f.Name)
				}
			}
			out[ty] = append(out[ty], i)
		}
	}
	return out
}()

// decodeUint decodes a non-negative integer that fits in bits bits.
func decodeUint(d *msgpack.Decoder, bits int) (uint64, error) {
	c, err := d.PeekCode()
	if err != nil {
		return 0, err
	}
	var x uint64
	switch {
	case c == msgpcode.Nil:
		return 0, errors.New("nil, want an integer")
	case c >= msgpcode.NegFixedNumLow, c >= msgpcode.Int8 && c <= msgpcode.Int64:
		i, err := d.DecodeInt64()
		if err != nil {
			return 0, err
		}
		if i < 0 {
			return 0, fmt.Errorf("negative %d", i)
		}
		x = uint64(i)
	default:
		if x, err = d.DecodeUint64(); err != nil {
			return 0, err
		}
	}
	if bits < 64 && x>>bits != 0 {
		return 0, fmt.Errorf("%d does not fit in %d bits", x, bits)
	}
	return x, nil
}

// decodeList decodes a list of integers of bits bits (peer ids,
// incarnations), checking its length before allocating. A nil list is nil.
func decodeList[T ~uint32 | ~uint64](d *msgpack.Decoder, bits int) ([]T, error) {
	n, err := d.DecodeArrayLen()
	if err != nil || n == -1 {
		return nil, err
	}
	if n > MaxMembers {
		return nil, fmt.Errorf("%d entries, limit %d", n, MaxMembers)
	}
	xs := make([]T, n)
	for i := range xs {
		x, err := decodeUint(d, bits)
		if err != nil {
			return nil, err
		}
		xs[i] = T(x)
	}
	return xs, nil
}

// SortedIDs returns ids sorted ascending with duplicates removed, as a new slice.
func SortedIDs(ids []PeerID) []PeerID {
	out := append([]PeerID(nil), ids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	n := 0
	for i, p := range out {
		if i == 0 || p != out[n-1] {
			out[n] = p
			n++
		}
	}
	return out[:n]
}

// FormatIDs renders ids as the assignment prints them: "1,2,3".
func FormatIDs(ids []PeerID) string {
	var b strings.Builder
	for i, p := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(p), 10))
	}
	return b.String()
}
