package node

import (
	"slices"
	"testing"

	"peer/codec"
)

// Status reports what the node holds at each step of a delete and a leave:
// the suspicion, the failure, the pending operation on the leader and on a
// member that accepted it, and a leaving member.
func TestStatus(t *testing.T) {
	c := newCluster(t, 3, nil)
	joinAll(c)
	s := c.nodes[1].Status()
	if s.Role != "leader" || s.View.ID != 3 || s.Leader != 1 || s.Ballot != (Ballot{1, 1}) || s.Pending != nil {
		t.Fatalf("leader of a settled group: %+v", s)
	}

	c.crash(3)
	c.step(1, Suspect{Peer: 3})
	if s := c.nodes[1].Status(); !slices.Equal(s.Suspected, ids(3)) || s.Failed != nil {
		t.Fatalf("after the detector's report: %+v", s)
	}
	c.step(1, Refused{Peer: 3}) // the probe is refused: the check fails
	s = c.nodes[1].Status()
	if s.Suspected != nil || !slices.Equal(s.Failed, ids(3)) {
		t.Fatalf("after the failed check: %+v", s)
	}
	want := Pending{View: 3, Op: codec.OpDel, Peers: ids(3), Ballot: Ballot{1, 1}, Leader: 1}
	if p := s.Pending; p == nil || p.Request.Leader() != 1 || p.View != want.View || p.Op != want.Op ||
		!slices.Equal(p.Peers, want.Peers) || p.Ballot != want.Ballot || p.Leader != want.Leader || p.Forced {
		t.Fatalf("leader's pending operation %+v, want %+v", s.Pending, want)
	}
	c.deliverOne(1, 2) // the REQ
	if p := c.nodes[2].Status().Pending; p == nil || p.Request != s.Pending.Request || p.Op != codec.OpDel {
		t.Fatalf("member's pending operation %+v, want the leader's %+v", p, s.Pending)
	}

	c.settle()
	s = c.nodes[1].Status()
	if !slices.Equal(s.View.Members, ids(1, 2)) || s.Pending != nil || s.Failed != nil {
		t.Fatalf("after the delete: %+v", s)
	}
	c.step(2, Leave{})
	if s := c.nodes[2].Status(); !slices.Equal(s.Leaving, ids(2)) {
		t.Fatalf("leaving member: %+v", s)
	}
	c.deliverOne(2, 1) // the LEAVE
	if s := c.nodes[1].Status(); !slices.Equal(s.Leaving, ids(2)) || s.Pending == nil || s.Pending.Op != codec.OpLeave {
		t.Fatalf("leader told of the leave: %+v", s)
	}
}
