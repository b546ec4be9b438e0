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

func wantLine(t *testing.T, c *cluster, id codec.PeerID, line string) {
	t.Helper()
	if n := countLines(c, id, line); n != 1 {
		t.Fatalf("peer %d printed %q %d times, want once\n%s", id, line, n, c.dump())
	}
}

func countLines(c *cluster, id codec.PeerID, line string) int {
	n := 0
	for _, l := range c.lines[id] {
		if l == line {
			n++
		}
	}
	return n
}

func TestTestcase1AllJoin(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	for id := codec.PeerID(1); id <= 5; id++ {
		wantView(t, c, id, 5, 1, 1, 2, 3, 4, 5)
	}
	wantLine(t, c, 1, "{peer_id:1, view_id: 1, leader: 1, memb_list: [1]}")
	wantLine(t, c, 2, "{peer_id:2, view_id: 2, leader: 1, memb_list: [1,2]}")
	wantLine(t, c, 3, "{peer_id:3, view_id: 5, leader: 1, memb_list: [1,2,3,4,5]}")
	c.checkAgreement()
}

func TestTestcase2MemberCrash(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	c.crash(5)
	c.detect(5)
	c.settle()
	for id := codec.PeerID(1); id <= 4; id++ {
		wantView(t, c, id, 6, 1, 1, 2, 3, 4)
		wantLine(t, c, id, messageLine(id, 5, 1, "peer 5 unreachable"))
	}
	c.checkAgreement()
}

// The leader's detector fires first: the others learn of the failure from its
// REQ and still print it once, even when their own detector fires later.
func TestUnreachablePrintedOnceWhenLeaderIsFirst(t *testing.T) {
	c := newCluster(t, 4, nil)
	joinAll(c)
	c.crash(4)
	c.step(1, Suspect{Peer: 4})
	c.settle()
	c.detect(4)
	c.settle()
	for id := codec.PeerID(1); id <= 3; id++ {
		wantView(t, c, id, 5, 1, 1, 2, 3)
		wantLine(t, c, id, messageLine(id, 4, 1, "peer 4 unreachable"))
	}
}

func TestTestcase3CrashOneByOne(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	for dead := codec.PeerID(5); dead >= 2; dead-- {
		c.crash(dead)
		c.detect(dead)
		c.settle()
	}
	wantView(t, c, 1, 9, 1, 1)
	c.checkAgreement()
}

func TestTestcase4PendingDeleteFinishedByNewLeader(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	c.step(1, TestCase4{})
	if e := c.exits[1]; e == nil || !e.Flush {
		t.Fatalf("leader did not exit with a flush: %+v", e)
	}
	// The REQ reached 3, 4 and 5, not 2.
	c.settle()
	wantLine(t, c, 1, messageLine(1, 5, 1, "crashing"))
	c.detect(1)
	c.settle()
	for _, id := range ids(2, 3, 4) {
		wantView(t, c, id, 6, 2, 2, 3, 4)
		wantLine(t, c, id, messageLine(id, 5, 1, "peer 1 (leader) unreachable"))
		wantLine(t, c, id, messageLine(id, 5, 1, "peer 5 unreachable"))
	}
	if e := c.exits[5]; e == nil || e.Reason != "removed" {
		t.Fatalf("peer 5 should learn it was removed and exit: %+v\n%s", e, c.dump())
	}
	c.checkAgreement()
}

// Only the next leader detects the old leader: the others learn it from NEWLEADER.
func TestNewLeaderBeforeOthersDetect(t *testing.T) {
	c := newCluster(t, 4, nil)
	joinAll(c)
	c.crash(1)
	c.step(2, Suspect{Peer: 1})
	c.settle()
	for _, id := range ids(2, 3, 4) {
		wantView(t, c, id, 5, 2, 2, 3, 4)
		wantLine(t, c, id, messageLine(id, 4, 1, "peer 1 (leader) unreachable"))
	}
	c.detect(1) // late detections print nothing more
	c.settle()
	for _, id := range ids(3, 4) {
		wantLine(t, c, id, messageLine(id, 4, 1, "peer 1 (leader) unreachable"))
	}
}

// The leader crashes during an ADD, after its REQ reached some members.
func TestLeaderCrashDuringAdd(t *testing.T) {
	c := newCluster(t, 5, nil)
	for id := codec.PeerID(1); id <= 4; id++ {
		c.start(id)
		c.settle()
	}
	c.start(5)
	c.deliverOne(5, 1)                        // JOIN
	c.deliverOne(1, 2)                        // REQ ADD 5 reaches 2 only
	c.crash(1)                                // 3 and 4 never see it
	c.queues = map[[2]codec.PeerID][][]byte{} // and its OKs are lost
	c.detect(1)
	c.settle()
	c.tick(10) // peer 5 retries JOIN; the new leader adds it
	for _, id := range ids(2, 3, 4, 5) {
		if v := c.lastView(id); v.Leader != 2 || !slices.Equal(v.Members, ids(2, 3, 4, 5)) {
			t.Fatalf("peer %d: %+v\n%s", id, v, c.dump())
		}
	}
	c.checkAgreement()
}

// The leader crashes during a DEL, after collecting some OKs. Member 4 never
// saw the REQ (its connection broke), so the DEL cannot have committed: the
// new leader restarts it as its own and removes both in one change.
func TestLeaderCrashDuringDelete(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	c.crash(5)
	c.fail(1, 5)
	c.deliverOne(1, 2) // REQ DEL 5 to 2 and 3 only
	c.deliverOne(1, 3)
	delete(c.queues, [2]codec.PeerID{1, 4})
	c.deliverOne(2, 1) // one OK arrives
	c.crash(1)
	c.detect(1)
	c.detect(5)
	c.settle()
	for _, id := range ids(2, 3, 4) {
		wantView(t, c, id, 6, 2, 2, 3, 4)
	}
	c.checkAgreement()
}

// Every voter accepted the DEL, but the leader crashed before its NEWVIEW
// left: it may have printed view 6, so the new leader must make exactly that
// view, under the old leader's name, before removing it.
func TestLeaderCrashAfterEveryVoterAccepted(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	c.crash(5)
	c.fail(1, 5)
	for _, id := range ids(2, 3, 4) {
		c.deliverOne(1, id) // REQ
	}
	c.crash(1) // the OKs are lost
	c.detect(1)
	c.detect(5)
	c.settle()
	for _, id := range ids(2, 3, 4) {
		vs := c.views[id]
		if len(vs) < 2 || vs[len(vs)-2].ID != 6 || vs[len(vs)-2].Leader != 1 || !slices.Equal(vs[len(vs)-2].Members, ids(1, 2, 3, 4)) {
			t.Fatalf("peer %d: views %v, want view 6 of leader 1 [1,2,3,4] before the last\n%s", id, vs, c.dump())
		}
		wantView(t, c, id, 7, 2, 2, 3, 4)
	}
	c.checkAgreement()
}

// The leader crashes half-way through sending a NEWVIEW: peer 3 installed it,
// peers 2 and 4 did not. The new leader must bring them to the same view 6.
func TestLeaderCrashWhileSendingNewView(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	c.crash(5)
	c.fail(1, 5)
	for _, id := range ids(2, 3, 4) {
		c.deliverOne(1, id) // REQ
		c.deliverOne(id, 1) // OK
	}
	c.deliverOne(1, 3) // NEWVIEW 6 reaches 3 only
	c.crash(1)
	c.detect(1)
	c.settle()
	c.checkAgreement()
	for _, id := range ids(2, 3, 4) {
		vs := c.views[id]
		if !slices.ContainsFunc(vs, func(v View) bool { return v.ID == 6 && v.Leader == 1 }) {
			t.Fatalf("peer %d never installed view 6 of leader 1: %v", id, vs)
		}
		wantView(t, c, id, 7, 2, 2, 3, 4)
	}
}

// An ADD was committed and the NEWVIEW reached only the joiner, whose id is
// lower than the next leader's: the joiner is the one to take over.
func TestNewViewReachedOnlyTheJoiner(t *testing.T) {
	c := newCluster(t, 4, nil)
	c.start(1)
	c.settle()
	for _, id := range ids(3, 4) {
		c.start(id)
		c.settle()
	}
	c.start(2)
	c.deliverOne(2, 1) // JOIN
	for _, id := range ids(3, 4) {
		c.deliverOne(1, id)
		c.deliverOne(id, 1)
	}
	c.deliverOne(1, 2) // QUEUED
	c.deliverOne(1, 2) // NEWVIEW 4 [1,2,3,4] reaches 2 only
	c.crash(1)
	c.detect(1)
	c.settle()
	c.tick(20)
	c.checkAgreement()
	for _, id := range ids(2, 3, 4) {
		wantView(t, c, id, 5, 2, 2, 3, 4)
	}
}

func TestRemovedPeerExitsOrRejoins(t *testing.T) {
	for _, rejoin := range []bool{false, true} {
		c := newCluster(t, 3, func(cfg *Config) { cfg.Rejoin = rejoin })
		joinAll(c)
		// Peer 3 is paused past the probe: the others remove it while it
		// still runs. When it resumes it learns that it was removed.
		c.pause(3)
		c.detect(3)
		c.tick(6)
		wantView(t, c, 1, 4, 1, 1, 2)
		c.resume(3)
		c.settle()
		if rejoin {
			c.tick(10)
			wantView(t, c, 3, 5, 1, 1, 2, 3)
		} else if e := c.exits[3]; e == nil || e.Reason != "removed" {
			t.Fatalf("removed peer did not exit: %+v", e)
		}
		c.checkAgreement()
	}
}

func TestRestartedPeerJoinsAgain(t *testing.T) {
	c := newCluster(t, 3, nil)
	joinAll(c)
	c.crash(3)
	c.detect(3)
	c.settle()
	c.start(3)
	c.settle()
	for _, id := range ids(1, 2, 3) {
		wantView(t, c, id, 5, 1, 1, 2, 3)
	}
}

// Several joiners waiting at the leader enter in one view change.
func TestJoinsAreBatched(t *testing.T) {
	c := newCluster(t, 6, nil)
	c.start(1)
	c.start(2)
	c.settle()
	for id := codec.PeerID(3); id <= 6; id++ {
		c.start(id)
	}
	c.settle()
	// 3's JOIN finds the leader idle and gets its own change; 4, 5 and 6
	// wait during it and enter together.
	wantView(t, c, 1, 4, 1, 1, 2, 3, 4, 5, 6)
	c.checkAgreement()
}

// A joiner started after the first leader died gets in through a member.
func TestJoinAfterLeaderDied(t *testing.T) {
	c := newCluster(t, 4, nil)
	for id := codec.PeerID(1); id <= 3; id++ {
		c.start(id)
		c.settle()
	}
	c.crash(1)
	c.detect(1)
	c.settle()
	c.start(4)
	c.settle()
	c.tick(5) // 4 asks every host again: a member passes the JOIN on to 2
	wantView(t, c, 4, 5, 2, 2, 3, 4)
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
	c.step(2, Receive{Msg: &codec.NewView{From: 3, ViewID: 4, Leader: 1, Members: ids(1, 2), Epoch: 1, EpochLeader: 1}})
	wantView(t, c, 2, 4, 1, 1, 2)
	c.step(3, Receive{Msg: &codec.NewView{From: 2, ViewID: 4, Leader: 1, Members: ids(1, 2), Epoch: 1, EpochLeader: 1}})
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
func TestMemberLeaves(t *testing.T) {
	c := newCluster(t, 4, nil)
	joinAll(c)
	c.step(3, Leave{})
	c.settle()
	for _, id := range ids(1, 2, 4) {
		wantView(t, c, id, 5, 1, 1, 2, 4)
	}
	if e := c.exits[3]; e == nil || e.Reason != "left" || e.Code != 0 {
		t.Fatalf("peer 3 did not exit after leaving: %+v", e)
	}
	noUnreachable(t, c)
}

// The leader leaves: it hands over at once, with no timeout: the next member
// takes over and removes it with a LEAVE change.
func TestLeaderLeaves(t *testing.T) {
	c := newCluster(t, 4, nil)
	joinAll(c)
	c.step(1, Leave{})
	c.settle()
	for _, id := range ids(2, 3, 4) {
		wantView(t, c, id, 5, 2, 2, 3, 4)
	}
	if e := c.exits[1]; e == nil || e.Reason != "left" {
		t.Fatalf("peer 1 did not exit after leaving: %+v\n%s", e, c.dump())
	}
	noUnreachable(t, c)
}

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

func noUnreachable(t *testing.T, c *cluster) {
	t.Helper()
	for id := codec.PeerID(1); int(id) <= c.n; id++ {
		for _, l := range c.lines[id] {
			if strings.Contains(l, "unreachable") {
				t.Fatalf("peer %d printed %s\n%s", id, l, c.dump())
			}
		}
	}
}
