package node

import (
	"slices"

	"peer/codec"
)

// A takeover is Paxos's first phase over views. The candidate proposes a
// ballot one epoch above any it has seen (NEWLEADER) and waits until every
// member that has not failed has promised it, and those hold a quorum of the
// view. Each promise carries the proposal the member accepted for the view.
// The highest-ballot one among them is the only change an earlier ballot may
// have committed (and printed, just before its leader died): unless one of
// its voters promised without having accepted it, so that it can never
// commit, the new leader proposes it again, unchanged and under the same
// view leader, before anything of its own. Otherwise it restarts that
// operation as its own change: a delete's peers count as failed, an add's
// joiners are queued. Then it removes the leader it replaces.
//
// A leader whose voter fails before its change commits runs the same round
// for itself (replaces is 0): the change is proposed again without that
// voter, or dropped if a voter's promise shows it never committed.

// round is a candidate's NEWLEADER round.
type round struct {
	req      codec.RequestID
	view     codec.ViewID // the view it collects promises for
	replaces codec.PeerID // the leader this takeover removes (0: none)
	replies  map[codec.PeerID]*codec.PendingReply
	sentAt   uint64
}

func (n *Node) stepCandidate(m codec.Message) {
	switch m := m.(type) {
	case *codec.PendingReply:
		n.onPendingReply(m)
	case *codec.Join:
		n.onJoin(m)
	case *codec.Req:
		n.onReq(m)
	case *codec.NewView:
		n.onNewView(m)
	case *codec.NewLeader:
		n.onNewLeader(m)
	default:
		n.stale(m, "taking over")
	}
}

// becomeCandidate starts a takeover of the failed leader replaces (0 when a
// leader runs a new ballot for itself). A leader that is leaving is not
// failed: it is removed with the others leaving.
func (n *Node) becomeCandidate(replaces codec.PeerID) {
	n.role = roleCandidate
	n.change = nil
	n.ballot = Ballot{Epoch: n.ballot.Epoch + 1, Leader: n.cfg.Self}
	n.round = &round{req: n.newRequest(), replaces: replaces}
	if m := n.members[replaces]; m != nil && !m.leaving {
		n.fail(replaces, true) // already failed here; now it is removed whatever happens
	}
	n.log.Info().Str("event", "reconcile_started").Stringer("request_id", n.round.req).Uint32("replaces", uint32(replaces)).
		Stringer("ballot", n.ballot).Msg("taking over as leader")
	n.ask()
}

// ask (re)starts the round for the installed view.
func (n *Node) ask() {
	r := n.round
	r.view, r.replies, r.sentAt = n.view.ID, map[codec.PeerID]*codec.PendingReply{}, n.tick
	n.send(n.awaited(), n.newLeaderMsg())
	n.maybeDecide()
}

func (n *Node) newLeaderMsg() *codec.NewLeader {
	return &codec.NewLeader{From: n.cfg.Self, RequestID: n.round.req, ViewID: n.view.ID, Op: codec.OpPending, Epoch: n.ballot.Epoch}
}

// askStrangers: when the members that have not failed cannot make a quorum,
// this candidate may be the last of a view the group left behind (it was cut
// off, and removed, while every other member of its view failed): it asks
// every host outside its view too, and one in a newer view tells it so.
func (n *Node) askStrangers() {
	if n.hasQuorum(func(p codec.PeerID) bool { return !n.down(p) }) {
		return
	}
	var to []codec.PeerID
	for p := codec.PeerID(1); int(p) <= n.cfg.Peers; p++ {
		if !n.view.Has(p) {
			to = append(to, p)
		}
	}
	n.send(to, n.newLeaderMsg())
}

// awaited is every other member that answers and has not promised yet.
func (n *Node) awaited() []codec.PeerID {
	var out []codec.PeerID
	for _, p := range n.view.Members {
		if p != n.cfg.Self && !n.down(p) && n.round.replies[p] == nil {
			out = append(out, p)
		}
	}
	return out
}

func (n *Node) onPendingReply(m *codec.PendingReply) {
	r := n.round
	switch {
	case m.RequestID != r.req || !n.view.Has(m.From):
		n.stale(m, "no such round")
	case m.ViewID < n.view.ID:
		n.catchUp(m.From, m.ViewID) // not in this view yet: it promises once it is
	case m.ViewID > n.view.ID || r.view != n.view.ID:
		n.stale(m, "other view")
	default:
		r.replies[m.From] = m
		n.maybeDecide()
	}
}

// maybeDecide ends the round once every member that has not failed has
// promised and, with this candidate, they hold a quorum.
func (n *Node) maybeDecide() {
	if n.role != roleCandidate || len(n.awaited()) > 0 {
		return
	}
	r := n.round
	if !n.hasQuorum(func(p codec.PeerID) bool { return p == n.cfg.Self || r.replies[p] != nil }) {
		if n.fresh(n.cfg.Self) { // log once per retry period
			n.log.Warn().Str("event", "no_quorum").Uint64("view_id", uint64(n.view.ID)).
				Msg("too few members answered to take over: waiting")
		}
		return
	}
	n.round = nil
	n.role = roleLeader
	p := n.recover(r)
	n.log.Info().Str("event", "reconcile_done").Uint64("view_id", uint64(n.view.ID)).Int("replies", len(r.replies)).
		Stringer("ballot", n.ballot).Bool("completes", p != nil).Msg("now leading")
	if p != nil {
		n.run(p)
		return
	}
	n.advance()
}

// recover returns the proposal this new leader must make again before
// anything of its own, or nil after restarting an operation that cannot
// have committed (see the top of this file).
func (n *Node) recover(r *round) *proposal {
	var best *proposal
	consider := func(p *proposal) {
		if p != nil && p.view == n.view.ID && (best == nil || best.ballot.Less(p.ballot)) {
			best = p
		}
	}
	consider(n.accepted)
	for _, q := range n.view.Members {
		if m := r.replies[q]; m != nil {
			consider(fromReply(m))
		}
	}
	if best == nil || n.broken.skipPending {
		return nil
	}
	if best.forced || !n.neverCommits(best, r) {
		n.log.Info().Str("event", "pending_completed").Stringer("request_id", best.req).Stringer("op", best.op).
			Interface("peers", best.peers).Uint32("view_leader", uint32(best.leader)).
			Msg("proposing again a change that may have committed")
		return &proposal{req: n.newRequest(), ballot: n.ballot, view: n.view.ID, op: best.op, peers: best.peers,
			incs: best.incs, leader: best.leader, forced: true}
	}
	n.log.Info().Str("event", "pending_restarted").Stringer("request_id", best.req).Stringer("op", best.op).
		Interface("peers", best.peers).Msg("restarting pending operation")
	for i, p := range best.peers {
		switch {
		case best.op == codec.OpDel:
			n.fail(p, true)
		case best.op == codec.OpLeave:
			if m := n.members[p]; m != nil {
				m.leaving = true
			}
		case !n.view.Has(p) && !slices.Contains(n.joins, p):
			n.joins = append(n.joins, p)
			if i < len(best.incs) {
				n.joinIncs[p] = best.incs[i]
			}
		}
	}
	return nil
}

// neverCommits reports whether a voter of p promised this ballot without
// having accepted p: it refuses p from now on, and p needs every voter.
func (n *Node) neverCommits(p *proposal, r *round) bool {
	for _, v := range p.voters {
		var got *proposal
		switch {
		case v == n.cfg.Self:
			got = n.accepted
		case r.replies[v] != nil:
			got = fromReply(r.replies[v])
		default:
			continue // no promise: it may have accepted p
		}
		if got == nil || got.view != p.view || got.ballot != p.ballot {
			return true
		}
	}
	return false
}
