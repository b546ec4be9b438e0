//go:build !linux

package wire

import (
	"syscall"
	"time"
)

// ackTimeout is Linux only; elsewhere a connection cut off by the network is
// found by TCP's own retransmission limit.
func ackTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
