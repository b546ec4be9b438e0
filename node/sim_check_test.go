package node

import (
	"fmt"
	"slices"
	"strings"

	"peer/codec"
)

// checker holds what the invariants of the contract (spec §6) need, updated
// after every step from what the step printed and sent. It sees what a peer
// printed on stderr (a crash may cut a step's output), the messages it sent,
// and, for the commit rule, the change the node ran before the step.
type checker struct {
	s *sim // the world: who was down when
	// agreed is the first view printed with each id (index: view id).
	agreed []View
	// last is the last view the current incarnation of each peer printed
	// since it (re)joined; zero when it has none.
	last [maxSimPeers + 1]View
	// lastID is the highest view id the current incarnation printed.
	lastID [maxSimPeers + 1]codec.ViewID
	// reported[x][p]: x printed "peer p unreachable" for p's current
	// membership of x's view, and still counts it as failed.
	reported [maxSimPeers + 1][maxSimPeers + 1]bool
	// oks: the peers that sent an OK for each request id.
	oks map[codec.RequestID]uint32
	// found: the memberships (a process, from the view it entered) that
	// some peer's own check found down: every report and removal of one
	// rests on such a check, or on its process being gone.
	found map[membership]bool
}

// membership is one stay of a process in the agreed views, named by the view
// it entered.
type membership struct {
	who     leaver
	entered codec.ViewID
}

// check is a check that failed: of a process, in a view of the checker's.
type check struct {
	who  leaver
	view codec.ViewID
}

// membership returns the stay of process who that includes view at: the
// agreed views before at that hold it, back to the first of them.
func (k *checker) membership(who leaver, at codec.ViewID) membership {
	e := at
	for e > 1 {
		v, ok := k.view(e - 1)
		if !ok || v.Inc(who.id) != who.inc {
			break
		}
		e--
	}
	return membership{who, e}
}

// preStep is a node's state just before a step.
type preStep struct {
	role   role
	view   View
	change *change
	found  []check // the members this node's own check found down in the step
	// withdrawn: the reports the node withdrew in the step, each after
	// the number of lines it had printed then.
	withdrawn []withdrawal
}

type withdrawal struct {
	p    codec.PeerID
	line int
}

func newChecker() checker {
	return checker{oks: map[codec.RequestID]uint32{}, found: map[membership]bool{}}
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
		if m, ok := s.Msg.(*codec.OK); ok {
			k.oks[m.RequestID] |= 1 << id
		}
	}
	// Invariant 6a: a check fails only for a process that could not answer:
	// crashed, gone (restarted since), or stopped longer than protected.
	for _, c := range pre.found {
		if c.who.inc == uint64(k.s.inc[c.who.id]) && !k.s.wasDown(c.who.id) {
			return fmt.Errorf("invariant 6 (checks are true): peer %d's check of peer %d failed, but %d was running and not stalled",
				id, c.who.id, c.who.id)
		}
		k.found[k.membership(c.who, c.view)] = true
	}
	nv, commits := 0, 0
	prev := pre.view
	withdraw := func(upTo int) {
		for len(pre.withdrawn) > 0 && pre.withdrawn[0].line <= upTo {
			k.reported[id][pre.withdrawn[0].p] = false // a later report is of a new failure
			pre.withdrawn = pre.withdrawn[1:]
		}
	}
	for i, line := range out.Lines {
		withdraw(i)
		switch {
		case strings.HasSuffix(line, "]}"): // a view line
			if nv >= len(out.Views) {
				return fmt.Errorf("peer %d printed a view line without a view: %s", id, line)
			}
			v := out.Views[nv]
			nv++
			if err := k.install(nd, id, in, pre, prev, v, &commits); err != nil {
				return err
			}
			prev = v
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
			// Invariant 6b: only a peer that some check found down is
			// reported (a leader's decision may be carried out long after
			// it was made: a pending DEL a new leader completes), or one
			// whose process is gone.
			in := prev // the view this line is printed in
			if !in.Has(p) {
				in = nd.view
			}
			who := leaver{p, in.Inc(p)}
			gone := who.inc != uint64(k.s.inc[p])
			if !gone && !k.found[k.membership(who, in.ID)] && p != k.s.target4 {
				return fmt.Errorf("invariant 6 (no false report): peer %d printed peer %d unreachable, but %d was running and not stalled", id, p, p)
			}
		}
	}
	if nv != len(out.Views) {
		return fmt.Errorf("peer %d installed %d views but printed %d", id, len(out.Views), nv)
	}
	withdraw(len(out.Lines))
	// Removed (exits or joins again): its next view starts a new membership.
	if (pre.role == roleMember || pre.role == roleLeader || pre.role == roleCandidate) &&
		(nd.role == roleJoining || nd.role == roleGone) {
		k.last[id] = View{}
		k.reported[id] = [maxSimPeers + 1]bool{}
	}
	return nil
}

// install checks one printed view v of peer id, installed after view prev.
func (k *checker) install(nd *Node, id codec.PeerID, in Input, pre preStep, prev, v View, commits *int) error {
	if !v.Has(id) || !equalIDs(v.Members, codec.SortedIDs(v.Members)) || !v.Has(v.Leader) || len(v.Incs) != len(v.Members) {
		return fmt.Errorf("peer %d printed a malformed view %+v", id, v)
	}
	// Invariant 2a: view ids strictly increase.
	if v.ID <= k.lastID[id] {
		return fmt.Errorf("invariant 2 (increasing): peer %d installed view %d after view %d", id, v.ID, k.lastID[id])
	}
	known, isKnown := k.view(v.ID)
	// Invariant 1: agreement.
	if isKnown && (known.Leader != v.Leader || !equalIDs(known.Members, v.Members) || !slices.Equal(known.Incs, v.Incs)) {
		return fmt.Errorf("invariant 1 (agreement): peer %d installed view %d leader %d [%s] incarnations %v, another peer installed it as leader %d [%s] incarnations %v",
			id, v.ID, v.Leader, codec.FormatIDs(v.Members), v.Incs, known.Leader, codec.FormatIDs(known.Members), known.Incs)
	}
	// This very process is in the view it prints.
	if v.Inc(id) != nd.cfg.Incarnation {
		return fmt.Errorf("peer %d (incarnation %d) printed view %d, which holds its incarnation %d",
			id, nd.cfg.Incarnation, v.ID, v.Inc(id))
	}
	// Invariant 3: nothing pending is applied before its NEWVIEW. A view is
	// installed from a NEWVIEW that carries it, or committed by the leader
	// that ran the change: after the OK of every voter of its REQ, the
	// voters and the leader holding a quorum of the view before; a change
	// committed with no voters needs the leader alone to be a quorum.
	_, starts := in.(Start)
	if r, ok := in.(Receive); !(starts && v.ID == 1) && (!ok || r.Msg.Type() != codec.TypeNewView || r.Msg.(*codec.NewView).ViewID != v.ID) {
		if err := k.commit(nd, id, pre, prev, v, commits); err != nil {
			return err
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
		// Invariant 5: every survivor of a removal reported the removed
		// peer, unless it left.
		if last.ID+1 == v.ID {
			for _, p := range last.Members {
				if !v.Has(p) && !k.reported[id][p] && !k.s.left[leaver{p, last.Inc(p)}] {
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
		// Invariant 6c: a view removes only peers that some check found down
		// during their stay, that left, or whose process is gone.
		if before, ok := k.view(v.ID - 1); ok {
			for _, p := range before.Members {
				who := leaver{p, before.Inc(p)}
				gone := who.inc != uint64(k.s.inc[p])
				if !v.Has(p) && !gone && !k.found[k.membership(who, before.ID)] && p != k.s.target4 && !k.s.left[who] {
					return fmt.Errorf("invariant 6 (no false removal): view %d [%s] removes peer %d, which was running and not stalled",
						v.ID, codec.FormatIDs(v.Members), p)
				}
			}
		}
		for int(v.ID) >= len(k.agreed) {
			k.agreed = append(k.agreed, View{})
		}
		k.agreed[v.ID] = v
	}
	return nil
}

// commit checks a view that peer id installed without a NEWVIEW carrying it:
// the change it ran before the step, unless it ran a new ballot in the step
// (then the view is a change made and committed in the step, with no voters).
func (k *checker) commit(nd *Node, id codec.PeerID, pre preStep, prev, v View, commits *int) error {
	*commits++
	if pre.role != roleLeader && pre.role != roleCandidate && nd.role != roleLeader {
		return fmt.Errorf("invariant 3 (pending applied before NEWVIEW): peer %d, a %v, installed view %d [%s] without a NEWVIEW carrying it",
			id, pre.role, v.ID, codec.FormatIDs(v.Members))
	}
	if prev.ID+1 != v.ID {
		return fmt.Errorf("invariant 3: peer %d committed view %d on view %d", id, v.ID, prev.ID)
	}
	var voters []codec.PeerID
	if c := pre.change; *commits == 1 && c != nil && !c.blocked && c.p.view == prev.ID && c.p.ballot == nd.ballot {
		if next := c.p.next(prev); next.Leader != v.Leader || !equalIDs(next.Members, v.Members) {
			return fmt.Errorf("invariant 3: peer %d committed view %d [%s], its change makes [%s]",
				id, v.ID, codec.FormatIDs(v.Members), codec.FormatIDs(next.Members))
		}
		voters = c.p.voters
		for _, q := range voters {
			if k.oks[c.p.req]&(1<<q) == 0 {
				return fmt.Errorf("invariant 3 (commit after every OK): leader %d committed view %d (request %v) without the OK of voter %d",
					id, v.ID, c.p.req, q)
			}
		}
	}
	if !quorum(prev, func(q codec.PeerID) bool { return q == id || slices.Contains(voters, q) }) {
		return fmt.Errorf("invariant 7 (quorum): leader %d committed view %d [%s] with voters %v, no quorum of view %d [%s]",
			id, v.ID, codec.FormatIDs(v.Members), voters, prev.ID, codec.FormatIDs(prev.Members))
	}
	return nil
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
	case Alive:
		return fmt.Sprintf("alive %d", in.Peer)
	case Refused:
		return fmt.Sprintf("refused %d", in.Peer)
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
		return fmt.Sprintf("REQ{%v e%d view %d %v [%s] leader %d voters [%s] forced %d}", m.RequestID, m.Epoch, m.ViewID, m.Op,
			codec.FormatIDs(m.Peers), m.Leader, codec.FormatIDs(m.Voters), m.Forced)
	case *codec.OK:
		return fmt.Sprintf("OK{%v e%d view %d}", m.RequestID, m.Epoch, m.ViewID)
	case *codec.NewView:
		return fmt.Sprintf("NEWVIEW{view %d leader %d [%s] ballot %d/%d}", m.ViewID, m.Leader, codec.FormatIDs(m.Members), m.Epoch, m.EpochLeader)
	case *codec.NewLeader:
		return fmt.Sprintf("NEWLEADER{%v e%d view %d}", m.RequestID, m.Epoch, m.ViewID)
	case *codec.PendingReply:
		s := fmt.Sprintf("PENDING_REPLY{%v view %d leader %d [%s] %v", m.RequestID, m.ViewID, m.Leader, codec.FormatIDs(m.Members), m.Op)
		if m.Op != codec.OpNothing {
			s += fmt.Sprintf(" %v e%d view %d [%s] leader %d voters [%s] forced %d", m.PendingRequest, m.PendingEpoch, m.PendingView,
				codec.FormatIDs(m.Peers), m.PendingLeader, codec.FormatIDs(m.Voters), m.Forced)
		}
		return s + "}"
	case *codec.Probe:
		return fmt.Sprintf("PROBE{%d}", m.Nonce)
	case *codec.ProbeAck:
		return fmt.Sprintf("PROBE_ACK{%d ballot %d/%d}", m.Nonce, m.Epoch, m.EpochLeader)
	}
	return m.Type().String()
}

func fmtTime(units int64) string {
	return fmt.Sprintf("%d.%03d", units/unitsPerTick, units%unitsPerTick)
}
