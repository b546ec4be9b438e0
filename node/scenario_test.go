package node

import (
	"slices"
	"strings"
	"testing"

	"peer/codec"
)

// joinAll starts peers 1..n one after the other, each joining before the next.
func joinAll(c *cluster) {
	for id := codec.PeerID(1); int(id) <= c.n; id++ {
		c.start(id)
		c.settle()
	}
}

func wantView(t *testing.T, c *cluster, id codec.PeerID, viewID codec.ViewID, leader codec.PeerID, members ...codec.PeerID) {
	t.Helper()
	v := c.lastView(id)
	if v.ID != viewID || v.Leader != leader || !slices.Equal(v.Members, members) {
		t.Fatalf("peer %d: last view %+v, want id %d leader %d members %v\n%s", id, v, viewID, leader, members, c.dump())
	}
}

// Stale traffic changes nothing: messages for older views, from older
// ballots, for requests or rounds that do not exist, and a takeover by a
// peer whose check of the leader fails nowhere else.
func TestStaleMessagesIgnored(t *testing.T) {
	c := newCluster(t, 3, nil)
	joinAll(c)
	before := c.lastView(2)
	stale := []codec.Message{
		&codec.NewView{From: 1, ViewID: 2, Leader: 1, Members: ids(1, 2), Epoch: 1, EpochLeader: 1},
		&codec.Req{From: 1, RequestID: 99, ViewID: 1, Op: codec.OpDel, Peers: ids(3), Epoch: 1, Leader: 1, Voters: ids(2)},
		&codec.Req{From: 3, RequestID: 99, ViewID: 3, Op: codec.OpDel, Peers: ids(1), Epoch: 0, Leader: 3, Voters: ids(2)},
		&codec.OK{From: 3, RequestID: 5, ViewID: 3, Epoch: 1},
		&codec.NewLeader{From: 3, RequestID: 7, ViewID: 1, Op: codec.OpPending, Epoch: 9},
		&codec.PendingReply{From: 3, RequestID: 7, ViewID: 3, Leader: 1, Members: ids(1, 2, 3), Op: codec.OpNothing},
	}
	for _, m := range stale {
		c.step(2, Receive{Msg: m})
	}
	c.settle()
	if after := c.lastView(2); after.ID != before.ID {
		t.Fatalf("view changed: %+v -> %+v", before, after)
	}
	if n := c.nodes[2]; n.Leader() != 1 || n.role != roleMember {
		t.Fatalf("peer 2 follows %d as a %v, want leader 1", n.Leader(), n.role)
	}
}

// A NEWVIEW carries an installed, hence committed, view: a peer that missed
// one takes it from whoever sends it, and a newer view without a peer tells
// it that it was removed.
func TestNewViewFromAnyPeer(t *testing.T) {
	c := newCluster(t, 3, nil)
	joinAll(c)
	c.step(2, Receive{Msg: &codec.NewView{From: 3, ViewID: 4, Leader: 1, Members: ids(1, 2), Epoch: 1, EpochLeader: 1, Incarnations: []uint64{1, 1}}})
	wantView(t, c, 2, 4, 1, 1, 2)
	c.step(3, Receive{Msg: &codec.NewView{From: 2, ViewID: 4, Leader: 1, Members: ids(1, 2), Epoch: 1, EpochLeader: 1, Incarnations: []uint64{1, 1}}})
	if e := c.exits[3]; e == nil || e.Reason != "removed" {
		t.Fatalf("peer 3 did not learn that it was removed: %+v", e)
	}
}

// Peer 4 is cut off (here: every message to or from it is lost). Its probes
// time out, so it takes every other peer for failed and tries to take over,
// but with no promises it has no quorum and changes nothing. The others
// check the leader themselves before answering a NEWLEADER, so even the
// promise of a member it could reach would need a failed leader. They remove
// 4, and when the cut heals 4 learns that it was removed.
func TestCutOffPeerCannotTakeOver(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	cut := true
	c.filter = func(from, to codec.PeerID, m codec.Message) bool { return !cut || from != 4 && to != 4 }
	for _, p := range ids(1, 2, 3, 5) {
		c.step(4, Suspect{Peer: p})
	}
	c.detect(4)
	c.tick(10)
	if n := c.nodes[4]; n.role != roleCandidate {
		t.Fatalf("peer 4 is a %v, want a candidate without a quorum\n%s", n.role, c.dump())
	}
	for _, id := range ids(1, 2, 3, 5) {
		wantView(t, c, id, 6, 1, 1, 2, 3, 5)
	}
	if n := c.nodes[1]; n.role != roleLeader {
		t.Fatalf("peer 1 is a %v, want the leader", n.role)
	}
	cut = false
	c.step(1, Heard{Peer: 4, ViewID: 5}) // its heartbeats carry its old view id
	c.settle()
	if e := c.exits[4]; e == nil || e.Reason != "removed" {
		t.Fatalf("peer 4 did not learn it was removed: %+v\n%s", e, c.dump())
	}
	c.checkAgreement()
}

// A member that has not seen the leader fail checks it before promising a
// takeover: while the leader answers, the NEWLEADER is refused and the
// member keeps following it.
func TestTakeoverRefusedWhileTheLeaderAnswers(t *testing.T) {
	c := newCluster(t, 3, nil)
	joinAll(c)
	c.step(3, Receive{Msg: &codec.NewLeader{From: 2, RequestID: codec.NewRequestID(2, 1), ViewID: 3, Op: codec.OpPending, Epoch: 2}})
	if n := c.nodes[3]; n.Leader() != 1 || !n.checking(1) {
		t.Fatalf("peer 3 follows %d, checking 1: %v; want it to check its leader first", n.Leader(), n.checking(1))
	}
	c.settle() // 1 answers the probe; 2's NEWLEADER is refused
	if n := c.nodes[3]; n.Leader() != 1 || n.checking(1) {
		t.Fatalf("peer 3 follows %d after its leader answered", n.Leader())
	}
	for _, l := range c.lines[3] {
		if strings.Contains(l, "unreachable") {
			t.Fatalf("peer 3 printed %s", l)
		}
	}
}

// A member leaves gracefully: the leader removes it with an ordinary change,
// nobody prints "unreachable", and it exits once the view without it is in.
// The leader leaves: it hands over at once, with no timeout: the next member
// takes over and removes it with a LEAVE change.
// A peer that asked to leave and gets no answer (its leader is gone, and no
// one takes over) exits after Config.LeaveTicks all the same.
func TestLeaveIsBounded(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.LeaveTicks = 5 })
	joinAll(c)
	c.crash(1)
	c.step(3, Leave{})
	c.settle()
	c.tick(5)
	if e := c.exits[3]; e == nil || e.Reason != "left" {
		t.Fatalf("peer 3 still waits: %+v", e)
	}
}

// A leaving leader hands over: a member that got the successor's NEWLEADER
// before the leader's LEAVE, and began to check the leader, promises as soon
// as the LEAVE comes, without waiting for the check (the leader is alive and
// would answer it: the promise must not wait for a retry period).
func TestTakeoverPromisedOnceTheLeaderLeaves(t *testing.T) {
	c := newCluster(t, 3, nil)
	joinAll(c)
	v := c.lastView(3)
	c.step(3, Receive{Msg: &codec.NewLeader{From: 2, RequestID: 1, ViewID: v.ID, Epoch: 2}})
	if promised(c, 3, 2) {
		t.Fatalf("peer 3 promised before it knew its leader was leaving or down")
	}
	c.step(3, Receive{Msg: &codec.Leave{From: 1, Incarnation: 1}})
	if !promised(c, 3, 2) {
		t.Fatalf("peer 3 did not promise the takeover once its leader was leaving\n%s", c.dump())
	}
}

// promised reports whether from has sent a PENDING_REPLY to to.
func promised(c *cluster, from, to codec.PeerID) bool {
	for _, b := range c.queues[[2]codec.PeerID{from, to}] {
		if m, err := codec.Unmarshal(b); err == nil {
			if _, ok := m.(*codec.PendingReply); ok {
				return true
			}
		}
	}
	return false
}

// A member that learns of a removal from the NEWVIEW alone (it missed the
// REQ) reports the removed peer unreachable, unless the view says that the
// peer left.
func TestNewViewTellsWhoLeft(t *testing.T) {
	for _, left := range [][]codec.PeerID{nil, ids(4)} {
		c := newCluster(t, 4, nil)
		joinAll(c)
		c.step(2, Receive{Msg: &codec.NewView{From: 1, ViewID: 5, Leader: 1, Members: ids(1, 2, 3), Epoch: 1, EpochLeader: 1,
			Incarnations: []uint64{1, 1, 1}, Left: left}})
		wantView(t, c, 2, 5, 1, 1, 2, 3)
		reported := slices.ContainsFunc(c.lines[2], func(l string) bool { return strings.Contains(l, "peer 4 unreachable") })
		if reported != (left == nil) {
			t.Errorf("left %v: peer 2 reported peer 4: %v, want %v\n%s", left, reported, left == nil, c.dump())
		}
	}
}

// A joiner waits on the peer it asked first (the hostsfile's first other
// peer) as on a leader that queued it: while that peer neither answers nor
// refuses, it asks it alone again every retry period, and every host only
// after a probe wait. A refusal sends it to every host at once.
func TestJoinerWaitsOnItsFirstPeer(t *testing.T) {
	joinTargets := func(out Output) [][]codec.PeerID {
		var to [][]codec.PeerID
		for _, s := range out.Sends {
			if _, ok := s.Msg.(*codec.Join); ok {
				to = append(to, s.To)
			}
		}
		return to
	}
	cfg := Config{Self: 3, Peers: 5, RetryTicks: 2, ProbeTicks: 6}
	n := New(cfg)
	if got := joinTargets(n.Step(Start{})); len(got) != 1 || !slices.Equal(got[0], ids(1)) {
		t.Fatalf("first JOIN to %v, want [1]", got)
	}
	for tick := 1; tick < cfg.ProbeTicks; tick++ {
		for _, to := range joinTargets(n.Step(Tick{})) {
			if !slices.Equal(to, ids(1)) {
				t.Fatalf("tick %d: JOIN to %v within the probe wait, want [1] alone", tick, to)
			}
		}
	}
	if got := joinTargets(n.Step(Tick{})); len(got) != 1 || !slices.Equal(got[0], ids(1, 2, 4, 5)) {
		t.Fatalf("after the probe wait: JOIN to %v, want every host", got)
	}

	n = New(cfg)
	n.Step(Start{})
	n.Step(Refused{Peer: 1})
	if got := joinTargets(n.Step(Tick{Count: uint64(cfg.RetryTicks)})); len(got) != 1 || !slices.Equal(got[0], ids(1, 2, 4, 5)) {
		t.Fatalf("after a refusal: JOIN to %v, want every host", got)
	}
}

// A member of this view that is behind is caught up by the leader alone,
// and only once the view is a retry period old (the leader's NEWVIEW may
// still be on its way); a peer outside the view is caught up by anyone.
func TestHeartbeatCatchUpByTheLeader(t *testing.T) {
	c := newCluster(t, 4, nil)
	joinAll(c) // view 4 [1,2,3,4], leader 1
	queued := func(from, to codec.PeerID) int { return len(c.queues[[2]codec.PeerID{from, to}]) }
	behind := Heard{Peer: 4, ViewID: 3, Epoch: 1, EpochLeader: 1}
	c.step(1, behind)
	if queued(1, 4) != 0 {
		t.Fatalf("the leader caught up peer 4 before its view was a retry period old")
	}
	c.tick(c.config(1).RetryTicks)
	c.step(2, behind)
	if queued(2, 4) != 0 {
		t.Fatalf("member 2 caught up member 4: the leader does")
	}
	c.step(1, behind)
	if queued(1, 4) == 0 {
		t.Fatalf("the leader did not catch up member 4")
	}
	c.settle()
	c.step(2, Heard{Peer: 4, ViewID: 9, Epoch: 1, EpochLeader: 1}) // ahead, and not a leader
	if queued(2, 4) != 0 {
		t.Fatalf("member 2 sent its view to member 4, which is ahead but does not lead")
	}
}
