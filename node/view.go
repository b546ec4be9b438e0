package node

import (
	"fmt"
	"slices"
	"sort"

	"peer/codec"
)

// View is one installed membership: its id, its leader, its members in
// increasing order and their incarnations (Incs[i] is Members[i]'s). Left
// are the members of the view before that this one removed because they
// asked to leave (not failures). A View is never modified after it is made;
// a change makes a new one.
type View struct {
	ID      codec.ViewID
	Leader  codec.PeerID
	Members []codec.PeerID
	Incs    []uint64
	Left    []codec.PeerID
}

// Has reports whether p is a member.
func (v View) Has(p codec.PeerID) bool {
	i := sort.Search(len(v.Members), func(i int) bool { return v.Members[i] >= p })
	return i < len(v.Members) && v.Members[i] == p
}

// Inc is member p's incarnation (0 if p is not a member).
func (v View) Inc(p codec.PeerID) uint64 {
	i := sort.Search(len(v.Members), func(i int) bool { return v.Members[i] >= p })
	if i < len(v.Members) && v.Members[i] == p && i < len(v.Incs) {
		return v.Incs[i]
	}
	return 0
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

// apply returns the members of v after op, and their incarnations (incs are
// an ADD's peers'), as new slices.
func apply(v View, op codec.Op, peers []codec.PeerID, incs []uint64) ([]codec.PeerID, []uint64) {
	inc := make(map[codec.PeerID]uint64, len(v.Members)+len(peers))
	for _, p := range v.Members {
		inc[p] = v.Inc(p)
	}
	var members []codec.PeerID
	switch op {
	case codec.OpAdd:
		for i, p := range peers {
			if i < len(incs) {
				inc[p] = incs[i]
			}
		}
		members = codec.SortedIDs(append(slices.Clone(v.Members), peers...))
	case codec.OpLead:
		members = slices.Clone(v.Members)
	case codec.OpDel, codec.OpLeave:
		drop := View{Members: peers}
		for _, p := range v.Members {
			if !drop.Has(p) {
				members = append(members, p)
			}
		}
	}
	out := make([]uint64, len(members))
	for i, p := range members {
		out[i] = inc[p]
	}
	return members, out
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
