package wire

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ackTimeout returns a net.Dialer Control that sets TCP_USER_TIMEOUT: the
// kernel breaks the connection when bytes it sent stay unacknowledged for d.
func ackTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	ms := int(d / time.Millisecond)
	return func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
		}); cerr != nil {
			return cerr
		}
		return err
	}
}
