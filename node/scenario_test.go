package node

import (
	"slices"
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
	c := newCluster(t, 5, func(cfg *Config) { cfg.TestCase4 = cfg.Self == 1 })
	joinAll(c)
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

// The leader crashes during a DEL, after collecting some OKs.
func TestLeaderCrashDuringDelete(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	c.crash(5)
	c.step(1, Suspect{Peer: 5})
	c.deliverOne(1, 2) // REQ DEL 5 to 2 and 3 only
	c.deliverOne(1, 3)
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

// The leader crashes half-way through sending a NEWVIEW: peer 3 installed it,
// peers 2 and 4 did not. The new leader must bring them to the same view 6.
func TestLeaderCrashWhileSendingNewView(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	c.crash(5)
	c.step(1, Suspect{Peer: 5})
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
		// Peer 3 is paused: the others remove it while it still runs.
		c.detect(3)
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

// Stale traffic from an old view changes nothing.
func TestStaleMessagesIgnored(t *testing.T) {
	c := newCluster(t, 3, nil)
	joinAll(c)
	before := c.lastView(2)
	stale := []codec.Message{
		&codec.NewView{From: 1, ViewID: 2, Leader: 1, Members: ids(1, 2)},
		&codec.Req{From: 1, RequestID: 99, ViewID: 1, Op: codec.OpDel, Peers: ids(3)},
		&codec.NewView{From: 3, ViewID: 9, Leader: 3, Members: ids(2, 3)}, // not its leader
		&codec.OK{From: 3, RequestID: 5, ViewID: 3},
		&codec.NewLeader{From: 3, RequestID: 7, ViewID: 1, Op: codec.OpPending, Replaces: 1},
	}
	for _, m := range stale {
		c.step(2, Receive{Msg: m})
	}
	c.settle()
	if after := c.lastView(2); after.ID != before.ID {
		t.Fatalf("view changed: %+v -> %+v", before, after)
	}
}

// A starved peer (4) falsely suspects every lower peer, takes over with the
// one peer that follows it (5) and sends its view [4,5] to everyone. The real
// leader and the healthy members do not leave because of it: only the peer a
// member follows, or one that comes first once every lower member has failed
// here, may remove it. The group then removes 4 and 5 like any silent peers.
// (4 and 5 stay a group of their own until restarted: a false suspicion is a
// partition, which the contract leaves out; what matters is that it cannot
// take the healthy majority down.)
func TestFalseTakeoverCannotRemoveHealthyPeers(t *testing.T) {
	c := newCluster(t, 5, nil)
	joinAll(c)
	for _, p := range ids(2, 3, 1) {
		c.step(4, Suspect{Peer: p})
	}
	c.settle()
	if v := c.lastView(4); v.Leader != 4 || slices.Contains(v.Members, 1) {
		t.Fatalf("the starved peer did not take over: %+v\n%s", v, c.dump())
	}
	for _, id := range ids(1, 2, 3) {
		if !c.alive[id] {
			t.Fatalf("peer %d left after the starved peer's view: %+v\n%s", id, c.exits[id], c.dump())
		}
		wantView(t, c, id, 5, 1, 1, 2, 3, 4, 5)
	}
	if c.nodes[1].Role() != roleLeader.String() {
		t.Fatalf("peer 1 is %s, want leader", c.nodes[1].Role())
	}
	for _, id := range ids(1, 2, 3) {
		c.step(id, Suspect{Peer: 4})
		c.step(id, Suspect{Peer: 5})
	}
	c.settle()
	for _, id := range ids(1, 2, 3) {
		if v := c.lastView(id); v.Leader != 1 || !slices.Equal(v.Members, ids(1, 2, 3)) {
			t.Fatalf("peer %d: last view %+v, want leader 1 members [1 2 3]\n%s", id, v, c.dump())
		}
	}
}
