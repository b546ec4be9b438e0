package hostile

import (
	"testing"
	"time"
)

// A peer killed with SIGKILL and started again at once, before anyone's
// heartbeat timeout (60 s here) runs out. The new process's JOIN carries a
// new incarnation: the members learn from it that the old process is gone,
// report it, remove it and add the new one, long before any timeout could.
// The new process never takes its old self's place in the view. For the
// leader (restarted with -join), the next member takes over first.
func TestRestartBeforeDetection(t *testing.T) {
	const timeout = time.Minute // no detection can play a part
	flags := []string{"-hb-interval", hbInterval.String(), "-hb-timeout", timeout.String(), "-probe-timeout", "1s"}
	for _, tc := range []struct {
		name      string
		victim    int
		extra     []string
		survivors []int
		leader    int // of the last two views
	}{
		{"member", 3, nil, []int{1, 2, 4}, 1},
		{"leader", 1, []string{"-join"}, []int{2, 3, 4}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 4, flags...)
			for id := 1; id <= 4; id++ {
				c.start(id)
			}
			c.waitView(1, 2, 3, 4)
			m := c.mark()
			old := c.proc(tc.victim)
			if err := old.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the killed peer to exit", old.exited)
			start := time.Now()
			c.start(tc.victim, tc.extra...)
			c.waitView(1, 2, 3, 4)
			t.Logf("restart of peer %d: back in the view %v later (heartbeat timeout %v)", tc.victim, time.Since(start).Round(time.Millisecond), timeout)

			what := "peer 3 unreachable"
			if tc.victim == 1 {
				what = "peer 1 (leader) unreachable"
			}
			for _, id := range tc.survivors {
				c.checkLines(m, id, what, view(tc.leader, tc.survivors...), view(tc.leader, 1, 2, 3, 4))
			}
			// The new process printed only the view that added it.
			c.checkLines(mark{}, tc.victim, view(tc.leader, 1, 2, 3, 4))
			c.checkAlive(1, 2, 3, 4)
		})
	}
}
