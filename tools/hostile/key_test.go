package hostile

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"peer/codec"
	"peer/seal"
	"peer/wire"
)

// newKeyFile writes a fresh key with the documented -genkey.
func newKeyFile(t *testing.T, c *cluster, name string) string {
	t.Helper()
	path := filepath.Join(c.dir, name)
	if out, err := execPeer(c.bin, "-genkey", path); err != nil {
		t.Fatalf("-genkey: %v\n%s", err, out)
	}
	return path
}

// hasEvent waits until the peer's log has an event with the given name
// whose message contains text.
func hasEvent(t *testing.T, p *proc, name, text string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("peer %d to log %s %q", p.id, name, text), func() bool {
		for _, e := range p.events(name) {
			if msg, _ := e["message"].(string); strings.Contains(msg, text) {
				return true
			}
		}
		return false
	})
}

// TestWrongKey: a group with a cluster key. A peer of the hostsfile with
// another key, and one with no key, cannot join and say why in their logs;
// the group logs the failed authentication. Plain and wrongly sealed
// messages and heartbeats injected at the members change nothing. Then the
// same peer with the right key joins, and that is the only view change.
func TestWrongKey(t *testing.T) {
	c := newCluster(t, 5, hbFlags...)
	key := newKeyFile(t, c, "cluster.key")
	other := newKeyFile(t, c, "other.key")
	for _, id := range []int{1, 2, 3} {
		c.start(id, "-key", key)
	}
	c.waitView(1, 2, 3)
	m := c.mark()
	start := time.Now()

	wrong := c.start(4, "-key", other)
	none := c.start(5)
	hasEvent(t, wrong, "auth_refused", "cluster key mismatch")
	hasEvent(t, none, "auth_refused", "it has a cluster key and this peer has none")
	hasEvent(t, c.proc(1), "auth_failed", "wrong or missing cluster key")

	// Injection: a NEWVIEW that would remove peer 2, plain and sealed with
	// the wrong key, is refused with a refusal frame and the connection closed.
	otherKey, err := seal.LoadKey(other)
	if err != nil {
		t.Fatal(err)
	}
	evil, _ := codec.Marshal(&codec.NewView{From: 1, ViewID: 1 << 40, Leader: 1, Members: []codec.PeerID{1}, Epoch: 1 << 40, EpochLeader: 1,
		Incarnations: []uint64{1}})
	for name, payload := range map[string][]byte{
		"plain":     evil,
		"wrong key": otherKey.Seal(nil, 1, []byte("whatever context"), evil),
	} {
		conn, err := net.Dial("tcp", c.addr(2))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := wire.ReadFrame(conn, 256, nil); err != nil {
			t.Fatalf("%s: greeting: %v", name, err)
		}
		conn.Write(frame(payload))
		reply, err := wire.ReadFrame(conn, 256, nil)
		if err != nil || !bytes.Contains(reply, []byte("cluster key mismatch")) {
			t.Fatalf("%s: reply %q, %v; want a refusal", name, reply, err)
		}
		conn.Close()
	}
	// Heartbeats: a plain one would keep anyone alive in a group without a
	// key; here it is refused, like one sealed with the wrong key.
	plainHB, _ := codec.Marshal(&codec.Heartbeat{From: 3, ViewID: 1 << 40, Seq: 1 << 62})
	for _, id := range []int{1, 2, 3} {
		attackUDP(t, c.addr(id), [][]byte{plainHB, append([]byte{0xC5}, otherKey.Seal(nil, 3, nil, plainHB)...)})
	}
	hasEvent(t, c.proc(2), "auth_failed", "heartbeat refused")

	// Nothing changed, over a failure detection's worth of time.
	quietFor(start, 2*hbTimeout)
	for _, id := range []int{1, 2, 3, 4, 5} {
		c.checkLines(m, id)
	}
	c.checkAlive(1, 2, 3, 4, 5)

	// The same peer with the right key gets in.
	wrong.cmd.Process.Signal(os.Interrupt)
	<-wrong.done
	c.start(4, "-key", key)
	c.waitView(1, 2, 3, 4)
	for _, id := range []int{1, 2, 3, 4} {
		c.checkLines(m, id, view(1, 1, 2, 3, 4))
	}
	c.checkLines(m, 5)
	c.checkAlive(1, 2, 3, 4, 5)
}

func execPeer(bin string, args ...string) ([]byte, error) {
	return exec.Command(bin, args...).CombinedOutput()
}
