// Package membership runs one peer of a group membership service inside any
// Go program: the peers of a hostsfile (or of a list of addresses) agree on
// who is alive, and every member is told each view the group installs. The
// command peer is a flag parser over this package.
//
// Listen reads the group from Config, finds this peer in it and binds its
// TCP and UDP sockets; Member.Start starts the protocol; Start does both.
// Peer 1 starts the group alone in view 1, every other peer joins through
// the leader, and failed members are detected (heartbeats, then a check
// over TCP) and removed; a failed leader is replaced by the lowest member
// left (package node has the protocol).
//
//	m, err := membership.Start(ctx, membership.Config{HostsFile: "hosts.txt", ID: 2})
//	if err != nil {
//		return err
//	}
//	for v := range m.Views() { // closed once the member stops
//		fmt.Println(v)
//	}
//
// Every method of a Member is safe from any goroutine. View returns the last
// installed view at once (the member keeps a copy of each); Views delivers
// every view in order through a buffered channel that the protocol's loop
// never waits for: a reader that falls ViewBuffer views behind loses the
// oldest ones it has not read. Status asks the loop for the peer's state,
// the same as the optional status endpoint (Config.StatusAddr, GET /status)
// answers in JSON and FetchStatus reads.
//
// A member stops in one of four ways, after which Done is closed and Reason
// says which: Leave (graceful: the leader removes it with an ordinary view
// change and nobody reports a failure), Close or the end of Start's context
// (at once: the others detect it as a crash), removal by the group (a false
// suspicion, unless Config.Rejoin), or the course's test options
// (Config.CrashAfter, Config.TestCase4).
//
// The structured log goes to Config.Logger; the assignment's lines (views,
// unreachable peers, crashing) to Config.Stderr, if set.
package membership
