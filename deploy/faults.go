package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"peer/tools/testcase"
)

// Fault is a container fault beyond the course's testcases, run on the group
// of deploy/docker-compose-faults.yml with the default heartbeat settings and
// checked like a testcase: Case.Check on the exact stderr lines (agreement,
// increasing view ids, one unreachable line per failure, the expected final
// view), testcase.CheckLogs on the JSON logs, and exit codes.
type Fault struct {
	Name string // as given on the command line: kill-member, kill-leader, pause, late-join, partition-member, …
	What string
	File string // the compose file, relative to the repository root; FaultsFile when empty
	// steps drives the group and returns the expected end; exits are the peers
	// that must exit by themselves with code 0.
	steps func(ctx context.Context, g *Group) (c testcase.Case, exits []int, err error)
	extra func(out testcase.Output, logs string) []error
}

// Generous deadlines: a view change takes a timeout (1 s by default) and a few
// round trips; containers on a loaded machine start in seconds.
const (
	waitJoin   = 90 * time.Second
	waitChange = 60 * time.Second
	// quiet is how long a removed peer's return must leave the others' views
	// alone: several failure timeouts and retransmission periods.
	quiet = 5 * time.Second
	// pausedMore is how long the pause run keeps peer 4 paused after the
	// others removed it.
	pausedMore = 4 * time.Second
)

// Faults are the fault runs, in the order ./run.sh docker runs them.
var Faults = []Fault{
	{
		Name: "kill-member", What: "docker kill (SIGKILL) of member three: the others remove it",
		steps: func(ctx context.Context, g *Group) (testcase.Case, []int, error) {
			c := expect([]int{1, 2, 4, 5}, 1, "peer 3 unreachable")
			if err := upAll(ctx, g); err != nil {
				return c, nil, err
			}
			return c, nil, killAndWait(ctx, g, 3, c)
		},
	},
	{
		Name: "kill-leader", What: "docker kill (SIGKILL) of leader one: peer 2 leads the survivors",
		steps: func(ctx context.Context, g *Group) (testcase.Case, []int, error) {
			c := expect([]int{2, 3, 4, 5}, 2, "peer 1 (leader) unreachable")
			if err := upAll(ctx, g); err != nil {
				return c, nil, err
			}
			return c, nil, killAndWait(ctx, g, 1, c)
		},
	},
	{
		Name: "pause", What: "docker pause of member four past the timeout, then unpause: it was removed, exits 0, and disturbs no one",
		steps: func(ctx context.Context, g *Group) (testcase.Case, []int, error) {
			c := expect([]int{1, 2, 3, 5}, 1, "peer 4 unreachable")
			exits := []int{4}
			if err := upAll(ctx, g); err != nil {
				return c, exits, err
			}
			if err := g.Docker(ctx, "pause", 4); err != nil {
				return c, exits, err
			}
			if err := g.Wait(ctx, "the others remove paused peer 4", waitChange, done(c)); err != nil {
				return c, exits, err
			}
			// Stay paused well past the removal: on unpause every timer of
			// peer 4 is overdue at once.
			g.Say("peer 4 stays paused for another %v", pausedMore)
			select {
			case <-time.After(pausedMore):
			case <-ctx.Done():
				return c, exits, ctx.Err()
			}
			before := g.Snapshot()
			if err := g.Docker(ctx, "unpause", 4); err != nil {
				return c, exits, err
			}
			if err := g.Wait(ctx, "peer 4 learns it was removed and exits", waitChange, func(s Snapshot) bool {
				return allExited(s, exits)
			}); err != nil {
				return c, exits, err
			}
			g.Say("watching the others for %v", quiet)
			select {
			case <-time.After(quiet):
			case <-ctx.Done():
				return c, exits, ctx.Err()
			}
			after := g.Snapshot()
			for _, p := range c.Survivors {
				if n := len(before.Out.Stderr[p]); len(after.Out.Stderr[p]) > n {
					return c, exits, fmt.Errorf("peer %d printed after peer 4 came back: %q", p, after.Out.Stderr[p][n:])
				}
			}
			return c, exits, nil
		},
		extra: func(out testcase.Output, logs string) []error {
			return loggedEvent(logs, 4, "removed")
		},
	},
	{
		Name: "late-join", What: "leader one killed, then container five started late: it joins through peer 2",
		steps: func(ctx context.Context, g *Group) (testcase.Case, []int, error) {
			c := expect([]int{2, 3, 4, 5}, 2)
			if err := g.Up(ctx, Names[:4]...); err != nil {
				return c, nil, err
			}
			if err := g.Wait(ctx, "peers 1-4 in one view", waitJoin, done(expect([]int{1, 2, 3, 4}, 1))); err != nil {
				return c, nil, err
			}
			if err := killAndWait(ctx, g, 1, expect([]int{2, 3, 4}, 2)); err != nil {
				return c, nil, err
			}
			if err := g.Up(ctx, Names[4]); err != nil {
				return c, nil, err
			}
			return c, nil, g.Wait(ctx, "peer 5 joins through peer 2", waitJoin, done(c))
		},
		extra: func(out testcase.Output, _ string) []error {
			var errs []error
			for _, p := range []int{2, 3, 4} {
				if !slices.ContainsFunc(out.Stderr[p], func(s string) bool {
					return strings.HasSuffix(s, `message:"peer 1 (leader) unreachable"}`)
				}) {
					errs = append(errs, fmt.Errorf("peer %d never printed %q", p, "peer 1 (leader) unreachable"))
				}
			}
			return errs
		},
	},
}

// LookupFault returns the fault run (of Faults or Partitions) with this name.
func LookupFault(name string) (Fault, bool) {
	all := slices.Concat(Faults, Partitions)
	i := slices.IndexFunc(all, func(f Fault) bool { return f.Name == name })
	if i < 0 {
		return Fault{}, false
	}
	return all[i], true
}

// Fault runs one fault run and checks it.
func (r *Runner) Fault(ctx context.Context, f Fault) Report {
	file := f.File
	if file == "" {
		file = FaultsFile
	}
	g := r.group(file, "fault-"+f.Name, "fault-"+f.Name)
	rep := Report{Name: "FAULT " + f.Name, What: f.What, Logs: g.Logs}
	rep.Errs = r.run(ctx, g, func(ctx context.Context) (testcase.Case, []int, error) { return f.steps(ctx, g) }, f.extra)
	rep.Elapsed = time.Since(g.start)
	rep.Notes = g.Notes()
	return rep
}

// expect is the end where survivors are in one view led by leader, each
// having printed the unreachable lines.
func expect(survivors []int, leader int, unreachable ...string) testcase.Case {
	return testcase.Case{Survivors: survivors, FinalLeader: leader, FinalMembers: survivors, Unreachable: unreachable}
}

func done(c testcase.Case) func(Snapshot) bool {
	return func(s Snapshot) bool { return c.Done(s.Out) }
}

// upAll starts all five and waits until they are in one view led by peer 1.
func upAll(ctx context.Context, g *Group) error {
	if err := g.Up(ctx); err != nil {
		return err
	}
	return g.Wait(ctx, "all five in one view", waitJoin, done(expect([]int{1, 2, 3, 4, 5}, 1)))
}

// killAndWait SIGKILLs peer p's container and waits for the end c.
func killAndWait(ctx context.Context, g *Group, p int, c testcase.Case) error {
	if err := g.Docker(ctx, "kill", p); err != nil {
		return err
	}
	return g.Wait(ctx, fmt.Sprintf("the survivors %v in one view led by %d", c.Survivors, c.FinalLeader), waitChange, done(c))
}

// loggedEvent checks that peer p's JSON log has an event of this name.
func loggedEvent(logs string, p int, event string) []error {
	path := filepath.Join(logs, fmt.Sprintf("peer-%d.jsonl", p))
	events, err := testcase.ReadLog(path)
	if err != nil {
		return []error{err}
	}
	if !slices.ContainsFunc(events, func(e testcase.Event) bool { return e.Event == event }) {
		return []error{fmt.Errorf("%s: no %q event", path, event)}
	}
	return nil
}
