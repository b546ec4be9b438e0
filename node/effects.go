package node

import (
	"slices"

	"peer/codec"
)

// historyLen is how many installed views a node keeps to bring a peer that
// is behind up to date one view at a time.
const historyLen = 32

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

// install makes v the current view and prints it, unless it does not contain
// this peer: then the peer has been removed. A member that v removes and
// that this peer had not reported (it learns of the removal from the
// NEWVIEW alone: the REQ was lost, or it catches up) is reported first, so
// that every survivor reports every removed peer once, unless it left.
func (n *Node) install(v View) {
	if n.inView(v) {
		for _, p := range n.view.Members {
			if m := n.members[p]; m != nil && !m.failed && !m.leaving && !v.Has(p) && !slices.Contains(v.Left, p) {
				m.failed = true
				n.report(p)
			}
		}
	}
	n.view, n.installedAt = v, n.tick
	n.history = append(n.history, v)
	if len(n.history) > historyLen {
		n.history = n.history[len(n.history)-historyLen:]
	}
	if n.accepted != nil && n.accepted.view < v.ID {
		n.accepted = nil
	}
	if !n.inView(v) {
		n.removed()
		return
	}
	n.syncMembers(v)
	for _, p := range v.Members {
		delete(n.forwarded, p)
		if m := n.members[p]; m != nil && m.decided && n.role == roleMember {
			// The REQ that removed it was for an earlier view: this one
			// keeps it, and it is failed here only if it is down.
			m.decided = false
			if !m.down {
				n.withdraw(m, p, "its removal was not committed")
			}
		}
	}
	if n.role == roleJoining {
		n.role = roleMember
		n.queued = queued{}
	}
	n.out.Views = append(n.out.Views, v)
	n.out.Watch = &Watch{View: v.ID, Members: v.Members}
	if n.successor() == n.cfg.Self && n.view.Leader != n.cfg.Self {
		// It takes over if the leader fails: it will have to reach every member at once.
		n.out.Connect = others(v, n.cfg.Self)
	}
	n.print(v.Line(n.cfg.Self))
	n.log.Info().Str("event", "view_installed").Uint64("view_id", uint64(v.ID)).
		Uint32("leader", uint32(v.Leader)).Interface("members", v.Members).Stringer("ballot", n.ballot).Msg("view installed")
}

// removed: the installed view does not contain this peer.
func (n *Node) removed() {
	n.log.Info().Str("event", "removed").Uint64("view_id", uint64(n.view.ID)).
		Uint32("leader", uint32(n.view.Leader)).Interface("members", n.view.Members).
		Msg("removed from the group")
	n.change, n.round, n.accepted, n.joins = nil, nil, nil, nil
	clear(n.members)
	n.out.Watch = &Watch{View: n.view.ID}
	if n.leaving {
		n.exit(0, "left", false, "")
		return
	}
	if !n.cfg.Rejoin {
		n.exit(0, "removed", false, "")
		return
	}
	n.role = roleJoining
	n.sendJoin(n.view.Leader)
}

// viewMsg carries view v and the ballot this node follows.
func (n *Node) viewMsg(v View) *codec.NewView {
	return &codec.NewView{From: n.cfg.Self, ViewID: v.ID, Leader: v.Leader, Members: v.Members,
		Epoch: n.ballot.Epoch, EpochLeader: n.ballot.Leader, Incarnations: v.Incs, Left: v.Left}
}

// viewOf is the view a NEWVIEW carries.
func viewOf(m *codec.NewView) View {
	return View{ID: m.ViewID, Leader: m.Leader, Members: m.Members, Incs: m.Incarnations, Left: m.Left}
}

// inView reports whether this process is a member of v: its id, with its
// incarnation. A view with this id under another incarnation holds an
// earlier (or later) process of this peer, not this one.
func (n *Node) inView(v View) bool {
	if n.broken.impersonate {
		return v.Has(n.cfg.Self)
	}
	return v.Inc(n.cfg.Self) == n.cfg.Incarnation
}

// tell answers a message that comes from an older ballot or another view:
// this node's view and ballot show the sender what it missed (it installs a
// newer view, or learns that a takeover happened), or that it is ahead (it
// brings this node up to date). At most once per retry period per peer,
// unless this node's view or ballot changed since.
func (n *Node) tell(p codec.PeerID, m codec.Message, why string) {
	n.log.Debug().Str("event", "stale").Stringer("type", m.Type()).Uint32("from", uint32(p)).
		Uint64("view_id", uint64(n.view.ID)).Str("why", why).Msg("refused")
	if n.role == roleJoining || n.role == roleGone || !n.fresh(p) {
		return
	}
	n.send1(p, n.viewMsg(n.view))
}

// fresh reports whether p may be told about this node's state now, and
// notes that it is.
func (n *Node) fresh(p codec.PeerID) bool { return n.freshAt(p, 0) }

// freshAt is fresh for a peer known to be at view theirs: once a retry
// period, or at once when this node's view or ballot, or the peer's view,
// changed since it was last told.
func (n *Node) freshAt(p codec.PeerID, theirs codec.ViewID) bool {
	t, ok := n.told[p]
	if ok && t.view == n.view.ID && t.ballot == n.ballot && t.theirs == theirs && n.tick-t.tick < uint64(n.cfg.RetryTicks) {
		return false
	}
	n.told[p] = told{tick: n.tick, view: n.view.ID, ballot: n.ballot, theirs: theirs}
	return true
}

// catchUp sends a peer that is at view since the views after it, in order,
// so that it installs every view it is in. A peer that is in no view yet
// (since 0), no longer in the view, or further behind than the history,
// gets only the current view.
func (n *Node) catchUp(p codec.PeerID, since codec.ViewID) {
	if since >= n.view.ID || !n.freshAt(p, since) {
		return
	}
	views := []View{n.view}
	if i := slices.IndexFunc(n.history, func(v View) bool { return v.ID == since+1 }); i >= 0 && since > 0 && n.view.Has(p) &&
		n.history[len(n.history)-1].ID-n.history[i].ID == codec.ViewID(len(n.history)-1-i) {
		views = n.history[i:] // every view from since+1 on
	}
	n.log.Debug().Str("event", "catch_up").Uint32("peer", uint32(p)).Uint64("their_view", uint64(since)).
		Int("views", len(views)).Msg("sending views")
	for _, v := range views {
		n.send1(p, n.viewMsg(v))
	}
}

// stale logs an input that changes nothing.
func (n *Node) stale(m codec.Message, why string) {
	n.log.Debug().Str("event", "stale").Stringer("type", m.Type()).Uint32("from", uint32(m.Sender())).
		Uint64("view_id", uint64(n.view.ID)).Str("why", why).Msg("ignored")
}

// others is v's members except self.
func others(v View, self codec.PeerID) []codec.PeerID {
	out := make([]codec.PeerID, 0, len(v.Members))
	for _, p := range v.Members {
		if p != self {
			out = append(out, p)
		}
	}
	return out
}

func itoa(p codec.PeerID) string { return codec.FormatIDs([]codec.PeerID{p}) }
