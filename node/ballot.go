package node

import (
	"strconv"

	"peer/codec"
)

// Ballot orders leaderships, as raft's term does. The first leader leads
// ballot (1, 1); a peer taking over proposes one epoch more than the highest
// it has seen, and among equal epochs the lower id comes first. Every
// leader's message carries its ballot; a member follows the highest ballot
// it has acknowledged and refuses, and tells, anyone with an older one.
type Ballot struct {
	Epoch  uint64
	Leader codec.PeerID
}

// Less reports whether b comes before o.
func (b Ballot) Less(o Ballot) bool {
	if b.Epoch != o.Epoch {
		return b.Epoch < o.Epoch
	}
	return b.Leader > o.Leader
}

func (b Ballot) String() string {
	return strconv.FormatUint(b.Epoch, 10) + "/" + strconv.FormatUint(uint64(b.Leader), 10)
}

// proposal is a view change proposed under a ballot: the course's pending
// operation. A member keeps the last one it accepted (answered OK to); a
// leader keeps the one it proposed, as if it had accepted it.
//
// One ballot proposes at most one change per view, and a change commits
// only once every voter has accepted it: the voters are the members that
// stay in the view it makes (other than its proposer) and had not failed, and
// with the proposer they hold a quorum of the view. A leader that loses a
// voter before the change commits runs a new ballot instead of committing
// without it.
type proposal struct {
	req    codec.RequestID // its REQ; req.Leader() proposed it
	ballot Ballot
	view   codec.ViewID // the view it changes
	op     codec.Op
	peers  []codec.PeerID
	incs   []uint64       // an ADD's: the joiners' incarnations, one per peer
	leader codec.PeerID   // the leader of the view it makes
	voters []codec.PeerID // whose OK commits it
	forced bool           // it re-proposes a change an earlier ballot may have committed
}

// next is the view p makes from v (p.view must be v.ID).
func (p *proposal) next(v View) View {
	members, incs := apply(v, p.op, p.peers, p.incs)
	next := View{ID: p.view + 1, Leader: p.leader, Members: members, Incs: incs}
	if p.op == codec.OpLeave {
		next.Left = p.peers
	}
	return next
}

func (p *proposal) reqMsg(from codec.PeerID) *codec.Req {
	return &codec.Req{From: from, RequestID: p.req, ViewID: p.view, Op: p.op, Peers: p.peers,
		Epoch: p.ballot.Epoch, Leader: p.leader, Voters: p.voters, Forced: flagOf(p.forced), Incarnations: p.incs}
}

func fromReq(m *codec.Req) *proposal {
	return &proposal{req: m.RequestID, ballot: Ballot{m.Epoch, m.From}, view: m.ViewID, op: m.Op, peers: m.Peers,
		incs: m.Incarnations, leader: m.Leader, voters: m.Voters, forced: m.Forced == 1}
}

// fromReply is the proposal a PENDING_REPLY reports, or nil.
func fromReply(m *codec.PendingReply) *proposal {
	if m.Op != codec.OpAdd && m.Op != codec.OpDel && m.Op != codec.OpLeave && m.Op != codec.OpLead {
		return nil
	}
	return &proposal{req: m.PendingRequest, ballot: Ballot{m.PendingEpoch, m.PendingRequest.Leader()}, view: m.PendingView,
		op: m.Op, peers: m.Peers, incs: m.PendingIncarnations, leader: m.PendingLeader, voters: m.Voters, forced: m.Forced == 1}
}

func flagOf(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
