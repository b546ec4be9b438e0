package hostile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"peer/codec"
	"peer/wire"
)

func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func marshal(t *testing.T, m codec.Message) []byte {
	t.Helper()
	b, err := codec.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attackTCP sends each payload to addr on a connection of its own, all at
// once, and waits until the peer has closed every one of them. With
// halfClose the attacker closes its sending side after the payload, as a
// sender that crashed mid-frame would; without, it holds the connection
// open and the peer's deadlines must end it.
func attackTCP(t *testing.T, addr string, payloads [][]byte, halfClose bool) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(payloads))
	for i, p := range payloads {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- fmt.Errorf("payload %d: dial: %v", i, err)
				return
			}
			defer conn.Close()
			conn.Write(p) // the peer may close before reading it all
			if halfClose {
				conn.(*net.TCPConn).CloseWrite()
			}
			conn.SetReadDeadline(time.Now().Add(waitLimit))
			_, err = io.Copy(io.Discard, conn)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				errs <- fmt.Errorf("payload %d (%d bytes, %x...): the peer kept the connection open", i, len(p), p[:min(len(p), 8)])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// attackUDP sends datagrams to addr in bursts.
func attackUDP(t *testing.T, addr string, datagrams [][]byte) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Error(err) // called from several goroutines: no Fatal
		return
	}
	defer conn.Close()
	for i, d := range datagrams {
		conn.Write(d) // a refused datagram (ICMP) is fine
		if i%100 == 99 {
			time.Sleep(time.Millisecond)
		}
	}
}

// atEveryPeer runs attack against every peer at once.
func atEveryPeer(ids []int, attack func(id int)) {
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { attack(id) })
	}
	wg.Wait()
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestHostileInput starts a group of three peers without a key and attacks
// every peer's ports in turn. After each attack a spare peer of the
// hostsfile joins: the group still changes views, and that join is the only
// line any member printed since the attack began; no peer exited.
func TestHostileInput(t *testing.T) {
	c := newCluster(t, 11, hbFlags...)
	pprof := freeAddr(t)
	c.start(1, "-pprof", pprof)
	c.start(2)
	c.start(3)
	c.waitView(1, 2, 3)
	members := []int{1, 2, 3}
	spare := 4
	r := rand.New(rand.NewPCG(5, 1))

	// run runs one attack, then the join of the next spare, then waits out a
	// failure detection's worth of time and checks again.
	run := func(name string, attack func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			outer := c.t
			c.t = t
			defer func() { c.t = outer }()
			m := c.mark()
			attack(t)
			end := time.Now()
			c.checkAlive(members...)
			members = append(members, spare)
			c.join(m, spare, members...)
			spare++
			quietFor(end, 2*hbTimeout+hbInterval)
			for _, p := range members {
				c.checkLines(m, p, view(1, members...))
			}
			c.checkAlive(members...)
		})
	}
	join := marshal(t, &codec.Join{From: 2, Joiner: 2, Incarnation: 1})

	run("garbage bytes", func(t *testing.T) {
		var payloads [][]byte
		for _, n := range []int{1, 2, 3, 4, 5, 8, 16, 100, 1000, 4096, 20000, 100000} {
			payloads = append(payloads, randomBytes(r, n))
		}
		for range 10 { // plausible lengths, random bodies
			body := randomBytes(r, 1+r.IntN(200))
			payloads = append(payloads, frame(body))
		}
		payloads = append(payloads, append(frame(join), randomBytes(r, 50)...)) // a good frame, then garbage
		atEveryPeer(members, func(id int) { attackTCP(t, c.addr(id), payloads, false) })
	})

	run("oversized length prefixes", func(t *testing.T) {
		var payloads [][]byte
		for _, n := range []uint32{0xFFFFFFFF, 0x80000000, 1 << 24, 1 << 20, wire.DefaultMaxFrame + 1} {
			payloads = append(payloads, append(binary.BigEndian.AppendUint32(nil, n), randomBytes(r, 16)...))
		}
		atEveryPeer(members, func(id int) { attackTCP(t, c.addr(id), payloads, false) })
	})

	run("truncated frames", func(t *testing.T) {
		whole := frame(join)
		var payloads [][]byte
		for n := 1; n < len(whole); n++ {
			payloads = append(payloads, whole[:n])
		}
		// A frame that claims the limit and sends little.
		payloads = append(payloads, append(binary.BigEndian.AppendUint32(nil, wire.DefaultMaxFrame), 1, 2, 3))
		atEveryPeer(members, func(id int) {
			attackTCP(t, c.addr(id), payloads, true)  // the sender goes away mid-frame
			attackTCP(t, c.addr(id), payloads, false) // the sender stays and says no more
		})
	})

	run("random datagrams", func(t *testing.T) {
		var ds [][]byte
		for range 2000 {
			ds = append(ds, randomBytes(r, r.IntN(1500)))
		}
		for range 200 { // look like a heartbeat, or a sealed one
			ds = append(ds, append([]byte{byte(codec.TypeHeartbeat)}, randomBytes(r, r.IntN(40))...))
			ds = append(ds, append([]byte{0xC5}, randomBytes(r, r.IntN(80))...))
		}
		ds = append(ds, marshal(t, &codec.Heartbeat{From: 99, ViewID: 1 << 40, Seq: 1 << 62})) // not in the hostsfile
		atEveryPeer(members, func(id int) { attackUDP(t, c.addr(id), ds) })
	})

	run("claimed sender does not match the connection", func(t *testing.T) {
		// Peer 2's connection is bound to the first sender it carries (3);
		// a NEWVIEW that claims to come from leader 1 and removes 2 is
		// dropped, and so is a message from a sender outside the hostsfile.
		conn, err := net.Dial("tcp", c.addr(2))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(waitLimit))
		if _, err := wire.ReadFrame(conn, 256, nil); err != nil {
			t.Fatalf("greeting: %v", err)
		}
		for _, m := range []codec.Message{
			&codec.OK{From: 3, RequestID: 1, ViewID: 0},
			&codec.NewView{From: 1, ViewID: 1 << 40, Leader: 1, Members: []codec.PeerID{1}, Epoch: 1 << 40, EpochLeader: 1, Incarnations: []uint64{1}},
			&codec.Join{From: 99, Joiner: 99, Incarnation: 1},
			&codec.NewView{From: 99, ViewID: 1 << 40, Leader: 99, Members: []codec.PeerID{99}, Epoch: 1 << 40, EpochLeader: 99, Incarnations: []uint64{1}},
		} {
			if _, err := conn.Write(frame(marshal(t, m))); err != nil {
				t.Fatal(err)
			}
		}
		conn.SetReadDeadline(time.Now().Add(2 * hbTimeout))
		if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the connection was closed (%v): dropped messages must not end it", err)
		}
	})

	run("200 idle connections", func(t *testing.T) {
		// At the leader: the connections over the per-source limit are
		// closed at once, the others by the handshake deadline (5 s); the
		// goroutines they took are given back.
		before := goroutines(t, pprof)
		const n = 200
		conns := make([]net.Conn, 0, n)
		for range n {
			conn, err := net.Dial("tcp", c.addr(1))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conns = append(conns, conn)
		}
		during := 0 // the most seen while the peer accepts them
		for range 10 {
			during = max(during, goroutines(t, pprof))
			time.Sleep(50 * time.Millisecond)
		}
		if limit := before + wire.DefaultMaxConnsPerSource + 10; during > limit {
			t.Fatalf("%d goroutines with %d idle connections, %d before: over %d", during, n, before, limit)
		}
		var wg sync.WaitGroup
		kept := make(chan int, n)
		for i, conn := range conns {
			wg.Go(func() {
				conn.SetReadDeadline(time.Now().Add(waitLimit))
				if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
					kept <- i
				}
			})
		}
		wg.Wait()
		close(kept)
		if k := len(kept); k > 0 {
			t.Fatalf("%d idle connections still open after %v", k, waitLimit)
		}
		waitFor(t, "the goroutine count back to where it was", func() bool {
			return goroutines(t, pprof) <= before+2
		})
		t.Logf("leader goroutines: %d before, %d with %d idle connections, %d after", before, during, n, goroutines(t, pprof))
	})

	run("hostsfile changed under the group", func(t *testing.T) {
		orig, err := os.ReadFile(c.hosts)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.hosts, append(orig, "127.0.0.1:1\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every peer to report the change", func() bool {
			for _, id := range members {
				if len(c.proc(id).events("hostsfile_changed")) != 1 {
					return false
				}
			}
			return true
		})
		if err := os.WriteFile(c.hosts, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every peer to see it restored", func() bool {
			for _, id := range members {
				if len(c.proc(id).events("hostsfile_restored")) != 1 {
					return false
				}
			}
			return true
		})
	})

	run("a peer started twice with the same id", func(t *testing.T) {
		first := c.proc(2)
		twin := c.start(2)
		defer func() {
			c.mu.Lock()
			c.procs[2], c.procs[-2] = first, twin // keep the twin for the logs
			c.mu.Unlock()
		}()
		select {
		case <-twin.done:
		case <-time.After(waitLimit):
			t.Fatal("the second peer 2 is still running")
		}
		lines := twin.stderr()
		if twin.exitCode() == 0 || len(lines) != 1 || !strings.Contains(lines[0], "already in use") ||
			!strings.Contains(lines[0], "a peer with this id already running?") {
			t.Fatalf("second peer 2: exit %d, stderr %q", twin.exitCode(), lines)
		}
	})
}
