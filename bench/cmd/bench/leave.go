package main

import (
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// Graceful leave. A fresh group per trial; once it formed and was quiet,
// SIGTERM to a non-leader (the kill rows' victim), then, quiet again, to
// node 1 (peer's leader; memberlist's first seed). peer's member asks the
// leader to remove it and exits once the view without it is committed; its
// leader hands over. mlnode calls memberlist's Leave and then Shutdown.

// leaveVariants are the variants the leave rows run: both systems at their
// defaults.
var leaveVariants = []string{"peer-default", "ml-local"}

// LeaveCell is every leave trial of one variant at one N. Durations are in
// milliseconds, one entry per leave that every survivor saw.
type LeaveCell struct {
	Variant string `json:"variant"`
	System  string `json:"system"`
	N       int    `json:"n"`
	Trials  int    `json:"trials"`

	// Member: SIGTERM of a non-leader -> the last survivor whose membership
	// lacks it (peer: a view without it; memberlist: its NotifyLeave).
	// Leader: the same for node 1 (peer: a view without it, led by the
	// lowest survivor).
	Member []float64 `json:"leave_member_ms"`
	Leader []float64 `json:"leave_leader_ms"`
	// MemberExit, LeaderExit: SIGTERM -> the leaving process had ended by
	// itself (the driver's clock); Leaves counts the SIGTERMs sent and
	// NotExited the processes still running v.deadline after theirs.
	MemberExit []float64 `json:"leave_member_exit_ms"`
	LeaderExit []float64 `json:"leave_leader_exit_ms"`
	Leaves     int       `json:"leaves"`
	NotExited  []string  `json:"not_exited,omitempty"`
	// Unreachable counts peer's "unreachable" lines on stderr (each printed
	// with a peer_unreachable event on stdout) about a node after its
	// SIGTERM, over every process of every trial; UnreachableOther the
	// others. FalseRemovals: a member that did not leave dropped by some
	// process.
	Unreachable      int `json:"unreachable_leaving"`
	UnreachableOther int `json:"unreachable_other"`
	FalseRemovals    int `json:"false_removals"`

	Errors   []string `json:"errors,omitempty"`
	ElapsedS float64  `json:"elapsed_s"`
}

// measureLeave runs the leave trials of one variant at one N.
func measureLeave(v *variant, bins binaries, n int, o runOpts) *LeaveCell {
	c := &LeaveCell{Variant: v.Key, System: v.System, N: n, Trials: o.trials}
	began := time.Now()
	runTrials(o, &c.Errors, func() bool { return len(c.Member) == 0 }, func(k int) error {
		return leaveTrial(v, bins, n, k, o, c)
	})
	c.ElapsedS = time.Since(began).Seconds()
	return c
}

func leaveTrial(v *variant, bins binaries, n, k int, o runOpts, c *LeaveCell) error {
	dir := filepath.Join(o.logs, fmt.Sprintf("leave-%s-N%d-t%d", v.Key, n, k+1))
	cl, _, err := start(v, bins, n, dir, launch{})
	if err != nil {
		return err
	}
	defer cl.close()
	err = leaves(cl, v, n, k, o, c)
	c.count(cl) // before close's SIGKILLs
	return err
}

// leaves waits for the group to form, then makes a member and then the
// leader leave, each once the group is quiet.
func leaves(cl *cluster, v *variant, n, k int, o runOpts, c *LeaveCell) error {
	if _, err := cl.wait(v.deadline(n)); err != nil {
		return fmt.Errorf("formation: %w", err)
	}
	for _, s := range []struct {
		id         int
		what       string
		took, exit *[]float64
	}{
		{victimOf(o.seed, n, k), "member", &c.Member, &c.MemberExit},
		{1, "leader", &c.Leader, &c.LeaderExit},
	} {
		if _, err := cl.settle(v.settle(), settleLimit); err != nil {
			return err
		}
		alive := cl.alive()
		leader := alive[0] // peer's leader; the lowest survivor takes over from it
		if s.id == leader {
			leader = alive[1]
		}
		total, _, _, err := removal(cl, v, len(alive), s.id, leader, syscall.SIGTERM)
		if err != nil {
			return fmt.Errorf("SIGTERM of %d (%s): %w", s.id, s.what, err)
		}
		*s.took = append(*s.took, total)
		c.Leaves++
		exit := "still running"
		if at, ok := cl.exited(s.id, v.deadline(n)); ok {
			d := ms(at.Sub(cl.killedAt(s.id)))
			*s.exit = append(*s.exit, d)
			exit = "exited after " + fmtMS(d)
		} else {
			c.NotExited = append(c.NotExited, fmt.Sprintf("trial %d: node %d (%s) still running %v after SIGTERM", k+1, s.id, s.what, v.deadline(n)))
		}
		logf(o, "    trial %d: SIGTERM of %d (%s): every survivor without it after %s; %s", k+1, s.id, s.what, fmtMS(total), exit)
	}
	// Quiet again: an "unreachable" that a leave set off is printed by now.
	_, err := cl.settle(v.settle(), settleLimit)
	return err
}

// count adds what the processes of a leave trial printed: the
// "unreachable" lines about a node after the driver sent it SIGTERM, those
// about anyone else, and the members dropped that had not left.
func (c *LeaveCell) count(cl *cluster) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, p := range cl.procs {
		for _, m := range p.unreach {
			if m.peer >= 1 && m.peer <= len(cl.procs) && cl.procs[m.peer-1].killed && !m.at.Before(cl.procs[m.peer-1].killAt) {
				c.Unreachable++
			} else {
				c.UnreachableOther++
			}
		}
		c.FalseRemovals += len(p.falsely)
	}
}
