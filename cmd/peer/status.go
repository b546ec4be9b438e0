package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"peer/codec"
	"peer/hosts"
	"peer/membership"
)

const statusUsage = `usage: peer status ADDR...
       peer status -h HOSTSFILE -status ADDR [-port N]

Asks running peers (started with -status) for their state and prints a table:
the status addresses given, or every peer of a hostsfile at the address that
its entry and the peers' -status value give (+1000: its own port plus 1000).`

// target is one peer to ask: its status address, and its hostsfile entry's
// id when known.
type target struct {
	id   codec.PeerID // 0 when asked by address
	addr string
	err  error // the address could not be derived
}

// runStatus is `peer status`: it asks peers for their status (-status on
// each peer) and prints one table row per peer, a peer that does not answer
// included. The exit code is 0 when every peer answered, 1 when one did not,
// 2 for a usage error.
func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("peer status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	hostsFile := fs.String("h", "", "ask every peer of this `HOSTSFILE` (with -status)")
	form := fs.String("status", "", "the -status `ADDR` the peers run with: each peer's status address follows from its entry")
	port := fs.Int("port", membership.DefaultPort, "the peers' -port: the `N` of hostsfile lines without a port")
	timeout := fs.Duration("timeout", 2*time.Second, "give up on a peer that has not answered within this `DURATION`")
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "peer status: "+format+" (peer status -help shows the usage)\n", a...)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, statusUsage)
			fs.PrintDefaults()
			return 0
		}
		return fail("%v", err)
	}
	switch {
	case *hostsFile != "" && fs.NArg() > 0:
		return fail("give status addresses or -h HOSTSFILE, not both")
	case *hostsFile == "" && fs.NArg() == 0:
		return fail("give the peers' status addresses, or -h HOSTSFILE -status ADDR")
	case *hostsFile != "" && *form == "":
		return fail("-h needs -status ADDR, the value the peers were started with")
	case *hostsFile == "" && *form != "":
		return fail("-status goes with -h HOSTSFILE; without it, give the addresses")
	case *timeout <= 0:
		return fail("-timeout %v: must be positive", *timeout)
	case *port < 1 || *port > 65535:
		return fail("-port %d: want 1..65535", *port)
	}

	var targets []target
	if *hostsFile != "" {
		a, err := membership.ParseStatusAddr(*form)
		if err != nil {
			return fail("-status: %s", strings.TrimPrefix(err.Error(), "membership: "))
		}
		file, err := hosts.Load(*hostsFile)
		if err != nil {
			fmt.Fprintf(stderr, "peer status: %v\n", err)
			return 2
		}
		for _, e := range file.Entries {
			addr, err := a.Of(e, *port)
			targets = append(targets, target{id: e.ID, addr: addr, err: err})
		}
	} else {
		for _, arg := range fs.Args() {
			host, p, err := net.SplitHostPort(arg)
			if n, perr := strconv.Atoi(p); err != nil || perr != nil || n < 1 || n > 65535 {
				return fail("%q: want host:port, or :port on this machine", arg)
			}
			if host == "" {
				arg = net.JoinHostPort("127.0.0.1", p)
			}
			targets = append(targets, target{addr: arg})
		}
	}

	statuses := make([]membership.Status, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		if t.err != nil {
			errs[i] = t.err
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			statuses[i], errs[i] = membership.FetchStatus(ctx, t.addr)
		})
	}
	wg.Wait()

	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PEER\tADDRESS\tROLE\tEPOCH\tLEADER\tVIEW\tVIEW LEADER\tMEMBERS\tSUSPECTED\tFAILED\tLEAVING\tPENDING")
	var notes []string // one line for each peer that gave no status
	for i, t := range targets {
		peer := "?"
		if t.id != 0 {
			peer = strconv.Itoa(int(t.id))
		}
		if err := errs[i]; err != nil {
			short, long := why(err, t.addr, *timeout)
			fmt.Fprintf(w, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", peer, t.addr, short)
			notes = append(notes, fmt.Sprintf("peer %s at %s: %s", peer, t.addr, long))
			continue
		}
		s := statuses[i]
		switch {
		case t.id == 0:
			peer = strconv.Itoa(int(s.ID))
		case s.ID != t.id:
			peer += fmt.Sprintf(" (answered as %d)", s.ID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", peer, t.addr, s.Role, s.Epoch, s.Leader,
			s.ViewID, s.ViewLeader, list(s.Members), list(s.Suspected), list(s.Failed), list(s.Leaving), pending(s.Pending))
	}
	w.Flush()
	if len(notes) == 0 {
		return 0
	}
	fmt.Fprintln(stdout)
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	return 1
}

// why says why a peer gave no status: a word for its row, and a line.
func why(err error, addr string, timeout time.Duration) (short, long string) {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "no answer", fmt.Sprintf("no answer within %v (a stalled peer, or a firewall that drops the connection)", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "unreachable", "connection refused (not running, or started without -status)"
	case errors.As(err, &op):
		return "unreachable", op.Err.Error()
	case errors.Is(err, membership.ErrNotStarted):
		return "not started", "it runs but has not started yet (it waits out -d)"
	case errors.Is(err, membership.ErrStopped):
		return "stopping", "it is stopping"
	case errors.Is(err, membership.ErrStatusAddr):
		return "no address", strings.TrimPrefix(err.Error(), "membership: ")
	}
	return "error", strings.TrimPrefix(err.Error(), "membership: status of "+addr+": ")
}

// list writes ids as the assignment does, "[1,2,3]", and an empty list as "-".
func list(ids []codec.PeerID) string {
	if len(ids) == 0 {
		return "-"
	}
	return "[" + codec.FormatIDs(ids) + "]"
}

func pending(p *membership.Pending) string {
	if p == nil {
		return "-"
	}
	s := fmt.Sprintf("%s %s (request %s, view %d, ballot %d/%d", p.Op, list(p.Peers), p.RequestID, p.ViewID, p.Epoch, p.Proposer)
	if p.Forced {
		s += ", forced"
	}
	return s + ")"
}
