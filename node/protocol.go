package node

import (
	"slices"

	"peer/codec"
)

// ---- effects ----

func (n *Node) send(to []codec.PeerID, m codec.Message) {
	if len(to) == 0 {
		return
	}
	n.out.Sends = append(n.out.Sends, Send{To: to, Msg: m})
	if e := n.log.Debug(); e.Enabled() {
		e.Str("event", "send").Stringer("type", m.Type()).Interface("to", to).Interface("msg", m).Msg("")
	}
}

func (n *Node) send1(to codec.PeerID, m codec.Message) { n.send([]codec.PeerID{to}, m) }

func (n *Node) print(line string) { n.out.Lines = append(n.out.Lines, line) }

func (n *Node) exit(code int, reason string, flush bool, msg string) {
	line := ""
	if msg != "" {
		line = messageLine(n.cfg.Self, n.view.ID, n.view.Leader, msg)
	}
	n.out.Exit = &Exit{Code: code, Reason: reason, Flush: flush, Line: line}
	n.role = roleGone
	n.log.Info().Str("event", "exit").Str("reason", reason).Uint64("view_id", uint64(n.view.ID)).Msg("exiting")
}

// install makes v the current view. It prints it unless it does not contain
// this peer, in which case the peer has been removed.
func (n *Node) install(v View) {
	if v.Has(n.cfg.Self) {
		// Note when each member entered this peer's view (NewMemberGrace).
		for _, p := range v.Members {
			if n.role == roleJoining || !n.view.Has(p) {
				if slices.Contains(n.stepMembers, p) && p != n.cfg.Self {
					// It left and came back within this step: the detector
					// would not notice and would keep its old report.
					n.unwatch = append(n.unwatch, p)
				}
				n.since[p] = n.tick
				delete(n.knownAt, p)
				delete(n.unaware, p)
				n.addedIn[p] = v.ID
				delete(n.regraced, p)
			}
		}
		for p := range n.since {
			if !v.Has(p) {
				delete(n.since, p)
				delete(n.knownAt, p)
				delete(n.unaware, p)
				delete(n.addedIn, p)
				delete(n.regraced, p)
			}
		}
	}
	n.view = v
	if n.pending != nil && n.pending.view < v.ID {
		n.pending = nil
	}
	for p := range n.failed {
		if !v.Has(p) {
			delete(n.failed, p)
		}
	}
	if !v.Has(n.cfg.Self) {
		n.removed()
		return
	}
	if n.role == roleJoining {
		n.role = roleMember
	}
	n.out.Views = append(n.out.Views, v)
	n.print(v.Line(n.cfg.Self))
	n.log.Info().Str("event", "view_installed").Uint64("view_id", uint64(v.ID)).
		Uint32("leader", uint32(v.Leader)).Interface("members", v.Members).Msg("view installed")
}

func (n *Node) removed() {
	n.log.Info().Str("event", "removed").Uint64("view_id", uint64(n.view.ID)).
		Uint32("leader", uint32(n.view.Leader)).Interface("members", n.view.Members).
		Msg("removed from the group")
	n.op, n.rec, n.pending, n.joins = nil, nil, nil, nil
	n.failed = set{}
	if !n.cfg.Rejoin {
		n.exit(0, "removed", false, "")
		return
	}
	n.role = roleJoining
	n.sendJoin(n.view.Leader)
}

// report prints that p is unreachable, once per failure, and marks it failed.
func (n *Node) report(p codec.PeerID) {
	if p == n.cfg.Self || !n.view.Has(p) || (n.failed[p] && !n.cfg.Faults.ForgetReported) {
		return
	}
	n.failed[p] = true
	what := "peer " + itoa(p) + " unreachable"
	if p == n.view.Leader {
		what = "peer " + itoa(p) + " (leader) unreachable"
	}
	n.print(messageLine(n.cfg.Self, n.view.ID, n.view.Leader, what))
	n.log.Info().Str("event", "peer_unreachable").Uint32("peer", uint32(p)).
		Bool("was_leader", p == n.view.Leader).Uint64("view_id", uint64(n.view.ID)).Msg("peer unreachable")
}

// mayNotKnow reports whether the first silence of member p may only mean
// that p has not learned that this peer is in its view (Config.NewMemberGrace):
// p entered this peer's view less than NewMemberGrace ticks ago, this is its
// first silence, and p did not show, a retry period before the detector's
// deadline, that its view has this peer (by a NEWVIEW, REQ, NEWLEADER, OK or
// pending reply; a peer that knows sends heartbeats from then on).
func (n *Node) mayNotKnow(p codec.PeerID) bool {
	g := n.cfg.NewMemberGrace
	if g <= 0 || n.regraced[p] || n.failed[p] || n.tick-n.since[p] > uint64(g) {
		return false
	}
	at, known := n.knownAt[p]
	return !known || at+uint64(n.cfg.RetryTicks) > n.since[p]+uint64(n.cfg.ReconcileTicks)
}

// isUnaware: member p, expected to take over, asked to join within the last
// two retry periods (a joiner retries every RetryTicks).
func (n *Node) isUnaware(p codec.PeerID) bool {
	at, ok := n.unaware[p]
	return ok && n.tick-at <= 2*uint64(n.cfg.RetryTicks)
}

// knows notes that member p showed that its view has this peer.
func (n *Node) knows(p codec.PeerID) {
	delete(n.unaware, p)
	if _, ok := n.knownAt[p]; !ok && n.view.Has(p) && n.role != roleJoining {
		n.knownAt[p] = n.tick
	}
}

// revive: p, which this peer reported unreachable, leads it now, so it was
// a false suspicion (its detector watched p before p knew of this peer). The
// report is forgotten (a later failure of p is a new one) and the detector
// watches p afresh: the tracker reports a member only once.
func (n *Node) revive(p codec.PeerID) {
	if !n.failed[p] || p == n.cfg.Self {
		return
	}
	delete(n.failed, p)
	n.unwatch = append(n.unwatch, p)
	n.log.Info().Str("event", "peer_revived").Uint32("peer", uint32(p)).Msg("peer reported unreachable is alive")
}

func (n *Node) newRequest() codec.RequestID {
	n.seq++
	return codec.NewRequestID(n.cfg.Self, n.seq)
}

func (n *Node) inRange(p codec.PeerID) bool { return p >= 1 && int(p) <= n.cfg.Peers }

// others is every member of the view except this peer and the failed ones.
func (n *Node) others() set {
	s := set{}
	for _, p := range n.view.Members {
		if p != n.cfg.Self && !n.failed[p] {
			s[p] = true
		}
	}
	return s
}

// ---- inputs ----

func (n *Node) start() {
	n.log.Info().Str("event", "start").Bool("starts_group", n.cfg.Leader).Int("peers", n.cfg.Peers).Msg("starting")
	if n.cfg.Leader {
		n.role = roleLeader
		n.leader = n.cfg.Self
		n.install(View{ID: 1, Leader: n.cfg.Self, Members: []codec.PeerID{n.cfg.Self}})
		n.advance()
		return
	}
	n.role = roleJoining
	first := codec.PeerID(1)
	if first == n.cfg.Self {
		first = 2
	}
	n.sendJoin(first)
}

func (n *Node) sendJoin(to codec.PeerID) {
	n.joinSentAt = n.tick
	if to == 0 || to == n.cfg.Self {
		n.sendJoinAll()
		return
	}
	n.send1(to, &codec.Join{From: n.cfg.Self, Joiner: n.cfg.Self})
}

// sendJoinAll asks every host: whichever is the leader adds us, members pass it on.
func (n *Node) sendJoinAll() {
	to := make([]codec.PeerID, 0, n.cfg.Peers)
	for p := codec.PeerID(1); int(p) <= n.cfg.Peers; p++ {
		if p != n.cfg.Self {
			to = append(to, p)
		}
	}
	n.send(to, &codec.Join{From: n.cfg.Self, Joiner: n.cfg.Self})
}

func (n *Node) receive(m codec.Message) {
	from := m.Sender()
	if !n.inRange(from) || from == n.cfg.Self {
		n.log.Debug().Str("event", "drop").Stringer("type", m.Type()).Uint32("from", uint32(from)).Msg("sender not in hostsfile")
		return
	}
	if e := n.log.Debug(); e.Enabled() {
		e.Str("event", "recv").Stringer("type", m.Type()).Uint32("from", uint32(from)).Interface("msg", m).Msg("")
	}
	switch m := m.(type) {
	case *codec.Join:
		n.onJoin(m)
	case *codec.Req:
		n.onReq(m)
		if m.ViewID == n.view.ID {
			n.knows(from)
		}
	case *codec.OK:
		n.onOK(m)
		if m.ViewID == n.view.ID {
			n.knows(from)
		}
	case *codec.NewView:
		n.onNewView(m)
		if m.ViewID == n.view.ID && slices.Contains(m.Members, n.cfg.Self) {
			n.knows(from)
		}
	case *codec.NewLeader:
		n.onNewLeader(m)
		n.knows(from)
	case *codec.PendingReply:
		n.onPendingReply(m)
		if slices.Contains(m.Members, n.cfg.Self) {
			n.knows(from)
		}
	}
}

func (n *Node) stale(m codec.Message, why string) {
	n.log.Debug().Str("event", "stale").Stringer("type", m.Type()).Uint32("from", uint32(m.Sender())).
		Uint64("view_id", uint64(n.view.ID)).Str("why", why).Msg("ignored")
}

func (n *Node) onJoin(m *codec.Join) {
	j := m.Joiner
	if !n.inRange(j) || j == n.cfg.Self {
		n.stale(m, "joiner out of range")
		return
	}
	switch n.role {
	case roleJoining:
		n.stale(m, "not in a view")
	case roleMember:
		if n.presumed && n.leader == j {
			// The peer expected to take over asks to join: it does not know
			// it is in the view (the old leader died before its NEWVIEW
			// left; a retry sent before it got the view arrives long before
			// the old leader's failure is detected). Pass it over.
			n.unaware[j] = n.tick
			n.elect(n.view.Leader)
			if n.role != roleMember {
				return
			}
		}
		n.send1(n.leader, &codec.Join{From: n.cfg.Self, Joiner: j})
	case roleCandidate, roleLeader:
		if n.view.Has(j) {
			if n.role == roleLeader && !n.failed[j] {
				// A late retry, or the peer restarted: give it the view it is in.
				n.send1(j, n.viewMsg())
			}
			return
		}
		for _, q := range n.joins {
			if q == j {
				return
			}
		}
		n.joins = append(n.joins, j)
		n.log.Info().Str("event", "join_queued").Uint32("peer", uint32(j)).Int("queued", len(n.joins)).Msg("join queued")
		n.advance()
	}
}

func (n *Node) viewMsg() *codec.NewView {
	return &codec.NewView{From: n.cfg.Self, ViewID: n.view.ID, Leader: n.view.Leader, Members: n.view.Members}
}

// onReq: a member saves the operation and answers OK. Only REQs from the
// leader it follows, for its own view, count.
func (n *Node) onReq(m *codec.Req) {
	if n.role != roleMember || m.From != n.leader {
		n.stale(m, "not from my leader")
		return
	}
	if m.ViewID != n.view.ID {
		n.stale(m, "other view")
		return
	}
	if n.pending == nil || n.pending.req != m.RequestID {
		n.pending = &pendingOp{req: m.RequestID, view: m.ViewID, op: m.Op, peers: m.Peers}
		n.log.Info().Str("event", "pending_saved").Stringer("request_id", m.RequestID).Uint64("view_id", uint64(m.ViewID)).
			Stringer("op", m.Op).Interface("peers", m.Peers).Msg("operation pending")
		if m.Op == codec.OpDel {
			for _, p := range m.Peers {
				n.report(p)
			}
		}
		if n.cfg.Faults.ApplyOnReq {
			n.install(View{ID: m.ViewID + 1, Leader: m.From, Members: apply(n.view.Members, m.Op, m.Peers)})
		}
	}
	n.send1(m.From, &codec.OK{From: n.cfg.Self, RequestID: m.RequestID, ViewID: m.ViewID})
}

// onOK: the leader counts matching OKs and commits when every alive member answered.
func (n *Node) onOK(m *codec.OK) {
	if n.role != roleLeader || n.op == nil || m.RequestID != n.op.req || m.ViewID != n.view.ID {
		n.stale(m, "no such request")
		return
	}
	if !n.op.waiting[m.From] {
		n.stale(m, "duplicate")
		return
	}
	delete(n.op.waiting, m.From)
	if len(n.op.waiting) == 0 || n.cfg.Faults.CommitEarly {
		n.commit()
	}
}

// onNewView installs a newer view from the leader this peer follows. A newer
// view without this peer, from anyone, tells it that it was removed.
func (n *Node) onNewView(m *codec.NewView) {
	if m.ViewID <= n.view.ID {
		n.stale(m, "old view")
		return
	}
	v := View{ID: m.ViewID, Leader: m.Leader, Members: m.Members}
	switch {
	case !v.Has(n.cfg.Self):
		if n.role == roleJoining {
			n.stale(m, "joining")
			return
		}
		if !n.mayRemove(m.From) {
			n.stale(m, "removal by a peer that cannot lead here")
			return
		}
		n.install(v) // removed
		return
	case n.role == roleJoining:
	case m.From != n.leader: // a leader or candidate follows nobody
		n.stale(m, "not from my leader")
		return
	}
	n.leader, n.presumed = m.From, false
	n.revive(m.From)
	n.install(v)
}

// mayRemove reports whether a view without this peer, sent by x, is taken.
// The peer this node follows may always remove it. Another peer can lead a
// later view only by taking over as the lowest member left, so every member
// of this node's view below x (other than this node) must have failed here
// too. Otherwise x is a peer that believed the others dead while they were
// not (it was starved of CPU, or cut off): its view must not make a healthy
// member, or the real leader, leave. When this node does see those members
// fail, the leader's next nudge is taken.
func (n *Node) mayRemove(x codec.PeerID) bool {
	if x == n.leader && x != n.cfg.Self {
		return true
	}
	for _, p := range n.view.Members {
		if p < x && p != n.cfg.Self && !n.failed[p] {
			return false
		}
	}
	return true
}

// onNewLeader: a peer takes over from the leader that failed. A member follows
// it if it replaces the leader of the member's view and no lower, alive peer
// already took over; a competing candidate yields to a lower id.
func (n *Node) onNewLeader(m *codec.NewLeader) {
	x := m.From
	if n.role == roleJoining {
		// A candidate asks the joiners of a pending ADD whether they got its
		// NEWVIEW; this one did not: it is in no view and has nothing pending.
		n.send1(x, &codec.PendingReply{From: n.cfg.Self, RequestID: m.RequestID, Op: codec.OpNothing})
		return
	}
	if n.role == roleLeader && n.view.Leader == n.cfg.Self {
		n.stale(m, "not replacing anyone here")
		return
	}
	// The candidate may be one view behind (the old leader died while sending NEWVIEW).
	// The peer it already follows is accepted whatever it replaces: members
	// whose views differ may name different failed leaders.
	if m.ViewID+1 < n.view.ID || x == n.view.Leader ||
		m.Replaces != n.view.Leader && m.Replaces != n.leader && !n.failed[m.Replaces] && x != n.leader {
		n.stale(m, "replaces another leader")
		return
	}
	switch n.role {
	case roleCandidate, roleLeader:
		if x > n.cfg.Self {
			n.stale(m, "lower candidate here")
			return
		}
		n.log.Info().Str("event", "yield").Uint32("new_leader", uint32(x)).Msg("lower peer takes over")
		// Its queued joins go too: the joiners ask again, and the new leader
		// must not find a stale one (a peer since removed) here later.
		n.rec, n.op, n.joins = nil, nil, nil
		n.role = roleMember
	case roleMember:
		if n.leader == n.view.Leader && x > n.cfg.Self {
			// x saw the leader fail before this peer did, but this peer
			// comes first: it takes over itself if it is the lowest left
			// (x yields to it), or waits for a lower one. Following x would
			// strand the members that already expect this peer to take over.
			n.report(n.view.Leader)
			n.leaderFailed()
			if n.role != roleMember {
				return
			}
		}
		// The lower peer it expects to take over, if it has not heard from
		// it yet, may have been added by this very view, whose NEWVIEW the
		// old leader may not have sent it: when the candidate is a view
		// behind, it may be the only one that acts. (If the lower peer did
		// get the view, it takes over too, and the candidate yields to it.)
		if x != n.leader && x > n.leader && n.leader != n.view.Leader && !n.failed[n.leader] &&
			!(n.presumed && m.ViewID+1 == n.view.ID && n.addedIn[n.leader] == n.view.ID) {
			n.stale(m, "following a lower new leader")
			return
		}
	}
	if n.leader != x {
		n.log.Info().Str("event", "new_leader").Uint32("leader", uint32(x)).Uint64("view_id", uint64(n.view.ID)).Msg("following new leader")
	}
	n.leader, n.presumed = x, false
	n.revive(x)
	n.report(n.view.Leader)
	r := &codec.PendingReply{
		From: n.cfg.Self, RequestID: m.RequestID,
		ViewID: n.view.ID, Leader: n.view.Leader, Members: n.view.Members, Op: codec.OpNothing,
	}
	if p := n.pending; p != nil && p.view == n.view.ID {
		r.Op, r.PendingRequest, r.PendingView, r.Peers = p.op, p.req, p.view, p.peers
	}
	n.send1(x, r)
}

func (n *Node) suspect(p codec.PeerID) {
	if n.role == roleJoining || p == n.cfg.Self || !n.view.Has(p) {
		return
	}
	if n.mayNotKnow(p) {
		// It may not know the view yet: watch it afresh, once (Config.NewMemberGrace).
		n.regraced[p] = true
		n.unwatch = append(n.unwatch, p)
		n.log.Info().Str("event", "suspicion_deferred").Uint32("peer", uint32(p)).
			Uint64("watched_ticks", n.tick-n.since[p]).Msg("new member silent: one more grace period")
		return
	}
	n.report(p)
	switch n.role {
	case roleLeader:
		if n.op != nil && n.op.waiting[p] {
			delete(n.op.waiting, p)
			if len(n.op.waiting) == 0 {
				n.commit()
				return
			}
		}
		n.advance()
	case roleCandidate:
		if n.rec.waiting[p] {
			delete(n.rec.waiting, p)
			n.maybeFinishReconcile()
		}
	case roleMember:
		if p == n.leader {
			n.leaderFailed()
		}
	}
}

// leaderFailed: the lowest id of the view that is not known to have failed
// takes over; everyone else follows it.
// A member that is still asking to join does not know it is in the view
// (the old leader died before its NEWVIEW left): it is passed over too.
func (n *Node) leaderFailed() { n.elect(n.leader) }

func (n *Node) elect(replaces codec.PeerID) {
	next := codec.PeerID(0)
	for _, q := range n.view.Members {
		if !n.failed[q] && !n.isUnaware(q) {
			next = q
			break
		}
	}
	if next != n.cfg.Self {
		n.leader, n.presumed = next, true
		return
	}
	n.becomeCandidate(replaces)
}

func (n *Node) becomeCandidate(replaces codec.PeerID) {
	n.role = roleCandidate
	n.leader = n.cfg.Self
	n.rec = &reconcile{
		req:      n.newRequest(),
		replaces: replaces,
		waiting:  n.others(),
		extra:    map[codec.PeerID]uint64{},
		replies:  map[codec.PeerID]*codec.PendingReply{},
		sentAt:   n.tick,
	}
	delete(n.rec.waiting, replaces)
	// The joiners of its own pending ADD may hold the view that commits it
	// (the NEWVIEW may have reached only them): ask them too, for a while.
	if p := n.pending; p != nil && p.view == n.view.ID && p.op == codec.OpAdd {
		for _, j := range p.peers {
			if j != n.cfg.Self && j != replaces && !n.view.Has(j) && n.inRange(j) {
				n.rec.waiting[j] = true
				n.rec.extra[j] = n.tick + uint64(n.cfg.ReconcileTicks)
			}
		}
	}
	n.log.Info().Str("event", "reconcile_started").Stringer("request_id", n.rec.req).Uint32("replaces", uint32(replaces)).
		Interface("asking", n.rec.waiting.sorted()).Msg("taking over as leader")
	n.send(n.rec.waiting.sorted(), n.newLeaderMsg())
	n.maybeFinishReconcile()
}

func (n *Node) newLeaderMsg() *codec.NewLeader {
	return &codec.NewLeader{From: n.cfg.Self, RequestID: n.rec.req, ViewID: n.view.ID, Op: codec.OpPending, Replaces: n.rec.replaces}
}

func (n *Node) onPendingReply(m *codec.PendingReply) {
	if n.role != roleCandidate || m.RequestID != n.rec.req || !n.rec.waiting[m.From] {
		n.stale(m, "no such round")
		return
	}
	delete(n.rec.waiting, m.From)
	delete(n.rec.extra, m.From)
	n.rec.replies[m.From] = m
	// Peers this candidate does not know of yet: members of a newer view, or
	// joiners of a pending ADD. Ask them too, for a while.
	var learn []codec.PeerID
	newer := m.ViewID > n.view.ID && !n.cfg.Faults.IgnoreNewer
	if newer {
		learn = append(learn, m.Members...)
	}
	if m.Op == codec.OpAdd {
		learn = append(learn, m.Peers...)
	}
	var ask []codec.PeerID
	for _, p := range learn {
		if p == n.cfg.Self || p == n.rec.replaces || n.view.Has(p) || n.rec.replies[p] != nil || n.rec.waiting[p] || !n.inRange(p) {
			continue
		}
		n.rec.waiting[p] = true
		n.rec.extra[p] = n.tick + uint64(n.cfg.ReconcileTicks)
		ask = append(ask, p)
	}
	if newer {
		// Adopt the newer view now rather than at the end of the round: its
		// members watch this peer already and get heartbeats only once it
		// is in this peer's view. A peer the newer view removed will not
		// answer: stop waiting for it.
		n.install(View{ID: m.ViewID, Leader: m.Leader, Members: m.Members})
		if n.role != roleCandidate {
			return // removed
		}
		for p := range n.rec.waiting {
			if _, extra := n.rec.extra[p]; !extra && !n.view.Has(p) {
				delete(n.rec.waiting, p)
			}
		}
	}
	n.send(ask, n.newLeaderMsg())
	n.maybeFinishReconcile()
}

func (n *Node) maybeFinishReconcile() {
	if n.role != roleCandidate || len(n.rec.waiting) > 0 {
		return
	}
	rec := n.rec
	// 1. The most advanced view wins: the old leader made at most one view
	// that not everyone received.
	best := n.view
	if !n.cfg.Faults.IgnoreNewer {
		for _, r := range rec.replies {
			if r.ViewID > best.ID {
				best = View{ID: r.ViewID, Leader: r.Leader, Members: r.Members}
			}
		}
	}
	if best.ID > n.view.ID {
		n.install(best)
		if n.role == roleGone {
			return
		}
	}
	// 2. Bring every peer that is behind up to it.
	var behind []codec.PeerID
	for p, r := range rec.replies {
		if r.ViewID < best.ID {
			behind = append(behind, p)
		}
	}
	for _, p := range best.Members {
		if p != n.cfg.Self && rec.replies[p] == nil && !n.failed[p] {
			behind = append(behind, p)
		}
	}
	n.send(codec.SortedIDs(behind), n.viewMsg())
	// 3. The leader that proposed the pending operation of that view may have
	// committed it and printed the new view just before it died, though no
	// NEWVIEW left. When no member's reply rules that out, make exactly that
	// view, under that leader, so that one view id never names two views.
	if !n.cfg.Faults.SkipPending {
		if p := n.committable(best, rec); p != nil {
			v := View{ID: best.ID + 1, Leader: p.req.Leader(), Members: apply(best.Members, p.op, p.peers)}
			to := set{}
			for _, q := range v.Members {
				to[q] = q != n.cfg.Self && q != v.Leader
			}
			if p.op == codec.OpDel {
				for _, q := range p.peers {
					to[q] = true // best effort, as in commit
				}
			}
			n.log.Info().Str("event", "pending_completed").Stringer("request_id", p.req).Stringer("op", p.op).
				Interface("peers", p.peers).Uint64("view_id", uint64(v.ID)).Msg("completing the old leader's change")
			n.send(to.sorted(), &codec.NewView{From: n.cfg.Self, ViewID: v.ID, Leader: v.Leader, Members: v.Members})
			n.install(v)
			if n.role == roleGone {
				return
			}
			best = v
		}
	}
	// 4. Restart the pending operation of that view, and remove the old leader.
	if !n.cfg.Faults.SkipPending {
		// Every member that saved it reports the same REQ: restart it once.
		ops := map[codec.RequestID]*pendingOp{}
		if p := n.pending; p != nil && p.view == best.ID {
			ops[p.req] = p
		}
		for _, r := range rec.replies {
			if r.Op != codec.OpNothing && r.PendingView == best.ID {
				ops[r.PendingRequest] = &pendingOp{req: r.PendingRequest, view: r.PendingView, op: r.Op, peers: r.Peers}
			}
		}
		for _, p := range ops {
			n.restart(p)
		}
	}
	n.report(rec.replaces)
	n.log.Info().Str("event", "reconcile_done").Uint64("view_id", uint64(n.view.ID)).Int("replies", len(rec.replies)).
		Interface("behind", codec.SortedIDs(behind)).Msg("now leading")
	n.rec = nil
	n.role = roleLeader
	n.leader = n.cfg.Self
	n.advance()
}

// committable returns the pending operation of view best that its leader may
// have committed: some member saved it, and every member of best that
// answered (or this peer) saved that same operation, except the leader that
// proposed it and the peers it deletes. A member that answered without it
// never sent the OK the leader needed, so the leader could not have committed.
func (n *Node) committable(best View, rec *reconcile) *pendingOp {
	var op *pendingOp
	same := func(p *pendingOp) bool {
		if op == nil {
			op = p
		}
		return p.req == op.req
	}
	if p := n.pending; p != nil && p.view == best.ID && !same(p) {
		return nil
	}
	for _, q := range best.Members {
		if r := rec.replies[q]; r != nil && r.Op != codec.OpNothing && r.ViewID == best.ID && r.PendingView == best.ID &&
			!same(&pendingOp{req: r.PendingRequest, view: r.PendingView, op: r.Op, peers: r.Peers}) {
			return nil
		}
	}
	if op == nil || op.req.Leader() == n.cfg.Self || !best.Has(op.req.Leader()) {
		return nil
	}
	dropped := View{Members: op.peers}
	for _, q := range best.Members {
		if q == op.req.Leader() || op.op == codec.OpDel && dropped.Has(q) {
			continue
		}
		if q == n.cfg.Self {
			if p := n.pending; p == nil || p.view != best.ID || p.req != op.req {
				return nil
			}
			continue
		}
		if r := rec.replies[q]; r != nil && (r.ViewID != best.ID || r.Op == codec.OpNothing || r.PendingRequest != op.req) {
			return nil
		}
	}
	return op
}

// restart queues a pending operation found during reconciliation.
func (n *Node) restart(op *pendingOp) {
	n.log.Info().Str("event", "pending_restarted").Stringer("request_id", op.req).Stringer("op", op.op).
		Interface("peers", op.peers).Msg("restarting pending operation")
	for _, p := range op.peers {
		switch op.op {
		case codec.OpDel:
			n.report(p)
		case codec.OpAdd:
			if !n.view.Has(p) && p != n.cfg.Self {
				n.queueJoin(p)
			}
		}
	}
}

func (n *Node) queueJoin(p codec.PeerID) {
	for _, q := range n.joins {
		if q == p {
			return
		}
	}
	n.joins = append(n.joins, p)
}

// advance starts the next view change if none is running: removals first, all
// failed members at once, then every waiting joiner at once.
func (n *Node) advance() {
	if n.role != roleLeader || n.op != nil {
		return
	}
	var dels []codec.PeerID
	for _, p := range n.view.Members {
		if n.failed[p] && p != n.cfg.Self {
			dels = append(dels, p)
		}
	}
	if len(dels) > 0 {
		n.startChange(codec.OpDel, dels)
		return
	}
	var adds []codec.PeerID
	for _, p := range n.joins {
		if !n.view.Has(p) {
			adds = append(adds, p)
		}
	}
	n.joins = n.joins[:0]
	if len(adds) > 0 {
		n.startChange(codec.OpAdd, codec.SortedIDs(adds))
		return
	}
	if n.cfg.TestCase4 && !n.t4 && len(n.view.Members) == n.cfg.Peers {
		n.testCase4()
	}
}

func (n *Node) startChange(op codec.Op, peers []codec.PeerID) {
	c := &change{req: n.newRequest(), op: op, peers: peers, waiting: n.others(), sentAt: n.tick}
	for _, p := range peers {
		delete(c.waiting, p)
	}
	n.op = c
	n.log.Info().Str("event", "change_started").Stringer("request_id", c.req).Stringer("op", op).
		Interface("peers", peers).Uint64("view_id", uint64(n.view.ID)).Msg("view change started")
	if len(c.waiting) == 0 {
		n.commit() // nobody else to ask: the leader alone, or the last delete
		return
	}
	n.send(c.waiting.sorted(), n.reqMsg())
}

func (n *Node) reqMsg() *codec.Req {
	return &codec.Req{From: n.cfg.Self, RequestID: n.op.req, ViewID: n.view.ID, Op: n.op.op, Peers: n.op.peers}
}

// commit: every alive member saved the operation; install and announce the new view.
func (n *Node) commit() {
	c := n.op
	n.op = nil
	v := View{ID: n.view.ID + 1, Leader: n.cfg.Self, Members: apply(n.view.Members, c.op, c.peers)}
	to := set{}
	for _, p := range v.Members {
		to[p] = p != n.cfg.Self
	}
	if c.op == codec.OpDel {
		for _, p := range c.peers {
			to[p] = true // best effort: tell a removed peer it was removed
		}
	}
	n.log.Info().Str("event", "change_committed").Stringer("request_id", c.req).Stringer("op", c.op).
		Interface("peers", c.peers).Uint64("view_id", uint64(v.ID)).Msg("view change committed")
	n.send(to.sorted(), &codec.NewView{From: n.cfg.Self, ViewID: v.ID, Leader: v.Leader, Members: v.Members})
	n.install(v)
	n.advance()
}

// testCase4 is the -t action: a DEL of the highest id whose REQ reaches every
// member except the next leader, then a crash once those REQs have left.
func (n *Node) testCase4() {
	n.t4 = true
	members := n.view.Members
	target := members[len(members)-1]
	next := codec.PeerID(0)
	for _, p := range members {
		if p != n.cfg.Self {
			next = p
			break
		}
	}
	if target == n.cfg.Self || next == 0 {
		return
	}
	req := &codec.Req{From: n.cfg.Self, RequestID: n.newRequest(), ViewID: n.view.ID, Op: codec.OpDel, Peers: []codec.PeerID{target}}
	var to []codec.PeerID
	for _, p := range members {
		if p != n.cfg.Self && p != next {
			to = append(to, p)
		}
	}
	n.log.Info().Str("event", "testcase4").Uint32("target", uint32(target)).Uint32("skipped", uint32(next)).
		Interface("to", to).Msg("sending DEL to all but the next leader, then crashing")
	n.send(to, req)
	n.exit(0, "testcase 4", true, "crashing")
}

// heard: a heartbeat carried another view id. The leader re-sends its view to a
// member that is behind, and to a removed peer that still thinks it is in.
func (n *Node) heard(p codec.PeerID, id codec.ViewID) {
	if n.role != roleLeader || id >= n.view.ID || !n.inRange(p) {
		return
	}
	if last, ok := n.nudged[p]; ok && n.tick-last < uint64(n.cfg.RetryTicks) {
		return
	}
	n.nudged[p] = n.tick
	n.log.Debug().Str("event", "nudge").Uint32("peer", uint32(p)).Uint64("their_view", uint64(id)).Msg("re-sending view")
	n.send1(p, n.viewMsg())
}

func (n *Node) onTick(count uint64) {
	n.tick += count
	due := func(at uint64) bool { return n.tick-at >= uint64(n.cfg.RetryTicks) }
	switch n.role {
	case roleJoining:
		if due(n.joinSentAt) {
			n.joinSentAt = n.tick
			n.sendJoinAll()
		}
	case roleLeader:
		if c := n.op; c != nil && due(c.sentAt) {
			c.sentAt = n.tick
			to := c.waiting.sorted()
			n.send(to, n.viewMsg()) // in case the last NEWVIEW was lost on a broken connection
			n.send(to, n.reqMsg())
		}
	case roleCandidate:
		for p, until := range n.rec.extra {
			if n.tick >= until {
				delete(n.rec.waiting, p)
				delete(n.rec.extra, p)
			}
		}
		if due(n.rec.sentAt) {
			n.rec.sentAt = n.tick
			n.send(n.rec.waiting.sorted(), n.newLeaderMsg())
		}
		n.maybeFinishReconcile()
	}
}

func itoa(p codec.PeerID) string { return codec.FormatIDs([]codec.PeerID{p}) }
