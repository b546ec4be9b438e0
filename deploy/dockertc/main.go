// Command dockertc runs the course's compose testcases, the container fault
// runs and the partition runs on the local Docker engine and checks them
// (./run.sh docker).
//
//	dockertc [flags] [1 2 3 4 | faults | kill-member kill-leader pause late-join |
//	         partition | partition-member partition-leader partition-split | source]
//
// With no arguments it runs the four testcases, then the fault runs, then
// the partition runs. It first
// builds image prj3 from deploy/Dockerfile.local with the peer compiled on
// this machine (nothing is pulled), unless -no-build. Each run's stderr lines
// are shown as they happen; after each run it prints PASS or FAIL with the
// reasons, and it exits non-zero if any failed. Containers and networks are
// removed after every run, also on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"peer/deploy"
	"peer/tools/testcase"
)

func main() {
	os.Exit(run())
}

func run() int {
	dir := flag.String("C", ".", "the repository `root` (compose files, hostsfile.txt)")
	logs := flag.String("logs", "logs/docker", "log `directory`: one folder per run")
	noBuild := flag.Bool("no-build", false, "use the existing image prj3 instead of building it")
	quiet := flag.Bool("q", false, "do not show the peers' lines as they happen")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: dockertc [flags] [1 2 3 4 | faults | "+faultNames(deploy.Faults)+" | partition | "+faultNames(deploy.Partitions)+" | source]")
		flag.PrintDefaults()
	}
	flag.Parse()

	type job struct {
		c      *testcase.Case
		fault  *deploy.Fault
		source bool
	}
	var jobs []job
	args := flag.Args()
	if len(args) == 0 {
		args = []string{"1", "2", "3", "4", "faults", "partition"}
	}
	for _, a := range args {
		if n, err := strconv.Atoi(strings.TrimPrefix(a, "tc")); err == nil {
			c, ok := testcase.Lookup(n)
			if !ok {
				fmt.Fprintf(os.Stderr, "dockertc: unknown testcase %q (want 1, 2, 3 or 4)\n", a)
				return 2
			}
			jobs = append(jobs, job{c: &c})
			continue
		}
		if a == "source" {
			jobs = append(jobs, job{source: true})
			continue
		}
		if a == "faults" {
			for i := range deploy.Faults {
				jobs = append(jobs, job{fault: &deploy.Faults[i]})
			}
			continue
		}
		if a == "partition" {
			for i := range deploy.Partitions {
				jobs = append(jobs, job{fault: &deploy.Partitions[i]})
			}
			continue
		}
		f, ok := deploy.LookupFault(a)
		if !ok {
			fmt.Fprintf(os.Stderr, "dockertc: unknown run %q (want 1, 2, 3, 4, faults, %s, partition, %s, source)\n", a,
				faultNames(deploy.Faults), faultNames(deploy.Partitions))
			return 2
		}
		jobs = append(jobs, job{fault: &f})
	}

	// SIGPIPE too: when stdout goes away (| head), stop and tear down rather
	// than die with the containers up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer stop()
	eng, err := deploy.FindEngine(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dockertc: %v\n", err)
		if errors.Is(err, deploy.ErrNoEngine) {
			return 3
		}
		return 1
	}
	fmt.Printf("== Docker engine %s (%s/%s), compose command: %s\n", eng.Version, eng.OS, eng.Arch, strings.Join(eng.Compose, " "))
	if !*noBuild {
		fmt.Printf("== image %s: go build (%s/%s, static) + docker build -f deploy/Dockerfile.local (nothing pulled)\n", deploy.Image, eng.OS, eng.Arch)
		start := time.Now()
		if err := eng.BuildLocal(ctx, *dir, deploy.Image); err != nil {
			fmt.Fprintf(os.Stderr, "dockertc: %v\n", err)
			return 1
		}
		fmt.Printf("   built in %.1fs\n", time.Since(start).Seconds())
	}

	r := &deploy.Runner{Engine: eng, Dir: *dir, Logs: *logs}
	if !*quiet {
		r.Live = os.Stdout
	}
	say := func(format string, a ...any) {
		if !*quiet {
			fmt.Printf("  "+format+"\n", a...)
		}
	}
	failed := 0
	var summary []string
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		var rep deploy.Report
		if j.source {
			fmt.Printf("=== SOURCE: ./Dockerfile's own path (docker build .) on a local stand-in for golang:1.26, compared with image %s\n", deploy.Image)
			start := time.Now()
			rep = deploy.Report{Name: "SOURCE Dockerfile", Logs: "-"}
			rep.Errs = eng.CheckSource(ctx, *dir, deploy.Image, say)
			rep.Elapsed = time.Since(start)
		} else if j.c != nil {
			fmt.Printf("=== TESTCASE %d: %s (%s, unmodified, default heartbeat)\n", j.c.N, j.c.Name, deploy.CaseFile(j.c.N))
			rep = r.Case(ctx, *j.c)
		} else {
			fmt.Printf("=== FAULT %s: %s\n", j.fault.Name, j.fault.What)
			rep = r.Fault(ctx, *j.fault)
		}
		rep.Print(os.Stdout)
		if !rep.Pass() && *quiet {
			// The lines were not shown as they happened: show what each peer printed.
			for p := 1; p <= 5; p++ {
				if b, err := os.ReadFile(filepath.Join(rep.Logs, fmt.Sprintf("peer-%d.stderr", p))); err == nil {
					fmt.Printf("      peer %d stderr:\n%s", p, indent(string(b), "        "))
				}
			}
		}
		verdict := "PASS"
		if !rep.Pass() {
			verdict = "FAIL"
			failed++
		}
		summary = append(summary, fmt.Sprintf("%s %s (%.1fs)", verdict, rep.Name, rep.Elapsed.Seconds()))
	}
	fmt.Println("== docker summary")
	for _, s := range summary {
		fmt.Println("   " + s)
	}
	if ctx.Err() != nil {
		fmt.Println("interrupted: containers and networks removed")
		return 1
	}
	if failed > 0 {
		fmt.Printf("%d of %d container runs FAILED\n", failed, len(jobs))
		return 1
	}
	fmt.Printf("all %d container runs PASS\n", len(jobs))
	return 0
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func faultNames(faults []deploy.Fault) string {
	var names []string
	for _, f := range faults {
		names = append(names, f.Name)
	}
	return strings.Join(names, " ")
}
