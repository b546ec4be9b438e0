package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"peer/tools/testcase"
)

// cluster is one group of N local processes of one variant. Every process
// prints one JSON object per line on stdout; a reader goroutine per process
// turns the lines that matter into membership state, stamped with the
// process's own clock (all processes and the driver share one machine, so
// their wall clocks agree).
type cluster struct {
	v     *variant
	n     int
	dir   string
	ports []int

	mu    sync.Mutex
	procs []*proc // index id-1
	watch *watch
	poke  chan struct{} // 1-buffered: something changed
	// lastChange is the driver's clock at the last membership change seen.
	lastChange time.Time
	wg         sync.WaitGroup
}

type proc struct {
	id  int
	cmd *exec.Cmd
	// killed: the driver took the process out of the group, with SIGKILL
	// (a crash) or SIGTERM (a graceful leave); killAt is the driver's clock
	// just before the signal.
	killed  bool
	killAt  time.Time
	exited  bool
	exitAt  time.Time // the driver's clock once the process had ended
	members map[int]bool
	leader  int
	changes int       // membership changes seen
	up      time.Time // the protocol started: peer's start event, memberlist's own join
	unreach []mark    // peer detected unreachable (peer only: the node's peer_unreachable)
	// falsely records every live member this process dropped from its
	// membership (peer: missing from a new view, or this process removed
	// from the group; memberlist: NotifyLeave of a node the driver did not
	// kill).
	falsely []mark
	checks  []mark // suspicions checked (peer: check_started)
	ended   []mark // suspicions withdrawn (peer: suspicion_ended, peer_revived)
	exit    string // the reason peer logged on exiting
}

type mark struct {
	at   time.Time
	peer int
	view int // the view that dropped peer (peer only)
}

// watch waits until every process in who satisfies pred, recording when each
// first did (the timestamp of the event that made it true).
type watch struct {
	who  map[int]bool
	pred func(*proc) bool
	at   map[int]time.Time
}

// logLine is the union of the fields the driver reads from both systems' logs.
type logLine struct {
	Time    string `json:"time"`
	Event   string `json:"event"`
	Members []int  `json:"members"`
	Leader  int    `json:"leader"`
	Peer    int    `json:"peer"`
	Node    int    `json:"node"`
	ViewID  int    `json:"view_id"`
	Reason  string `json:"reason"`
}

var interesting = [][]byte{
	[]byte(`"view_installed"`), []byte(`"peer_unreachable"`),
	[]byte(`"event":"join"`), []byte(`"event":"leave"`), []byte(`"event":"start"`),
	[]byte(`"check_started"`), []byte(`"suspicion_ended"`), []byte(`"peer_revived"`),
	[]byte(`"event":"removed"`), []byte(`"event":"exit"`),
}

// registry holds every running cluster, so that a signal can stop them all.
var registry = struct {
	sync.Mutex
	live map[*cluster]bool
}{live: map[*cluster]bool{}}

// launch says how to start a group's processes: behind a command prefix
// (nsenter into a network namespace) and with extra arguments.
type launch struct {
	prefix []string
	extra  []string
}

// start writes a hostsfile of n free loopback ports, arms the formation watch
// (every process sees all n members) and starts the n processes at once. It
// returns the driver's clock just before the first process was started.
func start(v *variant, bins binaries, n int, dir string, how launch) (*cluster, time.Time, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, time.Time{}, err
	}
	hosts := filepath.Join(dir, "hostsfile.txt")
	if err := testcase.WriteLoopbackHosts(hosts, n); err != nil {
		return nil, time.Time{}, err
	}
	ports, err := readPorts(hosts)
	if err != nil {
		return nil, time.Time{}, err
	}
	c := &cluster{v: v, n: n, dir: dir, ports: ports, poke: make(chan struct{}, 1)}
	registry.Lock()
	registry.live[c] = true
	registry.Unlock()
	all := make([]int, n)
	for i := range all {
		all[i] = i + 1
	}
	c.arm(all, func(p *proc) bool { return len(p.members) == n })

	var cmds []*exec.Cmd
	for id := 1; id <= n; id++ {
		argv := append(append(slices.Clone(how.prefix), v.binary(bins)), v.args(id, hosts, ports)...)
		cmd := exec.Command(argv[0], append(argv[1:], how.extra...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		cmds = append(cmds, cmd)
		p := &proc{id: id, cmd: cmd, members: map[int]bool{}}
		c.procs = append(c.procs, p)
	}
	pipes := make([]io.ReadCloser, n)
	files := make([]*os.File, 0, 2*n)
	for i, cmd := range cmds {
		if pipes[i], err = cmd.StdoutPipe(); err != nil {
			return c, time.Time{}, err
		}
		ef, err := os.Create(filepath.Join(dir, fmt.Sprintf("node-%d.stderr", i+1)))
		if err != nil {
			return c, time.Time{}, err
		}
		cmd.Stderr = ef
		files = append(files, ef)
	}
	t0 := time.Now()
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			c.close()
			return nil, t0, fmt.Errorf("start node %d: %w", i+1, err)
		}
	}
	for i := range cmds {
		of, err := os.Create(filepath.Join(dir, fmt.Sprintf("node-%d.jsonl", i+1)))
		if err != nil {
			c.close()
			return nil, t0, err
		}
		c.wg.Add(1)
		go c.read(c.procs[i], pipes[i], of, files[i])
	}
	return c, t0, nil
}

func readPorts(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ports []int
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ':')
		p, err := strconv.Atoi(l[i+1:])
		if i < 0 || err != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, l)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// read consumes one process's stdout until it ends, keeping a copy in out.
func (c *cluster) read(p *proc, r io.Reader, out, errFile *os.File) {
	defer c.wg.Done()
	bw := bufio.NewWriterSize(out, 64<<10)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		b := sc.Bytes()
		bw.Write(b)
		bw.WriteByte('\n')
		if !slices.ContainsFunc(interesting, func(s []byte) bool { return bytes.Contains(b, s) }) {
			continue
		}
		var l logLine
		if json.Unmarshal(b, &l) != nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil {
			continue
		}
		c.apply(p, l, at)
	}
	io.Copy(io.Discard, r)
	p.cmd.Wait()
	ended := time.Now()
	bw.Flush()
	out.Close()
	errFile.Close()
	c.mu.Lock()
	p.exited, p.exitAt = true, ended
	c.mu.Unlock()
	c.signal()
}

func (c *cluster) apply(p *proc, l logLine, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch l.Event {
	case "view_installed":
		for m := range p.members {
			if !slices.Contains(l.Members, m) && (m < 1 || m > len(c.procs) || !c.procs[m-1].killed) {
				p.falsely = append(p.falsely, mark{at: at, peer: m, view: l.ViewID})
			}
		}
		clear(p.members)
		for _, m := range l.Members {
			p.members[m] = true
		}
		p.leader = l.Leader
	case "start":
		p.up = at
		return
	case "join":
		p.members[l.Node] = true
		if l.Node == p.id && p.up.IsZero() {
			p.up = at
		}
	case "leave":
		if l.Node >= 1 && l.Node <= len(c.procs) && !c.procs[l.Node-1].killed {
			p.falsely = append(p.falsely, mark{at: at, peer: l.Node})
		}
		delete(p.members, l.Node)
	case "removed":
		if !p.killed {
			p.falsely = append(p.falsely, mark{at: at, peer: p.id, view: l.ViewID})
		}
		return
	case "peer_unreachable":
		p.unreach = append(p.unreach, mark{at: at, peer: l.Peer})
		return
	case "check_started":
		p.checks = append(p.checks, mark{at: at, peer: l.Peer})
		return
	case "suspicion_ended", "peer_revived":
		p.ended = append(p.ended, mark{at: at, peer: l.Peer})
		return
	case "exit":
		p.exit = l.Reason
		return
	default:
		return
	}
	p.changes++
	c.lastChange = time.Now()
	if w := c.watch; w != nil && w.who[p.id] && w.at[p.id].IsZero() && w.pred(p) {
		w.at[p.id] = at
		c.signal()
	}
}

func (c *cluster) signal() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// arm starts watching who for pred. Processes that satisfy it already are
// stamped with the current time.
func (c *cluster) arm(who []int, pred func(*proc) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &watch{who: map[int]bool{}, pred: pred, at: map[int]time.Time{}}
	for _, id := range who {
		w.who[id] = true
		if p := c.procs; len(p) >= id && pred(p[id-1]) {
			w.at[id] = time.Now()
		}
	}
	c.watch = w
}

// wait blocks until every watched process satisfied the armed predicate, one
// of them exited, or the deadline passed.
func (c *cluster) wait(timeout time.Duration) (map[int]time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		w := c.watch
		done := len(w.at) == len(w.who)
		var gone []int
		for id := range w.who {
			if p := c.procs[id-1]; p.exited && w.at[id].IsZero() {
				gone = append(gone, id)
			}
		}
		var missing []int
		for id := range w.who {
			if w.at[id].IsZero() {
				missing = append(missing, id)
			}
		}
		at := w.at
		c.mu.Unlock()
		switch {
		case done:
			return at, nil
		case len(gone) > 0:
			slices.Sort(gone)
			return nil, fmt.Errorf("node(s) %v exited", gone)
		}
		select {
		case <-c.poke:
		case <-deadline.C:
			slices.Sort(missing)
			if len(missing) > 8 {
				missing = missing[:8]
			}
			return nil, fmt.Errorf("timed out after %v waiting for %d of %d node(s), e.g. %v", timeout, len(w.who)-len(at), len(w.who), missing)
		}
	}
}

// settle waits until every process still running shows exactly the alive
// processes as members and no membership changed for quiet; it returns how
// long that took. A group that is still changing after limit is an error.
func (c *cluster) settle(quiet, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		time.Sleep(min(quiet, 50*time.Millisecond))
		c.mu.Lock()
		alive := map[int]bool{}
		for _, p := range c.procs {
			if !p.killed {
				alive[p.id] = true
			}
		}
		full := true
		for _, p := range c.procs {
			if p.killed {
				continue
			}
			if p.exited || len(p.members) != len(alive) {
				full = false
				break
			}
			for m := range p.members {
				if !alive[m] {
					full = false
				}
			}
		}
		since := time.Since(c.lastChange)
		c.mu.Unlock()
		waited := time.Since(start)
		if full && since >= quiet && waited >= quiet {
			return waited, nil
		}
		if waited > limit {
			if full {
				return waited, fmt.Errorf("membership still changing %v after formation", limit)
			}
			return waited, fmt.Errorf("membership not complete everywhere %v after formation", limit)
		}
	}
}

// kill takes id out of the group with sig (SIGKILL: a crash; SIGTERM: a
// graceful leave) and returns the driver's clock just before the signal.
func (c *cluster) kill(id int, sig syscall.Signal) (time.Time, error) {
	c.mu.Lock()
	p := c.procs[id-1]
	p.killed = true
	t := time.Now()
	p.killAt = t
	c.mu.Unlock()
	return t, p.cmd.Process.Signal(sig)
}

// exited waits up to timeout for id's process to end; it returns the
// driver's clock once it had, and whether it did.
func (c *cluster) exited(id int, timeout time.Duration) (time.Time, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		p := c.procs[id-1]
		done, at := p.exited, p.exitAt
		c.mu.Unlock()
		if done {
			return at, true
		}
		select {
		case <-c.poke:
		case <-deadline.C:
			return time.Time{}, false
		}
	}
}

// killedAt is the driver's clock just before it signalled id.
func (c *cluster) killedAt(id int) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[id-1].killAt
}

// firstDone is the earliest time a watched process satisfied the armed
// predicate.
func (c *cluster) firstDone() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return earliest(c.watch.at)
}

// alive returns the ids the driver did not take out, ascending.
func (c *cluster) alive() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, p := range c.procs {
		if !p.killed {
			out = append(out, p.id)
		}
	}
	return out
}

func (c *cluster) pids(ids []int) []int {
	var out []int
	for _, id := range ids {
		out = append(out, c.procs[id-1].cmd.Process.Pid)
	}
	return out
}

func (c *cluster) changes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.procs {
		n += p.changes
	}
	return n
}

// lastUp is when the last process started its protocol (zero if one did
// not say).
func (c *cluster) lastUp() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Time
	for _, p := range c.procs {
		if p.up.IsZero() {
			return time.Time{}
		}
		if p.up.After(t) {
			t = p.up
		}
	}
	return t
}

// unreachable is when id's node first reported peer unreachable, if it did.
func (c *cluster) unreachable(id, peer int) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.procs[id-1].unreach {
		if m.peer == peer {
			return m.at, true
		}
	}
	return time.Time{}, false
}

// close kills every process still running and waits for their output.
func (c *cluster) close() {
	c.mu.Lock()
	for _, p := range c.procs {
		if p.cmd.Process != nil && !p.exited {
			p.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	c.mu.Unlock()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "bench: some process output did not end 10 s after SIGKILL")
	}
	registry.Lock()
	delete(registry.live, c)
	registry.Unlock()
}

// killAll stops every process of every cluster (on a signal to the driver).
func killAll() {
	registry.Lock()
	defer registry.Unlock()
	for c := range registry.live {
		for _, p := range c.procs {
			if p.cmd.Process != nil {
				p.cmd.Process.Signal(syscall.SIGKILL)
			}
		}
	}
}

var errNoProcStats = errors.New("bench: /proc not readable")
