package node

import (
	"peer/codec"
)

// A detector timeout is a suspicion, not a failure. The node checks it over
// the reliable channel: a PROBE on the persistent TCP connection, which the
// suspect's own event loop answers. An answer, or heartbeats heard again,
// end the suspicion and the detector watches the member afresh. A refused
// connection fails the check at once (the process is gone); no answer within
// ProbeTicks fails it too (the process is stalled, or its host is gone).
// Only then does the node print "unreachable" and act: a leader removes the
// member, the lowest member left takes over from a failed leader.
//
// Ordinary messages do not end a suspicion: one that spent a while in the
// network proves nothing about now, while an answer to a probe sent after
// the suspicion began does.

// onSuspect starts checking member p.
func (n *Node) onSuspect(p codec.PeerID) {
	m := n.members[p]
	if m == nil || m.down || m.suspected {
		return
	}
	if n.broken.rawSuspicion {
		n.fail(p, false)
		return
	}
	m.suspected, m.since = true, n.tick
	m.nonce = n.probes + 1
	n.log.Info().Str("event", "check_started").Uint32("peer", uint32(p)).Uint64("view_id", uint64(n.view.ID)).
		Msg("checking a suspected peer: probing it")
	n.probe(p, m)
}

func (n *Node) probe(p codec.PeerID, m *member) {
	n.probes++
	m.probedAt = n.tick
	n.send1(p, &codec.Probe{From: n.cfg.Self, Nonce: n.probes})
}

// probeTick sends unanswered probes again, every tick, and fails the checks
// whose time is up. When the node itself could not run for a whole probe
// wait (count, the ticks handed over at once, is that long: the process was
// stopped or starved), a check proves nothing yet: it gets a fresh wait, as
// the detector gives its members a fresh timeout after a stall of its own. A
// check that began after a shorter stall, among the inputs that waited
// through it, has waited one tick, not the stall.
func (n *Node) probeTick(count uint64) {
	stalled := count >= uint64(n.cfg.ProbeTicks)
	for _, p := range n.view.Members { // in id order: the same schedule gives the same sends
		m := n.members[p]
		switch {
		case m == nil:
		case m.down:
			// A failed check is revocable too. While the member stays in
			// the view (no leader removed it: it may answer there), it is
			// probed again every probe wait, and an answer brings it back:
			// its heartbeats to this node alone may be lost for longer.
			if n.tick-m.probedAt >= uint64(n.cfg.ProbeTicks) {
				m.nonce = n.probes + 1
				n.probe(p, m)
			}
		case !m.suspected:
		case stalled:
			m.since = n.tick
			n.probe(p, m)
		case n.sinceStall(&m.since, count):
		case n.tick-m.since >= uint64(n.cfg.ProbeTicks):
			n.log.Info().Str("event", "probe_timeout").Uint32("peer", uint32(p)).Msg("probe not answered")
			n.fail(p, false)
		case n.tick > m.probedAt:
			// Every tick until it is answered: TCP loses frames only
			// when a connection breaks, and then every frame in flight,
			// the probe or its answer; a check must fail only when no
			// probe of its whole wait could get an answer back.
			n.probe(p, m)
		}
	}
}

// onProbeAck: an answer to a probe of this suspicion, or of the re-check of
// a member found down, ends it (revoke). The ballot it carries may show that
// the peer follows a newer leader than this node does: this node follows it
// too (a member checking its leader before answering a takeover learns that
// the leader itself yielded to it).
func (n *Node) onProbeAck(a *codec.ProbeAck) {
	if m := n.members[a.From]; m != nil && (m.suspected || m.down) && a.Nonce >= m.nonce {
		if inc := n.view.Inc(a.From); a.Incarnation != inc {
			// Another process of that peer answered: the member's own is
			// gone (it restarted), which is what the check asks.
			n.log.Info().Str("event", "probe_other_incarnation").Uint32("peer", uint32(a.From)).
				Uint64("incarnation", a.Incarnation).Uint64("view_incarnation", inc).Msg("a restarted process answered")
			n.fail(a.From, false)
			return
		}
		b := Ballot{a.Epoch, a.EpochLeader}
		switch {
		case a.EpochLeader == 0:
		case n.role == roleLeader:
			// The ballot the member follows, heard as from its heartbeat:
			// a higher one is outbid (heardBallot).
			n.revoke(a.From, "probe answered")
			n.heardBallot(b)
			return
		default:
			n.follow(b, a.EpochLeader == a.From)
		}
		n.revoke(a.From, "probe answered")
	}
}

// restarted: a JOIN from a member under another incarnation than the view's
// says that the member's process restarted, so that the one in the view is
// gone. It is a claim, like a detector timeout: the member is checked at
// once. The probe reaches whatever listens at its address; an answer from
// another incarnation (or none) fails the check, one from the view's ends
// it (the JOIN came from elsewhere). It reports whether the JOIN was such.
func (n *Node) restarted(m *codec.Join) bool {
	inc := n.view.Inc(m.Joiner)
	if inc == 0 || inc == m.Incarnation || m.Joiner == n.cfg.Self {
		return false
	}
	if !n.down(m.Joiner) && !n.checking(m.Joiner) {
		n.log.Info().Str("event", "restart_claimed").Uint32("peer", uint32(m.Joiner)).
			Uint64("incarnation", m.Incarnation).Uint64("view_incarnation", inc).Msg("a JOIN says a member's process restarted: checking it")
		n.onSuspect(m.Joiner)
	}
	return true
}

// onRefused: nothing listens at p's address any more. It fails a check in
// progress at once, and with FastFail it is a failure by itself.
func (n *Node) onRefused(p codec.PeerID) {
	if n.role == roleJoining && p == n.queued.leader {
		n.queued = queued{} // the leader it waited on is gone: ask every host
	}
	m := n.members[p]
	if m == nil || m.down || !m.suspected && !n.cfg.FastFail {
		return
	}
	n.log.Info().Str("event", "conn_refused").Uint32("peer", uint32(p)).Msg("connection refused")
	n.fail(p, false)
}

// revoke: p answered a probe, or its heartbeats came back. A suspicion ends;
// a failure found by this node's own check is undone too, unless a change
// already removes p or this node is taking over from it. The detector
// watches p afresh either way.
func (n *Node) revoke(p codec.PeerID, why string) {
	m := n.members[p]
	if m == nil || n.broken.neverRevoke {
		return
	}
	switch {
	case m.suspected:
		m.suspected = false
		n.log.Info().Str("event", "suspicion_ended").Uint32("peer", uint32(p)).Str("why", why).Msg("suspected peer is alive")
		n.answerTakeover()
	case m.down:
		m.down = false
		if !m.decided && !n.removing(p) {
			n.withdraw(m, p, why)
		}
		switch c := n.change; {
		case n.role == roleLeader && c != nil && c.blocked && c.p.forced:
			n.unblock() // its value is fixed; it may have a quorum now
		case n.role == roleLeader && c != nil && c.blocked:
			n.change = nil // never sent: plan again with p up
			n.advance()
		case n.role == roleCandidate:
			n.send1(p, n.newLeaderMsg()) // it answers: ask it too
		}
	default:
		return
	}
	n.out.Rewatch = append(n.out.Rewatch, p)
}

// removing reports whether a change this node runs already removes p, or it
// is taking over from p.
func (n *Node) removing(p codec.PeerID) bool {
	if n.round != nil && n.round.replaces == p {
		return true
	}
	if c := n.change; c != nil && c.p.op == codec.OpDel && !c.blocked {
		for _, q := range c.p.peers {
			if q == p {
				return true
			}
		}
	}
	return false
}

// fail marks member p failed and prints "unreachable" once. decided says a
// leader decided it (p may still be up, and vote); otherwise this node's
// check of p failed, and p is down. Then the role acts: a leader removes p
// (or, if p is down and a voter of the change in progress, runs a new
// ballot: the change cannot commit without p's OK), a candidate stops
// waiting for p, a member may have to take over (maybeTakeOver, after the
// step).
func (n *Node) fail(p codec.PeerID, decided bool) {
	m := n.members[p]
	if m == nil {
		return
	}
	wasDown, wasFailed := m.down, m.failed
	if !decided {
		m.suspected = false // the check is over; a leader's decision leaves a check running
	}
	m.decided = m.decided || decided
	m.down = m.down || !decided
	m.failed = true
	if m.down && !wasDown && n.checkFailed != nil {
		n.checkFailed(p, n.view.Inc(p), n.view.ID)
	}
	if !wasFailed || n.broken.forgetReported {
		n.report(p)
	}
	n.answerTakeover()
	if wasFailed && wasDown == m.down {
		return
	}
	switch n.role {
	case roleLeader:
		if c := n.change; c != nil && c.waiting[p] && m.down {
			n.log.Info().Str("event", "voter_failed").Uint32("peer", uint32(p)).Stringer("request_id", c.p.req).
				Msg("a voter failed before the change committed: new ballot")
			n.becomeCandidate(0)
			return
		}
		if n.change == nil {
			n.advance()
		}
	case roleCandidate:
		n.maybeDecide()
	}
}

// answerTakeover answers a NEWLEADER that waited for the check of the
// leader this member follows, once that check is over or the leader is
// known to be leaving: a promise if the leader failed, is leaving or follows
// the candidate now, a refusal if it still leads.
func (n *Node) answerTakeover() {
	m, l := n.takeover, n.ballot.Leader
	if m == nil || n.role != roleMember || n.checking(l) && n.staying(l) {
		return
	}
	n.takeover = nil
	if l != m.From && n.staying(l) {
		n.tell(m.From, m, "the leader is alive")
		return
	}
	n.onNewLeader(m)
}

// withdraw: member p, reported failed here, is alive after all (why says
// how this node knows). The report is withdrawn: a later failure of p is a
// new one, and is printed again.
func (n *Node) withdraw(m *member, p codec.PeerID, why string) {
	if !m.failed {
		return
	}
	m.failed = false
	n.log.Info().Str("event", "peer_revived").Uint32("peer", uint32(p)).Str("why", why).Msg("peer reported unreachable is alive")
	if n.withdrew != nil {
		n.withdrew(p, len(n.out.Lines))
	}
}

// checking reports whether a check of member p is in progress.
func (n *Node) checking(p codec.PeerID) bool {
	m := n.members[p]
	return m != nil && m.suspected
}

// report prints that p is unreachable.
func (n *Node) report(p codec.PeerID) {
	what := "peer " + itoa(p) + " unreachable"
	if p == n.view.Leader {
		what = "peer " + itoa(p) + " (leader) unreachable"
	}
	n.print(messageLine(n.cfg.Self, n.view.ID, n.view.Leader, what))
	n.log.Info().Str("event", "peer_unreachable").Uint32("peer", uint32(p)).
		Bool("was_leader", p == n.view.Leader).Uint64("view_id", uint64(n.view.ID)).Msg("peer unreachable")
}
