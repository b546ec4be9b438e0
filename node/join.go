package node

import (
	"peer/codec"
)

// A peer that is in no view yet (or was removed and joins again) asks the
// leader to add it (JOIN). The leader answers QUEUED at once and adds every
// waiting joiner in one change; a member passes a JOIN on to its leader, once
// per leader, and answers QUEUED naming it. The joiner then asks that leader
// alone while it answers, and every host again only when it stops: a storm of
// peers starting together costs one JOIN each, not one to every host. The
// first JOIN goes to the first other peer of the hostsfile (a removed peer's,
// to its last leader), which the joiner waits on the same way: it asks every
// host only when that peer refuses the connection or stays silent for a
// probe wait (a busy leader's QUEUED may take longer than a retry period). A
// joiner installs the first view that contains it, under its incarnation: a
// view holding an earlier process of the same peer is not its own, and its
// JOIN makes the group remove that one before it adds this one.

func (n *Node) start() {
	n.log.Info().Str("event", "start").Bool("starts_group", n.cfg.Leader).Int("peers", n.cfg.Peers).Msg("starting")
	if n.cfg.Leader {
		n.role = roleLeader
		n.ballot = Ballot{Epoch: 1, Leader: n.cfg.Self}
		n.install(View{ID: 1, Leader: n.cfg.Self, Members: []codec.PeerID{n.cfg.Self}, Incs: []uint64{n.cfg.Incarnation}})
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
	if to == 0 || to == n.cfg.Self || !n.inRange(to) {
		n.sendJoinAll()
		return
	}
	n.queued = queued{leader: to, heard: n.tick}
	n.send1(to, n.joinMsg())
}

func (n *Node) joinMsg() *codec.Join {
	return &codec.Join{From: n.cfg.Self, Joiner: n.cfg.Self, Incarnation: n.cfg.Incarnation}
}

// queued is the leader a joiner waits on: the one that answered QUEUED, and
// when it last answered itself.
type queued struct {
	leader codec.PeerID
	ballot Ballot
	heard  uint64
}

// retryJoin asks again: the leader that queued this joiner alone, while it
// answers within a probe wait; every host otherwise (whoever leads adds it,
// members pass it on).
func (n *Node) retryJoin() {
	q := &n.queued
	if q.leader != 0 && n.tick-q.heard < uint64(n.cfg.ProbeTicks) {
		n.joinSentAt = n.tick
		n.send1(q.leader, n.joinMsg())
		return
	}
	*q = queued{}
	n.sendJoin(0)
}

// showRemoval: a peer that a view removed knows that view, which the peer
// asking it (a candidate, or a member catching it up) may not: the
// committing leader can have died with its NEWVIEW half sent. It shows it,
// and reports whether it did.
func (n *Node) showRemoval(m codec.Message) bool {
	var behind bool
	switch m := m.(type) {
	case *codec.NewLeader:
		behind = m.ViewID < n.view.ID
	case *codec.NewView:
		behind = m.ViewID < n.view.ID
	}
	if !behind || n.ballot.Leader == 0 || !n.fresh(m.Sender()) {
		return behind
	}
	n.send1(m.Sender(), n.viewMsg(n.view))
	return true
}

// onQueued: a leader queued this joiner's JOIN. It waits on the highest
// ballot's leader it hears of; only that leader's own answers show that it is
// still there.
func (n *Node) onQueued(m *codec.Queued) {
	q := &n.queued
	b := Ballot{m.Epoch, m.Leader}
	if m.Joiner != n.cfg.Self || m.Leader == n.cfg.Self || q.leader != 0 && b.Less(q.ballot) {
		return
	}
	if q.leader != m.Leader || m.From == m.Leader {
		q.heard = n.tick
	}
	q.leader, q.ballot = m.Leader, b
}

// queuedMsg tells joiner j that leader (this node's, or itself) queued it.
func (n *Node) queuedMsg(j codec.PeerID) *codec.Queued {
	return &codec.Queued{From: n.cfg.Self, Joiner: j, Leader: n.ballot.Leader, Epoch: n.ballot.Epoch}
}

// sendJoinAll asks every host: whichever leads adds us, members pass it on.
func (n *Node) sendJoinAll() {
	to := make([]codec.PeerID, 0, n.cfg.Peers)
	for p := codec.PeerID(1); int(p) <= n.cfg.Peers; p++ {
		if p != n.cfg.Self {
			to = append(to, p)
		}
	}
	n.send(to, n.joinMsg())
}

func (n *Node) stepJoining(m codec.Message) {
	if n.showRemoval(m) {
		return
	}
	switch m := m.(type) {
	case *codec.NewView:
		w := viewOf(m)
		if !n.inView(w) || m.ViewID <= n.view.ID {
			n.stale(m, "a view without this process, or not newer than the one that removed it")
			return
		}
		// It follows the group's ballot from now on, whatever it followed
		// before it was removed.
		n.ballot = Ballot{m.Epoch, m.EpochLeader}
		n.install(w)
	case *codec.NewLeader:
		// A new leader asks the joiners it knows of; this one is in no view
		// yet: the leader brings it up to date.
		n.send1(m.From, &codec.PendingReply{From: n.cfg.Self, RequestID: m.RequestID, Op: codec.OpNothing})
	case *codec.Queued:
		n.onQueued(m)
	default:
		n.stale(m, "not in a view")
	}
}
