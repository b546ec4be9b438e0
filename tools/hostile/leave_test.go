package hostile

import (
	"syscall"
	"testing"
	"time"
)

// SIGTERM is a graceful leave: the peer asks to be removed and exits once it
// is. The others install a view without it, printed like any other, and no
// one prints "unreachable". A leader that leaves hands over at once, with no
// timeout to wait for. (The timeout here is 1 s: a removal well under it
// shows that no failure detection was involved.)
func TestGracefulLeave(t *testing.T) {
	c := newCluster(t, 5, hbFlags...)
	for id := 1; id <= 5; id++ {
		c.start(id)
	}
	c.waitView(1, 2, 3, 4, 5)
	m := c.mark()

	leave := func(id int, survivors ...int) {
		t.Helper()
		p := c.proc(id)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.waitView(survivors...)
		took := time.Since(start)
		waitFor(t, "the leaving peer to exit", p.exited)
		if code := p.exitCode(); code != 0 {
			t.Fatalf("peer %d exited with code %d after leaving", id, code)
		}
		if len(p.events("leaving")) != 1 {
			t.Fatalf("peer %d logged no leaving event", id)
		}
		t.Logf("SIGTERM of peer %d: every survivor's view without it %v later (timeout %v)", id, took.Round(time.Millisecond), hbTimeout)
	}
	leave(3, 1, 2, 4, 5)
	leave(1, 2, 4, 5)
	for _, id := range []int{2, 4, 5} {
		c.checkLines(m, id, view(1, 1, 2, 4, 5), view(2, 2, 4, 5))
	}
	c.checkAlive(2, 4, 5)
}
