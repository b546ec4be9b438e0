package node

import (
	"peer/codec"
)

// member is what this node knows about one other member of its view. Its
// record is created when the peer enters the view and dropped when it
// leaves it (syncMembers, from install); nothing else adds or removes one.
type member struct {
	// suspected: the detector reported a silence and a probe is out. It
	// ends when the probe is answered or heartbeats come back (revoke), or
	// when the check fails (fail). Never together with failed.
	suspected bool
	since     uint64 // tick the suspicion began: the probe fails at since+ProbeTicks
	nonce     uint64 // the first probe nonce of this suspicion: an answer to it or a later one ends it
	probedAt  uint64 // tick the last probe was sent

	// down: this node's check of it failed: it does not answer. It votes
	// on nothing and promises nothing until it is heard again (heartbeats,
	// or an answer to the probe it gets every probe wait while in the view).
	down bool
	// failed: down, or a leader decided to remove the peer; "unreachable"
	// has been printed, once. A leader removes its failed members; a member
	// expects the lowest member that has not failed to take over when its
	// leader fails.
	failed bool
	// decided: failed by a leader's decision (a REQ that deletes it, a
	// takeover that replaces it, a delete a new leader restarts), so
	// heartbeats do not undo it. Such a peer may still be up, and vote.
	decided bool

	// leaving: it asked to leave (LEAVE, or a REQ that makes it leave). A
	// leader removes it with a LEAVE change; no one reports it; it neither
	// leads nor takes over, but it still votes and promises.
	leaving bool
}

// told is when a peer was last sent this node's view because it was behind
// or used an older ballot, and in which state: it is told again after a
// retry period, or at once when the view or ballot changed.
type told struct {
	tick   uint64
	view   codec.ViewID
	ballot Ballot
	theirs codec.ViewID // the peer's view, when known
}

// gap is a view more than one ahead that came at tick at: the views between
// were asked for then.
type gap struct {
	view codec.ViewID
	at   uint64
}

// syncMembers makes the records match v's members: a record for every other
// member, none for anyone else. A peer entering the view is watched afresh
// by the detector: if it left and came back within one step, the detector
// saw no change and may still hold an old suspicion of it.
func (n *Node) syncMembers(v View) {
	for _, p := range v.Members {
		if p != n.cfg.Self && n.members[p] == nil {
			n.members[p] = &member{}
			n.out.Rewatch = append(n.out.Rewatch, p)
		}
	}
	for p := range n.members {
		if !v.Has(p) {
			delete(n.members, p)
		}
	}
}

// failed reports whether member p has failed here (false for this peer and
// for peers not in the view).
func (n *Node) failed(p codec.PeerID) bool {
	m := n.members[p]
	return m != nil && m.failed
}

// down reports whether this node's check of member p failed.
func (n *Node) down(p codec.PeerID) bool {
	m := n.members[p]
	return m != nil && m.down
}

// staying reports whether p is another member that is up here and not
// leaving: one that leads, or takes over, when its turn comes.
func (n *Node) staying(p codec.PeerID) bool {
	m := n.members[p]
	return m != nil && !m.down && !m.leaving
}

// quorum reports whether the members of v for which in holds are a majority
// of v, or exactly half of it including its lowest member (dynamic linear
// voting). Two such sets always share a member, so two sides of a group can
// never both change its view.
func quorum(v View, in func(codec.PeerID) bool) bool {
	k := 0
	for _, p := range v.Members {
		if in(p) {
			k++
		}
	}
	return 2*k > len(v.Members) || 2*k == len(v.Members) && k > 0 && in(v.Members[0])
}

// hasQuorum reports whether the members of the view for which in holds are
// a quorum of it.
func (n *Node) hasQuorum(in func(codec.PeerID) bool) bool {
	return n.broken.noQuorum || quorum(n.view, in)
}

// successor is the member that takes over if the leader of the view fails
// now: the lowest member other than that leader (0 if none).
func (n *Node) successor() codec.PeerID {
	for _, p := range n.view.Members {
		if p != n.view.Leader {
			return p
		}
	}
	return 0
}

// maybeTakeOver runs after every step: a member whose check of its leader
// failed takes over if it is the lowest member whose check has not failed.
// The others wait for its NEWLEADER; they follow no one new until a
// takeover really happens. (A leader that a change removes, but that still
// answers, is not taken over from: it is running that change.) When the
// leader followed is no longer a member, the view's own leader takes over if
// it is up: the change that removed the old one named it. A member that
// follows a ballot of its own (an earlier process of this peer led it) runs
// a new one.
func (n *Node) maybeTakeOver() {
	if n.role != roleMember || n.leaving {
		return
	}
	leader := n.ballot.Leader
	if leader == n.cfg.Self {
		n.becomeCandidate(0)
		return
	}
	if n.staying(leader) {
		return
	}
	if named := n.view.Leader; !n.view.Has(leader) && n.view.Has(named) {
		if named == n.cfg.Self {
			n.becomeCandidate(0)
			return
		}
		if n.staying(named) {
			return // the named leader takes over
		}
	}
	for _, p := range n.view.Members {
		if p == n.cfg.Self {
			if !n.view.Has(leader) {
				leader = 0
			}
			n.becomeCandidate(leader)
			return
		}
		if n.staying(p) {
			return // a lower member takes over
		}
	}
}
