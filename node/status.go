package node

import (
	"slices"

	"peer/codec"
)

// Status is a snapshot of a node, for tests and tools: what Runner.Status
// answers and what a peer's status endpoint reports.
type Status struct {
	Role   string
	View   View
	Leader codec.PeerID // the peer it follows: its ballot's leader
	Ballot Ballot
	// Suspected are the members whose silence is being checked: the
	// detector reported them and a probe is out.
	Suspected []codec.PeerID
	// Failed are the members that failed here ("unreachable" printed) and
	// that the view still holds: a change to remove them is due or running.
	Failed []codec.PeerID
	// Leaving are the members that asked to leave, this peer included once
	// it asked.
	Leaving []codec.PeerID
	// Pending is the proposal this node accepted for its view (a leader's
	// own proposal counts): the course's pending operation. Nil when none.
	Pending *Pending
}

// Pending is a proposed view change, as a status reports it.
type Pending struct {
	Request codec.RequestID
	View    codec.ViewID // the view it changes
	Op      codec.Op
	Peers   []codec.PeerID
	Ballot  Ballot       // the ballot that proposed it
	Leader  codec.PeerID // the leader of the view it makes
	Forced  bool         // it re-proposes a change an earlier ballot may have committed
}

// Status reads the node's state; like Step, it must be called from the
// goroutine that owns the node. It changes nothing, and shares no memory
// with the node except the view's member list, which is never modified.
func (n *Node) Status() Status {
	s := Status{Role: n.role.String(), View: n.view, Leader: n.ballot.Leader, Ballot: n.ballot}
	for p, m := range n.members {
		if m.suspected {
			s.Suspected = append(s.Suspected, p)
		}
		if m.failed {
			s.Failed = append(s.Failed, p)
		}
		if m.leaving {
			s.Leaving = append(s.Leaving, p)
		}
	}
	if n.leaving {
		s.Leaving = append(s.Leaving, n.cfg.Self)
	}
	slices.Sort(s.Suspected)
	slices.Sort(s.Failed)
	slices.Sort(s.Leaving)
	if a := n.accepted; a != nil && a.view == n.view.ID && n.role != roleGone {
		s.Pending = &Pending{Request: a.req, View: a.view, Op: a.op, Peers: slices.Clone(a.peers),
			Ballot: a.ballot, Leader: a.leader, Forced: a.forced}
	}
	return s
}
