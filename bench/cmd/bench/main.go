// Command bench measures peer against hashicorp/memberlist with real
// processes on loopback: formation time, removal and failover latency after
// kill -9, the view change after detection, and steady-state CPU and memory
// per process. It prints one table with both systems side by side and the
// memberlist ÷ peer ratios, checks the goals of issues 6 and 11, writes
// results/latest.json and results/latest.md, and draws the plot.
//
// Then, as root, the loss rows: a group of each system runs with a share of
// every inbound UDP datagram dropped by iptables in a network namespace of
// its own (TCP untouched), nobody crashing, for a window, and one member is
// killed with SIGKILL. It counts live members removed from some process's
// view, exits and peer's "unreachable" lines, and times the removal of the
// killed member (loss.go).
//
// The leave rows (leave.go): both systems at their defaults, SIGTERM of a
// member and then of the leader, timed to every survivor's membership
// without it, with peer's "unreachable" lines about them and the exits.
//
//	cd bench && go run ./cmd/bench              # the full run (./run.sh bench)
//	cd bench && go run ./cmd/bench -quick       # N=5,16 (leave rows N=5), two trials: a smoke run
//	cd bench && go run ./cmd/bench -loss-only   # only the loss rows
//	cd bench && go run ./cmd/bench -leave-only  # only the leave rows
//
// One process per node, one group per trial: the N processes of a variant are
// started at once with a fresh hostsfile of free 127.0.0.1 ports; times of
// events are the processes' own timestamps on their stdout lines (peer's
// zerolog JSON, mlnode's JSON), compared with the driver's clock read just
// before it started the first process or sent SIGKILL.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		quick     = flag.Bool("quick", false, "smoke run: N=5,16, 2 trials, 2 s window, plot into results/")
		nList     = flag.String("n", "5,16,64,128", "group sizes, comma-separated")
		vList     = flag.String("variants", "all", "variants, comma-separated: peer-100ms, peer-100ms-ff, ml-tuned, peer-default, ml-local")
		trials    = flag.Int("trials", 5, "trials (fresh groups) per variant and N")
		slow      = flag.Int("ml-local-trials", 3, "trials for memberlist's DefaultLocalConfig (seconds per removal)")
		window    = flag.Duration("window", 5*time.Second, "steady-state window for CPU and memory")
		out       = flag.String("out", "results/latest.json", "results as JSON")
		md        = flag.String("md", "results/latest.md", "table and targets as Markdown")
		svg       = flag.String("svg", "", "plot (default ../docs/img/benchmarks.svg; results/benchmarks.svg with -quick)")
		quiet     = flag.Bool("q", false, "no progress on stderr")
		seed      = flag.Uint64("seed", 6, "seed for choosing the victims")
		maxProcs  = flag.Int("max-n", 128, "skip group sizes above this")
		render    = flag.String("render", "", "do not measure: print the table and draw the plot from this results `file`")
		seeds     = flag.String("ml-seeds", "all", "what a memberlist node joins: all (every other node, as peer's hostsfile) or k (nodes 1..k)")
		lossR     = flag.String("loss", "0.01,0.05,0.2", "UDP loss `rates` for the loss rows at T=100ms (peer-100ms vs ml-tuned); none skips them")
		lossD     = flag.String("loss-defaults", "0.01", "UDP loss `rates` for the loss rows at the defaults (peer-default vs ml-local); none skips them")
		lossN     = flag.String("loss-n", "8", "group sizes for the loss rows, comma-separated")
		lossW     = flag.Duration("loss-window", 30*time.Second, "how long a group runs under loss before the kill, at T=100ms")
		lossWD    = flag.Duration("loss-window-defaults", 60*time.Second, "the same at the defaults")
		lossOnly  = flag.Bool("loss-only", false, "run only the loss rows (results/loss.json and results/loss.md; no plot)")
		leaveN    = flag.String("leave-n", "5,16", "group sizes for the leave rows (SIGTERM of a member, then of the leader; peer-default vs ml-local, -trials each), comma-separated; none skips them")
		leaveOnly = flag.Bool("leave-only", false, "run only the leave rows (results/leave.json and results/leave.md; no plot)")
	)
	flag.Parse()
	if *quick {
		if !isSet("n") {
			*nList = "5,16"
		}
		if !isSet("trials") {
			*trials = 2
		}
		if !isSet("ml-local-trials") {
			*slow = 2
		}
		if !isSet("window") {
			*window = 2 * time.Second
		}
		if !isSet("loss") {
			*lossR = "0.2"
		}
		if !isSet("loss-defaults") {
			*lossD = "none"
		}
		if !isSet("loss-window") {
			*lossW = 5 * time.Second
		}
		if !isSet("leave-n") {
			*leaveN = "5"
		}
	}
	only := ""
	switch {
	case *lossOnly:
		only = "loss"
	case *leaveOnly:
		only = "leave"
	}
	if only != "" && !isSet("out") {
		*out = "results/" + only + ".json"
	}
	if only != "" && !isSet("md") {
		*md = "results/" + only + ".md"
	}
	if *svg == "" && only == "" {
		*svg = "../docs/img/benchmarks.svg"
		if *quick {
			*svg = "results/benchmarks.svg"
		}
	}
	var ns []int
	var notes []string
	var all, lossNs, leaveNs []int
	for _, f := range []struct {
		name, list string
		to         *[]int
	}{{"n", *nList, &all}, {"loss-n", *lossN, &lossNs}, {"leave-n", *leaveN, &leaveNs}} {
		var err error
		if *f.to, err = parseSizes(f.list); err != nil || f.name == "n" && len(*f.to) == 0 {
			fmt.Fprintf(os.Stderr, "bench: -%s %q: want sizes >= 3\n", f.name, f.list)
			return 2
		}
	}
	for _, n := range all {
		switch {
		case n > *maxProcs:
		case n > 64 && !isSet("n") && runtime.NumCPU() < 4:
			notes = append(notes, fmt.Sprintf("N=%d skipped: %d CPUs do not hold it (peer's all-to-all heartbeats at N=128 are 32k datagrams/s at the default T=500ms and 160k at T=100ms); -n %d forces it", n, runtime.NumCPU(), n))
		default:
			ns = append(ns, n)
		}
	}
	if k, err := strconv.Atoi(*seeds); *seeds != "all" && (err != nil || k < 1) {
		fmt.Fprintf(os.Stderr, "bench: -ml-seeds %q: want all or a count >= 1\n", *seeds)
		return 2
	}
	mlSeeds = *seeds
	variants := selectVariants(*vList)
	var plans []lossPlan
	for _, p := range []struct {
		peer, ml, rates string
		window          time.Duration
	}{{"peer-100ms", "ml-tuned", *lossR, *lossW}, {"peer-default", "ml-local", *lossD, *lossWD}} {
		rates, err := parseRates(p.rates)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: loss rates %v\n", err)
			return 2
		}
		chosen := func(key string) bool {
			return slices.ContainsFunc(variants, func(v *variant) bool { return v.Key == key })
		}
		if len(rates) > 0 && chosen(p.peer) && chosen(p.ml) {
			plans = append(plans, lossPlan{peer: p.peer, ml: p.ml, rates: rates, window: p.window})
		}
	}
	var leaving []*variant
	for _, v := range variants {
		if slices.Contains(leaveVariants, v.Key) {
			leaving = append(leaving, v)
		}
	}
	if *lossOnly {
		ns, notes, leaveNs = nil, nil, nil
	}
	if *leaveOnly {
		ns, notes, plans = nil, nil, nil
	}
	if len(leaveNs) == 0 {
		leaving = nil
	}
	if len(variants) == 0 || len(ns) == 0 && len(plans) == 0 && len(leaving) == 0 {
		fmt.Fprintln(os.Stderr, "bench: nothing to run (check -n, -variants, -loss and -leave-n)")
		return 2
	}
	if err := chdirBench(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 2
	}

	if *render != "" {
		b, err := os.ReadFile(*render)
		res := &Results{}
		if err == nil {
			err = json.Unmarshal(b, res)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: -render: %v\n", err)
			return 1
		}
		res.Targets = res.targets()
		return report(res, *out, *md, *svg, "")
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		killAll()
		fmt.Fprintln(os.Stderr, "bench: interrupted; every process stopped")
		os.Exit(130)
	}()
	defer killAll()

	o := runOpts{trials: *trials, window: *window, logs: "results/logs", verbose: !*quiet, seed: *seed}
	progress := func(format string, args ...any) {
		if o.verbose {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}
	bins, err := build(progress)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: build: %v\n", err)
		return 1
	}
	os.RemoveAll(o.logs)

	res := &Results{Machine: machine(), Started: time.Now(), Quick: *quick, Trials: *trials, Ns: ns, Source: source(".."), Notes: notes, MLSeeds: mlSeeds}
	progress("machine: %s", res.Machine)
	progress("peer: %s", res.Source)
	for _, n := range notes {
		progress("%s", n)
	}
	for _, n := range ns {
		for _, v := range variants {
			ro := o
			if v.Key == "ml-local" {
				ro.trials = min(*slow, *trials)
			}
			progress("== %s, N=%d (%d trials)", v.Label, n, ro.trials)
			c := measure(v, bins, n, ro)
			res.Cells = append(res.Cells, c)
			progress("   %.1f s", c.ElapsedS)
		}
	}
	for _, n := range leaveNs {
		for _, v := range leaving {
			progress("== %s, N=%d: SIGTERM of a member, then of the leader (%d trials)", v.Label, n, o.trials)
			c := measureLeave(v, bins, n, o)
			res.Leave = append(res.Leave, c)
			progress("   %.1f s", c.ElapsedS)
		}
	}
	if len(plans) > 0 {
		if err := lossReady(); err != nil {
			note := fmt.Sprintf("loss rows skipped: %v", err)
			res.Notes = append(res.Notes, note)
			progress("%s", note)
			plans = nil
		}
	}
	for _, p := range plans {
		for _, n := range lossNs {
			for _, rate := range p.rates {
				for _, key := range []string{p.peer, p.ml} {
					v := byKeyVariant(key)
					progress("== %s, N=%d, %g%% UDP loss for %v", v.Label, n, 100*rate, p.window)
					c := measureLoss(v, bins, n, rate, p.window, o)
					res.Loss = append(res.Loss, c)
					progress("   %.1f s", c.ElapsedS)
				}
			}
		}
	}
	res.ElapsedS = time.Since(res.Started).Seconds()
	res.Targets = res.targets()
	return report(res, *out, *md, *svg, o.logs)
}

// report prints the table and the targets and writes the results, the
// Markdown and the plot.
func report(res *Results, out, md, svg, logs string) int {
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "Machine: %s. Measured %s, %.0f s. peer: %s.\n\n", res.Machine, res.Started.Format("2006-01-02 15:04"), res.ElapsedS, res.Source)
	for _, n := range res.Notes {
		fmt.Fprintf(&tbl, "Note: %s.\n\n", n)
	}
	if len(res.Cells) > 0 {
		res.table(&tbl)
		tbl.WriteString("\nRatios are memberlist ÷ peer of the p50 (or of the value): above 1, peer is faster or smaller.\n\n")
	}
	if len(res.Loss) > 0 {
		res.lossTables(&tbl)
	}
	if len(res.Leave) > 0 {
		res.leaveTable(&tbl)
	}
	tbl.WriteString("Targets (issues 6 and 11, and the graceful leave):\n\n")
	res.printTargets(&tbl)
	var errs strings.Builder
	res.printErrors(&errs)
	if errs.Len() > 0 {
		tbl.WriteString("\nTrials that failed:\n\n" + errs.String())
	}
	fmt.Print(tbl.String())

	status := 0
	if err := writeFile(md, []byte(tbl.String())); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		status = 1
	}
	if logs != "" { // a measurement, not a re-rendering
		if b, err := json.MarshalIndent(res, "", "  "); err == nil {
			if err := writeFile(out, append(b, '\n')); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %v\n", err)
				status = 1
			}
		}
	}
	wrote := []string{md}
	if logs != "" {
		wrote = append([]string{out}, wrote...)
	}
	if svg != "" && len(res.Cells) > 0 {
		var sb strings.Builder
		res.plot(&sb)
		if err := writeFile(svg, []byte(sb.String())); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			status = 1
		}
		wrote = append(wrote, svg)
	}
	fmt.Printf("\nwrote %s", strings.Join(wrote, ", "))
	if logs != "" {
		fmt.Printf("; process logs in %s", logs)
	}
	fmt.Println()
	return status
}

// parseSizes reads a comma-separated list of group sizes (each >= 3); ""
// and "none" are none.
func parseSizes(s string) ([]int, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 3 {
			return nil, fmt.Errorf("%q: want sizes >= 3", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// chdirBench moves to the bench module's directory (where go.mod says
// "module peer/bench"), from there or from the repository's root.
func chdirBench() error {
	for _, dir := range []string{".", "bench"} {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module peer/bench") {
			return os.Chdir(dir)
		}
	}
	return fmt.Errorf("run from the repository or its bench/ directory")
}

// build compiles peer from the main module, exactly as run.sh does (so the
// binary measured is the one shipped, without memberlist), and mlnode from
// this module.
func build(progress func(string, ...any)) (binaries, error) {
	abs, err := filepath.Abs("results/bin")
	if err != nil {
		return binaries{}, err
	}
	b := binaries{Peer: filepath.Join(abs, "peer"), ML: filepath.Join(abs, "mlnode")}
	progress("building %s and %s", b.Peer, b.ML)
	steps := []struct {
		dir  string
		args []string
	}{
		{"..", []string{"build", "-o", b.Peer, "./cmd/peer"}},
		{".", []string{"build", "-o", b.ML, "./cmd/mlnode"}},
	}
	for _, s := range steps {
		cmd := exec.Command("go", s.args...)
		cmd.Dir = s.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go %s in %s: %w", strings.Join(s.args, " "), s.dir, err)
		}
	}
	return b, nil
}
