package node

import (
	"peer/codec"
)

// A graceful leave (the Leave input, from SIGTERM): the peer tells every
// other member (LEAVE); its record there says it is leaving. The leader
// removes it with an ordinary view change (op LEAVE) after any failed member
// and before any joiner, and no one reports it. A leader that leaves stops
// leading: its members take its LEAVE as the leader gone, and the lowest one
// that answers takes over at once, with no timeout to wait for. The leaving
// peer exits when a view removes it, when every other member is leaving too
// or down (no one is left to remove it: a whole group shut down at once), or
// after Config.LeaveTicks.

// leave starts a graceful leave: every other member is told (LEAVE); the
// leader removes this peer with a LEAVE change, and a leader that leaves
// stops leading, so the next member takes over at once.
func (n *Node) leave() {
	if n.leaving || n.role == roleGone {
		return
	}
	if n.role == roleJoining || len(n.view.Members) <= 1 {
		n.exit(0, "left", false, "") // not in a group, or alone in it
		return
	}
	n.leaving, n.leftAt = true, n.tick
	n.log.Info().Str("event", "leaving").Uint64("view_id", uint64(n.view.ID)).Msg("leaving the group")
	if n.role == roleLeader || n.role == roleCandidate {
		n.role = roleMember // a proposal it made is in its promise to the next leader
		n.change, n.round, n.joins = nil, nil, nil
	}
	n.send(others(n.view, n.cfg.Self), &codec.Leave{From: n.cfg.Self, Incarnation: n.cfg.Incarnation})
	n.leaveIfAlone()
}

// leaveIfAlone: a leaving peer whose every other member is leaving too, or
// down, exits at once: no one is left to remove it.
func (n *Node) leaveIfAlone() {
	if !n.leaving || n.role == roleGone {
		return
	}
	for p, m := range n.members {
		if p != n.cfg.Self && !m.leaving && !m.down {
			return
		}
	}
	n.exit(0, "left", false, "")
}

// leaveTick asks again every retry period, and exits when the leave has
// taken too long: the group then finds this peer gone like any failure.
func (n *Node) leaveTick() {
	if n.leaveIfAlone(); n.role == roleGone {
		return
	}
	switch {
	case !n.leaving:
	case n.tick-n.leftAt >= uint64(n.cfg.LeaveTicks):
		n.exit(0, "left", false, "")
	case (n.tick-n.leftAt)%uint64(n.cfg.RetryTicks) == 0:
		n.send(others(n.view, n.cfg.Self), &codec.Leave{From: n.cfg.Self, Incarnation: n.cfg.Incarnation})
	}
}

// onLeave: member p is leaving. A leader removes it (advance); a member
// whose leader it is answers a takeover that waited on a check of it: a
// leaving leader hands over, so the takeover needs no failure. A LEAVE from
// another process of p than the view's (one that left and was started
// again, and its LEAVE arrived late) is not this member's.
func (n *Node) onLeave(l *codec.Leave) {
	p := l.From
	m := n.members[p]
	if m == nil || m.leaving || l.Incarnation != n.view.Inc(p) {
		return
	}
	m.leaving = true
	n.log.Info().Str("event", "peer_leaving").Uint32("peer", uint32(p)).Msg("peer is leaving")
	n.leaveIfAlone()
	switch {
	case n.role == roleLeader && n.change == nil:
		n.advance()
	case p == n.ballot.Leader:
		n.answerTakeover()
	}
}
