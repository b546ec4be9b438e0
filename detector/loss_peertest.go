//go:build peertest

package detector

import (
	"math/rand/v2"
	"os"
	"strconv"
)

// lossRate is PEER_TEST_UDP_LOSS, a share of inbound datagrams to drop, in a
// binary built with -tags peertest: the real-process tests use it to lose
// heartbeats where they cannot use a firewall (tools/hostile/loss_test.go).
var lossRate = func() float64 {
	p, err := strconv.ParseFloat(os.Getenv("PEER_TEST_UDP_LOSS"), 64)
	if err != nil || p < 0 || p > 1 {
		return 0
	}
	return p
}()

// dropInbound reports whether the reader drops a datagram as if the network
// had lost it: each one on its own, with probability lossRate.
func dropInbound() bool { return lossRate > 0 && rand.Float64() < lossRate }
