package hostile

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestPausedPeer stops a peer with SIGSTOP for longer than the failure
// timeout, so the others remove it, then resumes it with SIGCONT. The
// resumed peer comes back with its old view; it must change nobody's view
// with its old messages. It learns that it was removed (the leader answers
// its old view id with the current view) and exits cleanly with code 0, or,
// with -rejoin, joins again. A later join of a spare peer is the only other
// view change.
func TestPausedPeer(t *testing.T) {
	cases := []struct {
		name   string
		paused int
		rejoin bool
		// What the survivors print between the pause and the spare's join.
		survivors []int
		printed   []string
		final     []int // the group after the spare (4) joined
	}{
		{
			name: "member", paused: 3, survivors: []int{1, 2},
			printed: []string{"peer 3 unreachable", view(1, 1, 2)},
			final:   []int{1, 2, 4},
		},
		{
			name: "leader", paused: 1, survivors: []int{2, 3},
			printed: []string{"peer 1 (leader) unreachable", view(2, 2, 3)},
			final:   []int{2, 3, 4},
		},
		{
			name: "member with -rejoin", paused: 3, rejoin: true, survivors: []int{1, 2},
			printed: []string{"peer 3 unreachable", view(1, 1, 2), view(1, 1, 2, 3)},
			final:   []int{1, 2, 3, 4},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 4, hbFlags...)
			for id := 1; id <= 3; id++ {
				if id == tc.paused && tc.rejoin {
					c.start(id, "-rejoin")
				} else {
					c.start(id)
				}
			}
			c.waitView(1, 2, 3)
			m := c.mark()
			p := c.proc(tc.paused)
			if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			c.waitView(tc.survivors...)
			// Well past the timeout: the paused peer's own detector will see
			// a stall when it wakes.
			time.Sleep(2 * hbTimeout)
			if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			resumed := time.Now()
			if tc.rejoin {
				c.waitView(1, 2, 3)
				c.checkLines(m, 3, view(1, 1, 2, 3))
			} else {
				select {
				case <-p.done:
				case <-time.After(waitLimit):
					t.Fatalf("the resumed peer %d did not exit", tc.paused)
				}
				if code := p.exitCode(); code != 0 {
					t.Fatalf("the resumed peer exited with %d", code)
				}
				if len(p.events("removed")) != 1 {
					t.Fatalf("the resumed peer did not log that it was removed")
				}
				c.checkLines(m, tc.paused) // nothing: no unreachable lines after its stall
			}
			// Its old messages, heartbeats and retransmissions have had a
			// failure detection's worth of time to do harm.
			quietFor(resumed, 2*hbTimeout+hbInterval)
			for _, id := range tc.survivors {
				c.checkLines(m, id, tc.printed...)
			}
			c.checkAlive(tc.survivors...)

			c.start(4)
			v := c.waitView(tc.final...)
			for _, id := range tc.final {
				want := append([]string(nil), tc.printed...)
				switch id {
				case 4:
					want = nil
				case tc.paused:
					want = []string{view(1, 1, 2, 3)}
				}
				want = append(want, view(v.Leader, tc.final...))
				c.checkLines(m, id, want...)
			}
			c.checkAlive(tc.final...)
			t.Log(fmt.Sprintf("final view %d %v leader %d", v.View, v.Members, v.Leader))
		})
	}
}
