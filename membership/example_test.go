package membership_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"peer/hosts"
	"peer/membership"
)

// A group of two on this machine: the first peer starts it, the second joins
// and later leaves. The first prints every view it installs.
func Example() {
	ctx := context.Background()
	cfg := membership.Config{
		Addrs:             loopbackAddrs(2), // "127.0.0.1:PORT" for peers 1 and 2
		HeartbeatInterval: 100 * time.Millisecond,
		HeartbeatTimeout:  time.Second,
	}
	cfg.ID = 1
	first, err := membership.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer first.Close()
	fmt.Println(<-first.Views())

	cfg.ID = 2
	second, err := membership.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-first.Views())
	fmt.Println("second:", <-second.Views()) // it is a member now

	second.Leave(ctx) // returns once the group has removed it
	fmt.Println(<-first.Views())
	fmt.Println("second stopped:", second.Reason())
	// Output:
	// view 1: leader 1, members [1]
	// view 2: leader 1, members [1,2]
	// second: view 2: leader 1, members [1,2]
	// view 3: leader 1, members [1]
	// second stopped: left
}

// A peer with a status endpoint, asked the way `peer status` asks.
func ExampleFetchStatus() {
	ctx := context.Background()
	m, err := membership.Start(ctx, membership.Config{
		Addrs:      loopbackAddrs(1),
		ID:         1,
		StatusAddr: "127.0.0.1:0", // any free port: m.StatusAddr() tells which
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	<-m.Views() // view 1: it leads a group of one

	s, err := membership.FetchStatus(ctx, m.StatusAddr())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("peer %d: %s of view %d %v, pending %v\n", s.ID, s.Role, s.ViewID, s.Members, s.Pending)
	// Output:
	// peer 1: leader of view 1 [1], pending <nil>
}

// One -status value gives every peer of a loopback hostsfile its own status
// port: its own port plus 1000.
func ExampleStatusAddr() {
	a, err := membership.ParseStatusAddr("+1000")
	if err != nil {
		fmt.Println(err)
		return
	}
	f, _ := hosts.Parse(strings.NewReader("127.0.0.1:7001\n127.0.0.1:7002\n127.0.0.1:7003\n"))
	for _, e := range f.Entries {
		addr, _ := a.Listen(e, membership.DefaultPort)
		fmt.Println("peer", e.ID, "serves its status at", addr)
	}
	// Output:
	// peer 1 serves its status at 127.0.0.1:8001
	// peer 2 serves its status at 127.0.0.1:8002
	// peer 3 serves its status at 127.0.0.1:8003
}

// loopbackAddrs returns n loopback addresses whose ports are free for both
// TCP and UDP now.
func loopbackAddrs(n int) []string {
	var out []string
	seen := map[string]bool{}
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		if seen[addr] {
			continue
		}
		seen[addr] = true
		out = append(out, addr)
	}
	return out
}
