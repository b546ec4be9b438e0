package node

import (
	"slices"

	"peer/codec"
)

// change is a proposal the leader runs.
type change struct {
	p *proposal
	// waiting: voters whose OK has not arrived.
	waiting set
	sentAt  uint64
	// blocked: the members that have not failed hold no quorum, so the
	// REQ is not sent; a member that comes back unblocks it (unblock).
	blocked bool
}

func (n *Node) stepLeader(m codec.Message) {
	switch m := m.(type) {
	case *codec.Join:
		n.onJoin(m)
	case *codec.OK:
		n.onOK(m)
	case *codec.Req:
		n.onReq(m) // from an older ballot it is refused; a higher one makes this leader a member
	case *codec.NewView:
		n.onNewView(m)
	case *codec.NewLeader:
		n.onNewLeader(m)
	default:
		n.stale(m, "no such round")
	}
}

// onJoin queues a joiner (a leader or candidate); a member asking again is
// brought up to date instead: it missed the NEWVIEW that added it. A new
// incarnation of a member is queued too: its old one has failed, and is
// removed first.
func (n *Node) onJoin(m *codec.Join) {
	j := m.Joiner
	if !n.inRange(j) || j == n.cfg.Self {
		n.stale(m, "joiner out of range")
		return
	}
	if n.view.Has(j) && !n.restarted(m) {
		if m := n.members[j]; m == nil || !m.decided {
			n.catchUp(j, 0) // even if it failed here: it runs, and may answer once in
		}
		return
	}
	n.send1(j, n.queuedMsg(j)) // it asks this leader alone from now on
	n.joinIncs[j] = m.Incarnation
	if slices.Contains(n.joins, j) {
		return
	}
	n.joins = append(n.joins, j)
	n.log.Info().Str("event", "join_queued").Uint32("peer", uint32(j)).Int("queued", len(n.joins)).Msg("join queued")
	n.advance()
}

// advance starts the next change if none is running: removals first, every
// failed member at once, then every member leaving, then every waiting
// joiner at once (a new incarnation of a member waits for its old one's
// removal). A leader whose view names another leader (it took over from a
// peer that is still a member, or a change named someone else) and has
// nothing else to change shows itself with a LEAD change: the printed leader
// is always the one that leads.
func (n *Node) advance() {
	if n.role != roleLeader || n.change != nil {
		return
	}
	var dels []codec.PeerID
	for _, p := range n.view.Members {
		if n.failed(p) {
			dels = append(dels, p)
		}
	}
	if len(dels) > 0 {
		n.propose(codec.OpDel, dels, nil)
		return
	}
	var leaves []codec.PeerID
	for _, p := range n.view.Members {
		if m := n.members[p]; m != nil && m.leaving {
			leaves = append(leaves, p)
		}
	}
	if len(leaves) > 0 {
		n.propose(codec.OpLeave, leaves, nil)
		return
	}
	var adds, wait []codec.PeerID
	for _, p := range n.joins {
		switch {
		case !n.view.Has(p):
			adds = append(adds, p)
		case (n.failed(p) || n.checking(p)) && n.view.Inc(p) != n.joinIncs[p]:
			wait = append(wait, p) // a new process: the old one is removed first
		}
	}
	n.joins = wait
	if len(adds) == 0 {
		if n.view.Leader != n.cfg.Self {
			n.propose(codec.OpLead, []codec.PeerID{n.cfg.Self}, nil)
		}
		return
	}
	adds = codec.SortedIDs(adds)
	incs := make([]uint64, len(adds))
	for i, p := range adds {
		incs[i] = n.joinIncs[p]
		delete(n.joinIncs, p)
	}
	n.propose(codec.OpAdd, adds, incs)
}

// propose runs a change of this leader's own (incs: an ADD's incarnations).
func (n *Node) propose(op codec.Op, peers []codec.PeerID, incs []uint64) {
	n.run(&proposal{req: n.newRequest(), ballot: n.ballot, view: n.view.ID, op: op, peers: peers, incs: incs, leader: n.cfg.Self})
}

// run starts proposal p (its request id, ballot, view and value set).
func (n *Node) run(p *proposal) {
	n.change = &change{p: p, blocked: true}
	n.unblock()
}

// unblock sends the blocked change's REQ if its voters (every other member
// of the view that answers, the peers it removes included) and this leader
// hold a quorum of the view; with no voters it commits at once.
func (n *Node) unblock() {
	c := n.change
	var voters []codec.PeerID
	for _, q := range n.view.Members {
		if q != n.cfg.Self && !n.down(q) {
			voters = append(voters, q)
		}
	}
	if !n.hasQuorum(func(q codec.PeerID) bool { return q == n.cfg.Self || slices.Contains(voters, q) }) {
		n.log.Warn().Str("event", "no_quorum").Stringer("op", c.p.op).Interface("peers", c.p.peers).
			Interface("voters", voters).Uint64("view_id", uint64(n.view.ID)).Msg("too few members left to change the view: waiting")
		return
	}
	c.p.voters, c.blocked = voters, false
	c.waiting, c.sentAt = set{}, n.tick
	for _, q := range voters {
		c.waiting[q] = true
	}
	n.accepted = c.p
	n.log.Info().Str("event", "change_started").Stringer("request_id", c.p.req).Stringer("op", c.p.op).
		Interface("peers", c.p.peers).Uint64("view_id", uint64(n.view.ID)).Stringer("ballot", n.ballot).
		Bool("forced", c.p.forced).Msg("view change started")
	if len(voters) == 0 {
		n.commit() // nobody else to ask: the leader alone, or the last delete
		return
	}
	n.send(voters, n.reqMsg(c.p))
}

func (n *Node) reqMsg(p *proposal) *codec.Req { return p.reqMsg(n.cfg.Self) }

// onOK counts the voters' OKs and commits when every one has answered.
func (n *Node) onOK(m *codec.OK) {
	c := n.change
	if c == nil || c.blocked || m.RequestID != c.p.req || m.ViewID != n.view.ID || m.Epoch != n.ballot.Epoch {
		n.stale(m, "no such request")
		return
	}
	if !c.waiting[m.From] {
		n.stale(m, "duplicate")
		return
	}
	delete(c.waiting, m.From)
	if len(c.waiting) == 0 || n.broken.commitEarly {
		n.commit()
	}
}

// commit: every voter accepted the change; install and announce the new view.
func (n *Node) commit() {
	c := n.change
	n.change = nil
	v := c.p.next(n.view)
	to := set{}
	for _, p := range v.Members {
		to[p] = p != n.cfg.Self
	}
	if c.p.op == codec.OpDel || c.p.op == codec.OpLeave {
		for _, p := range c.p.peers {
			to[p] = true // best effort: tell a removed peer it was removed
		}
	}
	n.log.Info().Str("event", "change_committed").Stringer("request_id", c.p.req).Stringer("op", c.p.op).
		Interface("peers", c.p.peers).Uint64("view_id", uint64(v.ID)).Msg("view change committed")
	n.send(to.sorted(), n.viewMsg(v))
	n.install(v)
	n.advance()
}

// testCase4 is the -t action (the TestCase4 input): a DEL of the highest id
// whose REQ reaches every member except the next leader, then a crash once
// those REQs have left.
func (n *Node) testCase4() {
	members := n.view.Members
	target := members[len(members)-1]
	next := n.successor()
	if n.role != roleLeader || n.change != nil || len(members) != n.cfg.Peers || target == n.cfg.Self || next == 0 {
		n.log.Info().Str("event", "testcase4_not_now").Msg("-t needs the leader of every host, with no change running")
		return
	}
	p := &proposal{req: n.newRequest(), ballot: n.ballot, view: n.view.ID, op: codec.OpDel,
		peers: []codec.PeerID{target}, leader: n.cfg.Self}
	for _, q := range members {
		if q != n.cfg.Self && q != target {
			p.voters = append(p.voters, q) // the next leader is a voter: its OK was due
		}
	}
	n.accepted = p
	var to []codec.PeerID
	for _, q := range members {
		if q != n.cfg.Self && q != next {
			to = append(to, q)
		}
	}
	n.log.Info().Str("event", "testcase4").Uint32("target", uint32(target)).Uint32("skipped", uint32(next)).
		Interface("to", to).Msg("sending DEL to all but the next leader, then crashing")
	n.send(to, n.reqMsg(p))
	n.exit(0, "testcase 4", true, "crashing")
}

// onHeard: a heartbeat carried another view id or ballot. In the same view,
// a higher ballot means that another member follows someone else
// (heardBallot). A member of this view that is behind (it missed a NEWVIEW)
// is brought up to date by the leader, which reaches every member anyway;
// a peer outside this view is brought up to date, or told that it was
// removed, by whoever hears it (no leader of its own view may be left to
// do it). A peer ahead that leads, or is outside this view, is sent this
// node's view, so that it does the same for this node (that leader may not
// hear this node's heartbeats). A node with no leader to rely on does both
// for every peer.
//
// Views are compared only once this node's view is a retry period old:
// until then the NEWVIEW that the leader sent to every member may still be
// on its way. In a start-up storm, where views change every few round
// trips, every member would otherwise send its views to every other at
// each change, over a new connection each.
func (n *Node) onHeard(h Heard) {
	p := h.Peer
	switch {
	case n.role == roleJoining || !n.inRange(p):
		return
	case h.ViewID == n.view.ID:
		if !n.broken.deafToBallots {
			n.heardBallot(Ballot{h.Epoch, h.EpochLeader})
		}
		return
	case n.tick-n.installedAt < uint64(n.cfg.RetryTicks):
		return
	}
	// Whoever has no leader to rely on (a candidate, a member whose leader
	// is down or leaving) does it all itself.
	alone := n.role == roleCandidate || n.role == roleMember && !n.staying(n.ballot.Leader)
	stranger := !n.view.Has(p)
	switch {
	case h.ViewID < n.view.ID && (stranger || alone || n.role == roleLeader):
		n.catchUp(p, h.ViewID)
	case h.ViewID > n.view.ID && (stranger || alone || h.EpochLeader == p) && n.fresh(p):
		n.send1(p, n.viewMsg(n.view))
	}
}

// heardBallot: a member of this view follows ballot b, higher than this
// node's. Every member learns so within a heartbeat, however the messages
// that carried b were lost; otherwise a member could keep following a peer
// that no longer leads while the others wait for it to take over. It is a
// third party's word: a member whose leader is up checks that leader first
// (its answer carries the ballot it follows), as for a NEWLEADER; one whose
// leader is down, and a candidate, follow b; a leader, alive, runs a ballot
// above it, as when a candidate asks it. When b's leader is no longer a
// member, b leads nothing, but the members that still follow it refuse
// lower ballots: a leader or candidate runs a ballot above it, and they
// follow that one.
func (n *Node) heardBallot(b Ballot) {
	if !n.ballot.Less(b) || n.leaving {
		return
	}
	switch leader := n.ballot.Leader; {
	case n.role == roleLeader:
		n.outbid(b, b.Leader)
	case !n.view.Has(b.Leader):
		if n.role == roleCandidate {
			n.outbid(b, b.Leader)
		}
	case n.role == roleMember && n.staying(leader):
		n.onSuspect(leader) // nothing if a check is already in progress
	default:
		n.follow(b, false)
	}
}
