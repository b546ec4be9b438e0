package node

import (
	"fmt"
	"strings"

	"peer/codec"
)

// checker holds what the invariants of the contract (spec §6) need, updated
// after every step from what the step printed and sent. It sees only what a
// peer printed on stderr (a crash may cut a step's output) plus, for the
// commit rule, which members answered OK.
type checker struct {
	// agreed is the first view printed with each id (index: view id).
	agreed []View
	// last is the last view the current incarnation of each peer printed
	// since it (re)joined; zero when it has none.
	last [maxSimPeers + 1]View
	// lastID is the highest view id the current incarnation printed.
	lastID [maxSimPeers + 1]codec.ViewID
	// reported[x][p]: x printed "peer p unreachable" for p's current
	// membership of x's view.
	reported [maxSimPeers + 1][maxSimPeers + 1]bool
	// falsely[x][p]: p was running (not crashed, not paused) when x
	// reported it: a false report (see simulation.md), counted, not failed.
	falsely [maxSimPeers + 1][maxSimPeers + 1]bool
	// up is the set of running, unpaused peers (bit per id), kept by the sim.
	up uint32
	// falseReports counts the false reports.
	falseReports int
	// oks: the members that sent an OK for each request id.
	oks map[codec.RequestID]uint32
	// proposed: the REQ each leader sent in each view.
	proposed map[proposal]*codec.Req
}

type proposal struct {
	view   codec.ViewID
	leader codec.PeerID
}

// preStep is a node's state just before a step.
type preStep struct {
	role role
	op   *change
	view codec.ViewID
}

func newChecker() checker {
	return checker{oks: map[codec.RequestID]uint32{}, proposed: map[proposal]*codec.Req{}}
}

// restart forgets a peer's previous incarnation.
func (k *checker) restart(id codec.PeerID) {
	k.last[id] = View{}
	k.lastID[id] = 0
	k.reported[id] = [maxSimPeers + 1]bool{}
}

func (k *checker) view(id codec.ViewID) (View, bool) {
	if int(id) < len(k.agreed) && k.agreed[id].ID == id && id != 0 {
		return k.agreed[id], true
	}
	return View{}, false
}

// step checks one step of peer id: its input, its state before, and the
// output that was actually carried out (a crash may have cut it).
func (k *checker) step(nd *Node, id codec.PeerID, in Input, pre preStep, out Output) error {
	for _, s := range out.Sends {
		switch m := s.Msg.(type) {
		case *codec.OK:
			k.oks[m.RequestID] |= 1 << id
		case *codec.Req:
			k.proposed[proposal{m.ViewID, id}] = m
		}
	}
	nv := 0
	for _, line := range out.Lines {
		switch {
		case strings.HasSuffix(line, "]}"): // a view line
			if nv >= len(out.Views) {
				return fmt.Errorf("peer %d printed a view line without a view: %s", id, line)
			}
			v := out.Views[nv]
			nv++
			if err := k.install(nd, id, in, pre, v, nv == 1); err != nil {
				return err
			}
		case strings.HasSuffix(line, ` unreachable"}`):
			p, ok := unreachablePeer(line)
			if !ok {
				return fmt.Errorf("peer %d: unparsable line %s", id, line)
			}
			if p == id {
				return fmt.Errorf("peer %d reported itself unreachable", id)
			}
			// Invariant 5: once per failure.
			if k.reported[id][p] {
				return fmt.Errorf("invariant 5 (report once): peer %d printed peer %d unreachable twice for one failure: %s", id, p, line)
			}
			k.reported[id][p] = true
			k.falsely[id][p] = k.up&(1<<p) != 0
			if k.falsely[id][p] {
				k.falseReports++
			}
		}
	}
	if nv != len(out.Views) {
		return fmt.Errorf("peer %d installed %d views but printed %d", id, len(out.Views), nv)
	}
	// A report the node forgot (the peer turned out alive): a later one is
	// a new failure.
	for p := range k.reported[id] {
		if k.reported[id][p] && !nd.failed[codec.PeerID(p)] && nd.role != roleGone {
			k.reported[id][p] = false
		}
	}
	// Removed (exits or joins again): its next view starts a new membership.
	if (pre.role == roleMember || pre.role == roleLeader || pre.role == roleCandidate) &&
		(nd.role == roleJoining || nd.role == roleGone) {
		k.last[id] = View{}
		k.reported[id] = [maxSimPeers + 1]bool{}
	}
	return nil
}

// install checks one printed view v of peer id.
func (k *checker) install(nd *Node, id codec.PeerID, in Input, pre preStep, v View, first bool) error {
	if !v.Has(id) || !equalIDs(v.Members, codec.SortedIDs(v.Members)) || !v.Has(v.Leader) {
		return fmt.Errorf("peer %d printed a malformed view %+v", id, v)
	}
	// Invariant 2a: view ids strictly increase.
	if v.ID <= k.lastID[id] {
		return fmt.Errorf("invariant 2 (increasing): peer %d installed view %d after view %d", id, v.ID, k.lastID[id])
	}
	known, isKnown := k.view(v.ID)
	// Invariant 1: agreement.
	if isKnown && (known.Leader != v.Leader || !equalIDs(known.Members, v.Members)) {
		return fmt.Errorf("invariant 1 (agreement): peer %d installed view %d leader %d [%s], another peer installed it as leader %d [%s]",
			id, v.ID, v.Leader, codec.FormatIDs(v.Members), known.Leader, codec.FormatIDs(known.Members))
	}
	// Invariant 3: nothing pending is applied before its NEWVIEW. A view is
	// installed from a NEWVIEW that carries it, or by the leader that makes
	// it, or again after someone installed it (a new leader adopting the
	// most advanced view it collected), or by a new leader completing the
	// change its predecessor proposed (REQ) in the view before.
	if !isKnown && v.Leader != id {
		nvm, fromNewView := in.(Receive)
		m, _ := nvm.Msg.(*codec.NewView)
		if (!fromNewView || m == nil || m.ViewID != v.ID) && !k.completes(nd, pre, v) {
			return fmt.Errorf("invariant 3 (pending applied before NEWVIEW): peer %d installed view %d leader %d [%s] on %s, not from a NEWVIEW",
				id, v.ID, v.Leader, codec.FormatIDs(v.Members), fmtInput(in))
		}
	}
	// Invariant 3, the leader's side: it commits a change only when every
	// member it did not suspect has saved the operation (answered OK).
	if first && pre.role == roleLeader && pre.op != nil && v.ID == pre.view+1 && v.Leader == id {
		if prev, ok := k.view(pre.view); ok {
			dropped := View{Members: pre.op.peers}
			for _, m := range prev.Members {
				if m == id || pre.op.op == codec.OpDel && dropped.Has(m) {
					continue
				}
				if k.oks[pre.op.req]&(1<<m) == 0 && !k.reported[id][m] {
					return fmt.Errorf("invariant 3 (commit after every OK): leader %d committed view %d (request %v) without the OK of member %d",
						id, v.ID, pre.op.req, m)
				}
			}
		}
	}
	last := k.last[id]
	if last.ID != 0 {
		// Invariant 2b: a survivor installs every view id in turn: no view
		// that kept this peer may be skipped.
		for u := last.ID + 1; u < v.ID; u++ {
			a, okA := k.view(u - 1)
			b, okB := k.view(u)
			if okA && okB && a.Has(id) && b.Has(id) {
				return fmt.Errorf("invariant 2 (every id): peer %d went from view %d to view %d, skipping view %d which kept it",
					id, last.ID, v.ID, u)
			}
		}
		// Invariant 5: every survivor of a removal reported the removed peer.
		if last.ID+1 == v.ID {
			for _, p := range last.Members {
				if !v.Has(p) && !k.reported[id][p] {
					return fmt.Errorf("invariant 5 (survivors report): peer %d installed view %d without peer %d but never printed it unreachable",
						id, v.ID, p)
				}
			}
		}
	}
	for p := range k.reported[id] {
		if k.reported[id][p] && !v.Has(codec.PeerID(p)) {
			k.reported[id][p] = false // it left: a later failure is a new one
		}
	}
	k.last[id] = v
	k.lastID[id] = v.ID
	if !isKnown {
		for int(v.ID) >= len(k.agreed) {
			k.agreed = append(k.agreed, View{})
		}
		k.agreed[v.ID] = v
	}
	return nil
}

// completes reports whether v is what a peer taking over in this step may
// install: the view that the REQ v.Leader sent in the view before would make.
func (k *checker) completes(nd *Node, pre preStep, v View) bool {
	if pre.role == roleLeader || nd.role != roleLeader && nd.role != roleCandidate {
		return false
	}
	req := k.proposed[proposal{v.ID - 1, v.Leader}]
	prev, ok := k.view(v.ID - 1)
	return req != nil && ok && equalIDs(apply(prev.Members, req.Op, req.Peers), v.Members)
}

// unreachablePeer parses `...message:"peer 3 unreachable"}` and
// `...message:"peer 1 (leader) unreachable"}`.
func unreachablePeer(line string) (codec.PeerID, bool) {
	i := strings.Index(line, `message:"peer `)
	if i < 0 {
		return 0, false
	}
	p := 0
	j := i + len(`message:"peer `)
	for ; j < len(line) && line[j] >= '0' && line[j] <= '9'; j++ {
		p = p*10 + int(line[j]-'0')
	}
	return codec.PeerID(p), p > 0 && p <= maxSimPeers
}

// ---- formatting for traces ----

func fmtInput(in Input) string {
	switch in := in.(type) {
	case Start:
		return "start"
	case Receive:
		return fmtMsg(in.Msg)
	case Suspect:
		return fmt.Sprintf("suspect %d", in.Peer)
	case Heard:
		return fmt.Sprintf("heard %d at view %d", in.Peer, in.ViewID)
	case Tick:
		return "tick"
	case Crash:
		return "crash timer"
	}
	return fmt.Sprintf("%T", in)
}

func fmtMsg(m codec.Message) string {
	switch m := m.(type) {
	case *codec.Join:
		return fmt.Sprintf("JOIN{joiner %d}", m.Joiner)
	case *codec.Req:
		return fmt.Sprintf("REQ{%v view %d %v [%s]}", m.RequestID, m.ViewID, m.Op, codec.FormatIDs(m.Peers))
	case *codec.OK:
		return fmt.Sprintf("OK{%v view %d}", m.RequestID, m.ViewID)
	case *codec.NewView:
		return fmt.Sprintf("NEWVIEW{view %d leader %d [%s]}", m.ViewID, m.Leader, codec.FormatIDs(m.Members))
	case *codec.NewLeader:
		return fmt.Sprintf("NEWLEADER{%v view %d replaces %d}", m.RequestID, m.ViewID, m.Replaces)
	case *codec.PendingReply:
		s := fmt.Sprintf("PENDING_REPLY{%v view %d leader %d [%s] %v", m.RequestID, m.ViewID, m.Leader, codec.FormatIDs(m.Members), m.Op)
		if m.Op != codec.OpNothing {
			s += fmt.Sprintf(" %v view %d [%s]", m.PendingRequest, m.PendingView, codec.FormatIDs(m.Peers))
		}
		return s + "}"
	}
	return m.Type().String()
}

func fmtTime(units int64) string {
	return fmt.Sprintf("%d.%03d", units/unitsPerTick, units%unitsPerTick)
}
