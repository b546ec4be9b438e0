package node

import (
	"peer/codec"
)

// A member saves what its leader proposes (REQ), installs what its leader
// commits (NEWVIEW) and promises a peer taking over (NEWLEADER); a leader or
// candidate that meets a higher ballot becomes a member again (follow).

func (n *Node) stepMember(m codec.Message) {
	switch m := m.(type) {
	case *codec.Join:
		n.restarted(m)
		switch j := m.Joiner; {
		case n.view.Has(j) && !n.failed(j):
			// It is in the view but missed the NEWVIEW that added it (its
			// leader may have died while sending it): tell it.
			n.catchUp(j, 0)
		case n.view.Has(j) && n.view.Inc(j) == m.Incarnation:
			// This node found it down, but it runs: tell it too.
			n.catchUp(j, 0)
		case n.inRange(j) && j != n.cfg.Self && n.ballot.Leader != n.cfg.Self && n.ballot.Leader != j:
			// Passed on once per leader, however often the joiner asks;
			// the joiner learns whom to ask from now on.
			if n.forwarded[j] != n.ballot.Leader {
				n.forwarded[j] = n.ballot.Leader
				n.send1(n.ballot.Leader, &codec.Join{From: n.cfg.Self, Joiner: j, Incarnation: m.Incarnation})
			}
			if m.From == j {
				n.send1(j, n.queuedMsg(j))
			}
		}
	case *codec.Req:
		n.onReq(m)
	case *codec.NewView:
		n.onNewView(m)
	case *codec.NewLeader:
		n.onNewLeader(m)
	default:
		n.stale(m, "not leading")
	}
}

// follow acknowledges ballot b if it is higher than the one this node
// follows: from now on it refuses anything older. A leader or candidate
// becomes a member; its change, round and queued joins are dropped (the
// joiners ask again), and a candidate's takeover did not happen: the leader
// it replaced is no longer removed whatever happens.
//
// leaderUp says that what brought b shows its leader running (a message of
// its own, a view it committed): a failure this node found is then
// forgotten. A ballot heard from a third party (a heartbeat, a probe's
// answer) shows nothing of the sort, so the first message of its leader
// under it does.
func (n *Node) follow(b Ballot, leaderUp bool) {
	switch {
	case n.ballot.Less(b):
		n.ballot, n.hearsay = b, !leaderUp
		if n.role == roleLeader || n.role == roleCandidate {
			n.log.Info().Str("event", "step_down").Stringer("ballot", b).Msg("a higher ballot leads: following it")
			if r := n.round; r != nil && n.members[r.replaces] != nil {
				// The takeover did not happen: the leader it replaced is
				// failed only if it is still down here.
				m := n.members[r.replaces]
				m.decided = false
				if !m.down {
					n.withdraw(m, r.replaces, "takeover abandoned")
				}
			}
			n.role = roleMember
			n.change, n.round, n.joins = nil, nil, nil
		}
		n.log.Info().Str("event", "new_leader").Uint32("leader", uint32(b.Leader)).Stringer("ballot", b).
			Uint64("view_id", uint64(n.view.ID)).Msg("following")
	case b != n.ballot || !n.hearsay:
		return
	}
	if !leaderUp {
		return
	}
	n.hearsay = false
	if m := n.members[b.Leader]; m != nil && (m.failed || m.suspected) {
		// It leads this node now: it was up after all.
		*m = member{failed: m.failed}
		n.out.Rewatch = append(n.out.Rewatch, b.Leader)
		n.withdraw(m, b.Leader, "it leads")
	}
}

// outbid: a candidate proposes ballot b while this leader is alive (it
// asks this leader, or refuses its REQ with b). No member is known to have
// promised b, and the candidate's check of this leader failed where this
// leader's own run did not: rather than leave the group to it, the leader
// runs a ballot above b. The candidate yields (a candidate follows any
// higher ballot); its members check it, and its answer shows they should
// follow this leader again.
func (n *Node) outbid(b Ballot, candidate codec.PeerID) {
	n.log.Info().Str("event", "outbid").Stringer("ballot", b).Uint32("candidate", uint32(candidate)).
		Msg("a candidate challenges this leader: new ballot above it")
	n.ballot.Epoch = b.Epoch
	n.becomeCandidate(0)
}

// onReq: a member saves the proposal of the ballot it follows, for its own
// view, and answers OK. A REQ from an older ballot or for another view is
// refused and its sender told.
func (n *Node) onReq(m *codec.Req) {
	b := Ballot{m.Epoch, m.From}
	if b.Less(n.ballot) {
		n.tell(m.From, m, "older ballot")
		return
	}
	n.follow(b, true)
	if m.ViewID != n.view.ID {
		n.tell(m.From, m, "other view")
		return
	}
	p := fromReq(m)
	if a := n.accepted; a == nil || a.req != p.req || a.ballot != p.ballot {
		n.accepted = p
		n.log.Info().Str("event", "pending_saved").Stringer("request_id", m.RequestID).Uint64("view_id", uint64(m.ViewID)).
			Stringer("op", m.Op).Interface("peers", m.Peers).Stringer("ballot", b).Msg("operation pending")
		for _, q := range m.Peers {
			switch m.Op {
			case codec.OpDel:
				n.fail(q, true)
			case codec.OpLeave:
				if r := n.members[q]; r != nil {
					r.leaving = true
				}
			}
		}
		if n.broken.applyOnReq {
			n.install(p.next(n.view))
			return
		}
	}
	n.send1(m.From, &codec.OK{From: n.cfg.Self, RequestID: m.RequestID, ViewID: m.ViewID, Epoch: m.Epoch})
}

// onNewView takes an installed view: every NEWVIEW carries one, so it is
// committed, whoever sends it. The next view is installed (a newer one
// without this peer means it was removed); the sender's ballot is followed
// if it is higher; a sender that is behind is brought up to date by a
// leader or candidate.
func (n *Node) onNewView(m *codec.NewView) {
	w := viewOf(m)
	switch {
	case w.ID < n.view.ID:
		n.catchUp(m.From, w.ID) // the sender is behind
		return
	case w.ID == n.view.ID:
		b := Ballot{m.Epoch, m.EpochLeader}
		if n.role == roleLeader || !w.Has(b.Leader) {
			// A candidate refused this leader's REQ, or a member told it
			// whom it follows now, or of a ballot led by a peer that
			// this view removed: as for a heartbeat's ballot.
			n.heardBallot(b)
			return
		}
		n.follow(b, b.Leader == m.From)
		return
	}
	if n.role == roleCandidate && n.broken.ignoreNewer {
		n.stale(m, "ignoring newer views")
		return
	}
	if w.ID > n.view.ID+1 {
		// Views are installed in order: the sender, and every member of
		// this view that the newer one keeps (the sender may not have the
		// views between: it joined later), are shown this node's view, and
		// send the ones between (catchUp). Copies of this view that come
		// meanwhile wait; one that comes a retry period after the question
		// is installed (nobody had the views between).
		switch {
		case n.gap.view != w.ID:
			n.gap = gap{view: w.ID, at: n.tick}
			to := []codec.PeerID{m.From}
			for _, p := range n.view.Members {
				if p != n.cfg.Self && p != m.From && w.Has(p) {
					to = append(to, p)
				}
			}
			n.send(to, n.viewMsg(n.view))
			return
		case n.tick-n.gap.at < uint64(n.cfg.RetryTicks):
			return
		}
	}
	if w.Has(m.EpochLeader) {
		n.follow(Ballot{m.Epoch, m.EpochLeader}, true) // (a ballot led by a removed peer leads nothing)
	}
	if w.ID > n.view.ID+1 && w.Has(n.cfg.Self) {
		n.log.Warn().Str("event", "views_skipped").Uint64("from_view", uint64(n.view.ID)).Uint64("to_view", uint64(w.ID)).
			Msg("installing a view more than one ahead")
	}
	n.install(w)
	switch {
	case n.role == roleCandidate:
		n.ask() // the round starts again for the new view
	case n.role == roleLeader && n.change != nil:
		n.change = nil // its change was for an older view
		n.advance()
	}
}

// onNewLeader: a peer takes over. A member of the same view promises its
// ballot if it is not older than the one it follows and the leader it
// follows has failed or is leaving: a NEWLEADER only claims that, so a
// member that has not seen the failure (or the LEAVE) checks it first, with
// a probe of its own, and
// answers when the check is over (answerTakeover). A leader refuses: it is
// alive. The promise reports the member's view and the proposal it
// accepted; a refusal tells the candidate this node's view and ballot.
func (n *Node) onNewLeader(m *codec.NewLeader) {
	b := Ballot{m.Epoch, m.From}
	leader := n.ballot.Leader
	switch {
	case !n.view.Has(m.From):
		n.tell(m.From, m, "not a member")
		return
	case m.ViewID != n.view.ID:
		n.tell(m.From, m, "other view")
		return
	case b.Less(n.ballot):
		n.tell(m.From, m, "older ballot")
		return
	case n.role == roleLeader && b != n.ballot:
		n.outbid(b, m.From) // this leader is alive: a takeover must not happen
		return
	case n.role == roleCandidate && (n.down(m.From) || n.round.replaces == m.From):
		// A peer this candidate found down, or is taking over from,
		// comes back with a higher ballot: the takeover goes on.
		n.tell(m.From, m, "taking over from it")
		return
	case n.role == roleMember && leader != m.From && n.staying(leader):
		n.takeover = m
		n.onSuspect(leader) // nothing if a check is already in progress
		n.answerTakeover()  // the check may be over already
		return
	}
	n.follow(b, true)
	r := &codec.PendingReply{
		From: n.cfg.Self, RequestID: m.RequestID,
		ViewID: n.view.ID, Leader: n.view.Leader, Members: n.view.Members, Op: codec.OpNothing,
	}
	r.Incarnations = n.view.Incs
	if p := n.accepted; p != nil && p.view == n.view.ID {
		r.Op, r.PendingRequest, r.PendingView, r.Peers = p.op, p.req, p.view, p.peers
		r.PendingEpoch, r.PendingLeader, r.Voters, r.Forced = p.ballot.Epoch, p.leader, p.voters, flagOf(p.forced)
		r.PendingIncarnations = p.incs
	}
	n.send1(m.From, r)
}
