// Command shards is an example built on package membership: it splits N
// work items among the live members of a group and, after every view,
// prints which items this peer owns now.
//
// An item goes to the member with the highest score for it (rendezvous
// hashing), so every member computes the same split from the same view with
// no further messages, and a view change moves only the items of the
// members that came or went.
//
// Start it once per line of a hostsfile, in as many terminals:
//
//	go run ./examples/shards -h hosts/examples/local5.txt -i 1
//	go run ./examples/shards -h hosts/examples/local5.txt -i 2
//	go run ./examples/shards -h hosts/examples/local5.txt -i 3
//
// Ctrl-C leaves the group gracefully: the others take over its items at
// once. A peer killed outright (kill -9) is found failed after the heartbeat
// timeout, and its items move then.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"peer/membership"
)

func main() {
	hostsFile := flag.String("h", "", "hostsfile: one `host` or host:port per line (required)")
	id := flag.Int("i", 0, "this peer's `id` (line number in the hostsfile); default: match the hostname")
	items := flag.Int("items", 12, "how many work `items` to split")
	interval := flag.Duration("hb-interval", 200*time.Millisecond, "heartbeat `period`")
	flag.Parse()
	if *hostsFile == "" || *items < 1 {
		fmt.Fprintln(os.Stderr, "usage: shards -h HOSTSFILE [-i ID] [-items N]")
		os.Exit(2)
	}

	m, err := membership.Start(context.Background(), membership.Config{
		HostsFile:         *hostsFile,
		ID:                *id,
		HeartbeatInterval: *interval,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "shards:", err)
		os.Exit(1)
	}
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		<-sigs
		fmt.Println("leaving the group")
		m.Leave(context.Background())
	}()

	var owned []int
	for v := range m.Views() {
		now := Owned(v.Members, m.ID(), *items)
		gained, lost := diff(now, owned), diff(owned, now)
		fmt.Printf("%v: peer %d owns %d of %d items %v", v, m.ID(), len(now), *items, now)
		if len(gained) > 0 {
			fmt.Printf("; took %v", gained)
		}
		if len(lost) > 0 {
			fmt.Printf("; handed over %v", lost)
		}
		fmt.Println()
		owned = now
	}
	fmt.Printf("peer %d stopped (%s)\n", m.ID(), m.Reason())
}

// Owned is the items 0..items-1 that member self owns in a view of members.
func Owned(members []membership.PeerID, self membership.PeerID, items int) []int {
	var out []int
	for item := range items {
		if Owner(members, item) == self {
			out = append(out, item)
		}
	}
	return out
}

// Owner is the member with the highest score for item (0 if there are no
// members).
func Owner(members []membership.PeerID, item int) membership.PeerID {
	var best membership.PeerID
	var bestScore uint64
	for _, p := range members {
		if s := score(p, item); best == 0 || s > bestScore {
			best, bestScore = p, s
		}
	}
	return best
}

// score mixes a member and an item into a well-spread number (SplitMix64's
// finalizer).
func score(p membership.PeerID, item int) uint64 {
	x := uint64(p)<<32 ^ uint64(item)
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// diff is the items of a that are not in b.
func diff(a, b []int) []int {
	var out []int
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
