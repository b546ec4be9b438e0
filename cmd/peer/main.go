// Command peer is one member of the group membership service: it parses
// flags and runs a member of package membership, which does the work. It
// adds what belongs to a process: the -d delay, signals (the first SIGTERM
// or SIGINT leaves the group gracefully, a second one stops at once), the
// hostsfile watcher, -pprof and -genkey.
//
// stderr carries exactly the assignment's lines (views, unreachable peers,
// crashing); stdout carries the structured log, one JSON object per line.
//
// `peer status` asks running peers (started with -status) for their state
// and prints a table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"peer/membership"
	"peer/seal"
)

func main() {
	// One processor unless GOMAXPROCS says otherwise: a peer is one event
	// loop and a few goroutines that each wait for a socket, so a second
	// processor buys no throughput, while handing an event to another thread
	// wakes it, which is most of an idle peer's CPU time and of a view
	// change's latency on a loaded machine (docs/benchmarks.md).
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	hostsFile   string
	delay       float64
	crashAfter  float64
	testCase4   bool
	id          int
	hbInterval  time.Duration
	hbTimeout   time.Duration
	logLevel    string
	port        int
	join        bool
	rejoin      bool
	pprof       string
	retryPeriod time.Duration
	probeWait   time.Duration
	fastFail    bool
	keyFile     string
	genKey      string
	status      string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by run
	fs.Usage = func() {}     // a parse error is reported in one line by run; -help prints usage below
	fs.StringVar(&o.hostsFile, "h", "", "hostsfile: one `host` or host:port per line (required)")
	fs.Float64Var(&o.delay, "d", 0, "sleep this many `seconds` before starting (decimal allowed)")
	fs.Float64Var(&o.crashAfter, "c", 0, "crash this many `seconds` after sending JOIN")
	fs.BoolVar(&o.testCase4, "t", false, "TESTCASE 4 (starting leader only): once all hosts joined, send a DEL of the highest id to all but the next leader, then crash")
	fs.IntVar(&o.id, "i", 0, "this peer's `id` (line number in the hostsfile); default: match the hostname")
	fs.DurationVar(&o.hbInterval, "hb-interval", 500*time.Millisecond, "heartbeat `period` T")
	fs.DurationVar(&o.hbTimeout, "hb-timeout", 0, "declare a peer dead after this much silence (default 2×hb-interval)")
	fs.StringVar(&o.logLevel, "log-level", defaultLogLevel(), "stdout log `level`: debug, info, warn, error or off; $PEER_LOG_LEVEL sets the default")
	fs.IntVar(&o.port, "port", 7000, "TCP and UDP `port` for hostsfile lines without a port")
	fs.BoolVar(&o.join, "join", false, "join an existing group even if this is peer 1")
	fs.BoolVar(&o.rejoin, "rejoin", false, "when removed from the group while alive, join again instead of exiting")
	fs.StringVar(&o.pprof, "pprof", "", "serve net/http/pprof on this `address` (e.g. 127.0.0.1:6060)")
	fs.BoolVar(&o.fastFail, "fast-fail", false, "treat a member as failed as soon as a connection to it is refused, without waiting for the heartbeat timeout")
	fs.DurationVar(&o.retryPeriod, "retry", 0, "resend an unanswered JOIN, REQ, NEWLEADER or probe after this long (default hb-interval)")
	fs.DurationVar(&o.probeWait, "probe-timeout", 0, "a suspected peer that does not answer the TCP probe within this long has failed (default hb-timeout + retry, at least 1s); a refused connection fails at once")
	fs.StringVar(&o.keyFile, "key", "", "cluster key `file` (64 hex digits or 32 raw bytes): seal every frame and heartbeat with AES-256-GCM; every peer needs the same one")
	fs.StringVar(&o.status, "status", "", "serve this peer's state as JSON at http://`ADDR`/status: host:port, :port (on 127.0.0.1), +N (127.0.0.1, this peer's port + N) or host+N; off by default")
	fs.StringVar(&o.genKey, "genkey", "", "write a new random cluster key to `file` (never overwrites) and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: peer -h HOSTSFILE [-i ID] [-d SECONDS] [-c SECONDS] [-t] [flags]")
			fmt.Fprintln(stderr, "       peer status ... (a running peer's state: peer status -help)")
			fs.PrintDefaults()
		}
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.genKey != "":
		return o, nil
	case o.hostsFile == "":
		return nil, errors.New("-h HOSTSFILE is required")
	case o.delay < 0 || o.delay > 1e6:
		return nil, fmt.Errorf("-d %v: want seconds >= 0", o.delay)
	case o.crashAfter < 0 || o.crashAfter > 1e6:
		return nil, fmt.Errorf("-c %v: want seconds >= 0", o.crashAfter)
	case o.id < 0:
		return nil, fmt.Errorf("-i %d: ids start at 1", o.id)
	case o.hbInterval <= 0:
		return nil, fmt.Errorf("-hb-interval %v: must be positive", o.hbInterval)
	case o.hbTimeout < 0:
		return nil, fmt.Errorf("-hb-timeout %v: must be positive", o.hbTimeout)
	case o.port < 1 || o.port > 65535:
		return nil, fmt.Errorf("-port %d: want 1..65535", o.port)
	case o.retryPeriod < 0:
		return nil, fmt.Errorf("-retry %v: must be positive", o.retryPeriod)
	case o.probeWait < 0:
		return nil, fmt.Errorf("-probe-timeout %v: must be positive", o.probeWait)
	}
	if o.status != "" {
		if _, err := membership.ParseStatusAddr(o.status); err != nil {
			return nil, fmt.Errorf("-status: %s", strings.TrimPrefix(err.Error(), "membership: "))
		}
	}
	// Zero durations take membership.Config's defaults.
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "status" {
		return runStatus(args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "peer: %v (peer -help lists the flags)\n", err)
		return 2
	}
	if o.genKey != "" {
		if err := seal.WriteKeyFile(o.genKey); err != nil {
			fmt.Fprintf(stderr, "peer: -genkey: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "peer: wrote a new cluster key to %s; start every peer with -key %s\n", o.genKey, o.genKey)
		return 0
	}
	level, err := parseLogLevel(o.logLevel)
	if err != nil || o.logLevel == "" {
		fmt.Fprintf(stderr, "peer: -log-level %q: want debug, info, warn or error\n", o.logLevel)
		return 2
	}
	var key *seal.Key
	if o.keyFile != "" {
		if key, err = seal.LoadKey(o.keyFile); err != nil {
			fmt.Fprintf(stderr, "peer: -key: %v\n", err)
			return 2
		}
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	base := zerolog.New(stdout).Level(level).With().Timestamp().Logger()
	m, err := membership.Listen(membership.Config{
		HostsFile:         o.hostsFile,
		Port:              o.port,
		ID:                o.id,
		Join:              o.join,
		HeartbeatInterval: o.hbInterval,
		HeartbeatTimeout:  o.hbTimeout,
		RetryPeriod:       o.retryPeriod,
		ProbeTimeout:      o.probeWait,
		Key:               key,
		Rejoin:            o.rejoin,
		FastFail:          o.fastFail,
		StatusAddr:        o.status,
		Logger:            base,
		Stderr:            stderr,
		CrashAfter:        time.Duration(o.crashAfter * float64(time.Second)),
		TestCase4:         o.testCase4,
	})
	if errors.Is(err, membership.ErrConfig) {
		fmt.Fprintf(stderr, "peer: %v\n", err)
		return 2
	}
	if err != nil {
		base.Error().Str("event", "fatal").Err(err).Msg("peer stopped")
		fmt.Fprintf(stderr, "peer: %v\n", err)
		return 1
	}
	log := base.With().Uint32("peer_id", uint32(m.ID())).Logger()
	if st, err := os.Stat(o.keyFile); key != nil && err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn().Str("event", "key_file_mode").Str("file", o.keyFile).Stringer("mode", st.Mode().Perm()).
			Msg("the cluster key file is readable by other users: chmod 600 it")
	}
	if err := serve(o, m, log); err != nil {
		log.Error().Str("event", "fatal").Err(err).Msg("peer stopped")
		fmt.Fprintf(stderr, "peer: %v\n", err)
		return 1
	}
	return 0
}

// serve waits -d, starts the member and waits until it stops. The first
// SIGTERM or SIGINT is a graceful leave (Member.Leave); a second one stops
// it at once (Member.Close).
func serve(o *options, m *membership.Member, log zerolog.Logger) error {
	defer m.Close()
	if o.pprof != "" {
		go func() {
			if err := http.ListenAndServe(o.pprof, nil); err != nil {
				log.Warn().Str("event", "pprof_failed").Err(err).Msg("pprof server stopped")
			}
		}()
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	leaving := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		log.Info().Str("event", "signal").Msg("leaving the group (a second signal stops at once)")
		close(leaving)
		go m.Leave(context.Background())
		select {
		case <-sigs:
			m.Close()
		case <-ctx.Done():
		}
	}()
	go watchHostsfile(ctx, o.hostsFile, m.Hosts(), hostsfileCheck, log)
	if o.delay > 0 {
		select {
		case <-time.After(time.Duration(o.delay * float64(time.Second))):
		case <-leaving:
			return nil // not in the group yet
		}
	}
	// ErrStopped: a signal during -d already ended it.
	if err := m.Start(context.Background()); err != nil && !errors.Is(err, membership.ErrStopped) {
		return err
	}
	<-m.Done()
	if m.Reason() == membership.Closed {
		log.Info().Str("event", "stopped").Msg("stopped by a second signal")
	}
	return m.Err()
}
