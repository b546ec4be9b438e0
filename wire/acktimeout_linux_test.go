package wire

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAckTimeoutSet: a dialled connection carries TCP_USER_TIMEOUT.
func TestAckTimeoutSet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Timeout: time.Second, Control: ackTimeout(1500 * time.Millisecond)}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	raw.Control(func(fd uintptr) {
		got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	})
	if gerr != nil || got != 1500 {
		t.Fatalf("TCP_USER_TIMEOUT = %d ms, %v; want 1500", got, gerr)
	}
}
