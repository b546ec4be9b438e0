// Command tc runs the course's testcases as local processes and checks them.
//
//	tc [flags] [1 2 3 4]
//
// Each peer's stderr lines are shown as they happen; after each testcase tc
// prints PASS or FAIL with the reasons, and exits non-zero if any failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"peer/tools/testcase"
)

func main() {
	bin := flag.String("bin", "bin/peer", "the peer `binary`")
	logs := flag.String("logs", "logs", "log `directory`: one folder per testcase")
	hosts := flag.String("hosts", "", "hostsfile (default: generate one with free 127.0.0.1 ports)")
	scale := flag.Float64("scale", 0.5, "multiply the course's -d and -c seconds by this `factor`")
	interval := flag.Duration("hb-interval", 100*time.Millisecond, "heartbeat period passed to every peer")
	timeout := flag.Duration("hb-timeout", 300*time.Millisecond, "failure timeout passed to every peer")
	level := flag.String("log-level", "debug", "peers' stdout log level")
	quiet := flag.Bool("q", false, "do not show the peers' lines as they happen")
	flag.Parse()

	cases := flag.Args()
	if len(cases) == 0 {
		cases = []string{"1", "2", "3", "4"}
	}
	failed := 0
	for _, arg := range cases {
		n, err := strconv.Atoi(arg)
		c, ok := testcase.Lookup(n)
		if err != nil || !ok {
			fmt.Fprintf(os.Stderr, "tc: unknown testcase %q (want 1, 2, 3 or 4)\n", arg)
			os.Exit(2)
		}
		run := &testcase.Local{
			Binary:    *bin,
			Dir:       filepath.Join(*logs, "tc"+arg),
			HostsFile: *hosts,
			Scale:     *scale,
			Extra:     []string{"-hb-interval", interval.String(), "-hb-timeout", timeout.String(), "-log-level", *level},
		}
		if !*quiet {
			run.Live = os.Stdout
		}
		fmt.Printf("=== TESTCASE %d: %s (course timings x%g)\n", n, c.Name, *scale)
		res, err := run.Run(context.Background(), c)
		if err != nil {
			fmt.Printf("--- FAIL TESTCASE %d: %v\n", n, err)
			failed++
			continue
		}
		errs := append(c.Check(res.Output), testcase.CheckLogs(run.Dir, res.Output)...)
		if len(errs) > 0 {
			fmt.Printf("--- FAIL TESTCASE %d (%.1fs, logs in %s)\n", n, res.Elapsed.Seconds(), run.Dir)
			for _, e := range errs {
				fmt.Printf("      %v\n", e)
			}
			failed++
			continue
		}
		fmt.Printf("--- PASS TESTCASE %d (%.1fs, logs in %s)\n", n, res.Elapsed.Seconds(), run.Dir)
	}
	if failed > 0 {
		fmt.Printf("%d of %d testcases FAILED\n", failed, len(cases))
		os.Exit(1)
	}
	fmt.Printf("all %d testcases PASS\n", len(cases))
}
