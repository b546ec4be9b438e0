package deploy

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"peer/tools/testcase"
)

// Runner runs compose testcases and fault runs on an engine and checks them.
type Runner struct {
	Engine *Engine
	Dir    string    // the repository root (compose files, hostsfile.txt)
	Logs   string    // one folder per run below this
	Live   io.Writer // every stderr line and action as it happens, or nil
}

// Report is the result of one run: no Errs means PASS.
type Report struct {
	Name    string // "TESTCASE 3", "FAULT pause"
	What    string
	Logs    string
	Elapsed time.Duration
	Errs    []error
	Notes   []string // what the run measured, one line each
}

// Pass reports whether the run passed.
func (r Report) Pass() bool { return len(r.Errs) == 0 }

// Print writes the run's PASS or FAIL line and its reasons.
func (r Report) Print(w io.Writer) {
	verdict := "PASS"
	if !r.Pass() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "--- %s %s (%.1fs, logs in %s)\n", verdict, r.Name, r.Elapsed.Seconds(), r.Logs)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "      %s\n", n)
	}
	for _, e := range r.Errs {
		fmt.Fprintf(w, "      %v\n", e)
	}
}

func (r *Runner) group(file, project, logs string) *Group {
	dir, err := filepath.Abs(r.Dir)
	if err != nil {
		dir = r.Dir
	}
	return &Group{Engine: r.Engine, Dir: dir, File: file, Project: ProjectPrefix + project,
		Logs: filepath.Join(r.Logs, logs), Live: r.Live}
}

// Case runs course testcase c from its compose file, unmodified, on the
// default heartbeat settings: compose up, wait until every survivor ends in
// the final view and every peer that should exit has exited, collect the
// logs, compose down. The stderr lines are checked with Case.Check, the JSON
// logs with testcase.CheckLogs, and the exit codes: survivors still run,
// crashed and removed peers exited with 0.
func (r *Runner) Case(ctx context.Context, c testcase.Case) Report {
	g := r.group(CaseFile(c.N), "tc"+strconv.Itoa(c.N), "tc"+strconv.Itoa(c.N))
	rep := Report{Name: fmt.Sprintf("TESTCASE %d", c.N), What: c.Name, Logs: g.Logs}
	exits := slices.Concat(c.Crashed, c.Removed)
	timeout := time.Duration(timeline(c)+90) * time.Second
	rep.Errs = r.run(ctx, g, func(ctx context.Context) (testcase.Case, []int, error) {
		if err := g.Up(ctx); err != nil {
			return c, exits, err
		}
		return c, exits, g.Wait(ctx, "the testcase's end", timeout, func(s Snapshot) bool {
			return c.Done(s.Out) && allExited(s, exits)
		})
	}, nil)
	rep.Elapsed = time.Since(g.start)
	return rep
}

// run clears leftovers, calls steps, collects and checks what the peers
// printed against the case steps returns (and with extra, when set), and
// always tears the group down. steps also returns the peers that must have
// exited by themselves with code 0.
func (r *Runner) run(ctx context.Context, g *Group, steps func(context.Context) (testcase.Case, []int, error),
	extra func(out testcase.Output, logs string) []error) (errs []error) {
	defer func() {
		if err := g.Down(); err != nil {
			errs = append(errs, err)
		}
	}()
	if err := g.Clear(ctx); err != nil {
		return []error{err}
	}
	c, exits, err := steps(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	out, cerr := g.Collect(cctx)
	if cerr != nil {
		return append(errs, cerr)
	}
	errs = append(errs, earliestFirst(c, out).Check(out)...)
	errs = append(errs, testcase.CheckLogs(g.Logs, out)...)
	if extra != nil {
		errs = append(errs, extra(out, g.Logs)...)
	}
	s := g.Snapshot()
	for _, p := range slices.Concat(c.Survivors, c.Rejoined) {
		if code, ok := s.Exited[p]; ok {
			errs = append(errs, fmt.Errorf("peer %d should still run but exited with code %d", p, code))
		}
	}
	for _, p := range exits {
		if code, ok := s.Exited[p]; ok && code != 0 {
			errs = append(errs, fmt.Errorf("peer %d exited with code %d, want 0", p, code))
		} else if !ok {
			errs = append(errs, fmt.Errorf("peer %d did not exit", p))
		}
	}
	return errs
}

// earliestFirst returns c with its survivors ordered by the first view each
// installed. Case.Check compares every survivor's view ids with those of the
// first survivor, which must therefore be the one that joined first; in the
// course's testcases that is peer 1 or 2, but in the fault runs peers join
// together and any of them may be first.
func earliestFirst(c testcase.Case, out testcase.Output) testcase.Case {
	first := func(p int) int {
		for _, s := range out.Stderr[p] {
			if l, err := testcase.ParseLine(s); err == nil && l.IsView {
				return l.View
			}
		}
		return math.MaxInt
	}
	c.Survivors = slices.Clone(c.Survivors)
	slices.SortStableFunc(c.Survivors, func(a, b int) int { return cmp.Compare(first(a), first(b)) })
	return c
}

func allExited(s Snapshot, peers []int) bool {
	for _, p := range peers {
		if _, ok := s.Exited[p]; !ok {
			return false
		}
	}
	return true
}

// timeline is the course seconds until testcase c's last scheduled event.
func timeline(c testcase.Case) float64 {
	end := 0.0
	for _, f := range c.Flags {
		end = max(end, flag(f, "-d")+flag(f, "-c"))
	}
	return end
}

func flag(flags []string, name string) float64 {
	for i := 0; i+1 < len(flags); i++ {
		if flags[i] == name {
			v, _ := strconv.ParseFloat(flags[i+1], 64)
			return v
		}
	}
	return 0
}
