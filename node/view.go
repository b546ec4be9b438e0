package node

import (
	"fmt"
	"sort"

	"peer/codec"
)

// View is one installed membership: its id, its leader and its members in
// increasing order. A View is never modified after it is made; a change makes a
// new one.
type View struct {
	ID      codec.ViewID
	Leader  codec.PeerID
	Members []codec.PeerID
}

// Has reports whether p is a member.
func (v View) Has(p codec.PeerID) bool {
	i := sort.Search(len(v.Members), func(i int) bool { return v.Members[i] >= p })
	return i < len(v.Members) && v.Members[i] == p
}

// Line is the view as the assignment prints it on stderr.
func (v View) Line(self codec.PeerID) string {
	return fmt.Sprintf("{peer_id:%d, view_id: %d, leader: %d, memb_list: [%s]}",
		self, v.ID, v.Leader, codec.FormatIDs(v.Members))
}

// messageLine is an assignment line carrying a message ("crashing", "peer 3 unreachable").
func messageLine(self codec.PeerID, id codec.ViewID, leader codec.PeerID, msg string) string {
	return fmt.Sprintf("{peer_id:%d, view_id: %d, leader: %d, message:%q}", self, id, leader, msg)
}

// apply returns the members after op, as a new sorted slice.
func apply(members []codec.PeerID, op codec.Op, peers []codec.PeerID) []codec.PeerID {
	out := make([]codec.PeerID, 0, len(members)+len(peers))
	switch op {
	case codec.OpAdd:
		out = append(out, members...)
		out = append(out, peers...)
		return codec.SortedIDs(out)
	case codec.OpDel, codec.OpLeave:
		drop := View{Members: peers}
		for _, p := range members {
			if !drop.Has(p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// set is a small set of peer ids.
type set map[codec.PeerID]bool

// sorted returns the ids in increasing order.
func (s set) sorted() []codec.PeerID {
	out := make([]codec.PeerID, 0, len(s))
	for p, ok := range s {
		if ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
