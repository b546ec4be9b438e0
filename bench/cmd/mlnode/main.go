// Command mlnode is one hashicorp/memberlist node for the benchmark: the
// baseline that peer is measured against. It exists only in the bench module,
// so memberlist never enters the peer binary.
//
// It binds one port on 127.0.0.1 (memberlist uses it for TCP and UDP, as peer
// does), joins the seed nodes, retrying every -join-retry until one answers,
// and prints one JSON object per line on stdout for every membership event:
//
//	{"time":"2026-01-02T15:04:05.123456789Z","event":"join","node":3}
//	{"time":"...","event":"leave","node":3}
//
// Node names are the peer ids of the benchmark ("1".."N"); the node itself
// appears as a join too. SIGTERM leaves the group gracefully (Leave, then
// Shutdown); SIGKILL is a crash. memberlist's own log goes to stderr only with -log,
// each line stamped with the UTC time to the microsecond.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

func main() {
	var (
		name         = flag.Int("id", 0, "this node's `id` (its memberlist name)")
		port         = flag.Int("port", 0, "TCP and UDP `port` on 127.0.0.1")
		seeds        = flag.String("seeds", "", "comma-separated 127.0.0.1 `ports` to join (empty: start alone)")
		profile      = flag.String("profile", "local", "`config`: local (DefaultLocalConfig) or tuned (-probe-interval, timeout T/2, suspicion multiplier 2)")
		interval     = flag.Duration("probe-interval", 100*time.Millisecond, "probe interval T for -profile tuned")
		joinRetry    = flag.Duration("join-retry", 10*time.Millisecond, "retry the join this often until a seed answers")
		logOut       = flag.Bool("log", false, "memberlist's own log on stderr")
		leaveTimeout = flag.Duration("leave-timeout", time.Second, "on SIGTERM, wait this long at most for the leave to be gossiped, then shut down")
	)
	flag.Parse()
	if *name <= 0 || *port <= 0 {
		fmt.Fprintln(os.Stderr, "mlnode: -id and -port are required")
		os.Exit(2)
	}

	conf := memberlist.DefaultLocalConfig()
	switch *profile {
	case "local":
	case "tuned":
		conf.ProbeInterval = *interval
		conf.ProbeTimeout = *interval / 2
		conf.SuspicionMult = 2
	default:
		fmt.Fprintf(os.Stderr, "mlnode: -profile %q: want local or tuned\n", *profile)
		os.Exit(2)
	}
	conf.Name = strconv.Itoa(*name)
	conf.BindAddr, conf.BindPort = "127.0.0.1", *port
	conf.AdvertiseAddr, conf.AdvertisePort = "127.0.0.1", *port
	conf.LogOutput = io.Discard
	if *logOut {
		// Microseconds in UTC: the benchmark tells a suspicion before a
		// kill from one after it.
		conf.LogOutput = nil
		conf.Logger = log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds|log.LUTC)
	}
	ev := &events{out: os.Stdout}
	conf.Events = ev

	ml, err := memberlist.Create(conf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mlnode: %v\n", err)
		os.Exit(1)
	}
	var addrs []string
	for _, s := range strings.Split(*seeds, ",") {
		if s != "" && s != strconv.Itoa(*port) {
			addrs = append(addrs, "127.0.0.1:"+s)
		}
	}
	if len(addrs) > 0 {
		go func() {
			for {
				if n, err := ml.Join(addrs); err == nil && n > 0 {
					return
				}
				time.Sleep(*joinRetry)
			}
		}()
	}

	// SIGTERM or SIGINT is memberlist's graceful leave: the node gossips
	// that it left (a dead message about itself, which the others take as a
	// leave, not a failure), waits up to -leave-timeout for that to go out,
	// and shuts down. SIGKILL ends it without a word, like a crash.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	if err := ml.Leave(*leaveTimeout); err != nil {
		fmt.Fprintf(os.Stderr, "mlnode: leave: %v\n", err)
	}
	ml.Shutdown()
}

// events prints memberlist's join and leave callbacks. memberlist calls them
// with its node lock held, so they only write a line.
type events struct {
	mu  sync.Mutex
	out io.Writer
}

func (e *events) emit(kind string, n *memberlist.Node) {
	id, err := strconv.Atoi(n.Name)
	if err != nil {
		log.Printf("mlnode: node name %q is not an id", n.Name)
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	e.mu.Lock()
	fmt.Fprintf(e.out, "{\"time\":%q,\"event\":%q,\"node\":%d}\n", now, kind, id)
	e.mu.Unlock()
}

func (e *events) NotifyJoin(n *memberlist.Node)   { e.emit("join", n) }
func (e *events) NotifyLeave(n *memberlist.Node)  { e.emit("leave", n) }
func (e *events) NotifyUpdate(n *memberlist.Node) {}
