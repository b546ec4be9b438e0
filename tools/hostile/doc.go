// Package hostile holds end-to-end tests that attack a running group of
// real peer processes on loopback: garbage, oversized and truncated frames,
// random datagrams, spoofed senders, hundreds of idle connections, a peer
// with the wrong cluster key, a paused and resumed peer, a hostsfile that
// changes under the group and a peer started twice; a running group asked
// for its status (-status, peer status); and, with root, lost heartbeats and
// a network cut between peers in network namespaces of their own (a member,
// the leader, two against three). Each test asserts that no
// peer exited and that no view changed except the ones its scenario causes.
//
// The package has no code of its own; go test builds cmd/peer once (with
// testcase.BuildPeer) and starts the processes.
package hostile
