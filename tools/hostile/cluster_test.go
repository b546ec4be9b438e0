package hostile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"peer/hosts"
	"peer/tools/testcase"
)

// Timing of every group: a busy two-core CI machine must not cause false
// suspicions, so the timeout is ten heartbeats.
const (
	hbInterval = 100 * time.Millisecond
	hbTimeout  = time.Second
	// waitLimit bounds every wait for a condition; the conditions normally
	// hold within a few seconds.
	waitLimit = 30 * time.Second
)

var hbFlags = []string{"-hb-interval", hbInterval.String(), "-hb-timeout", hbTimeout.String()}

var (
	buildOnce sync.Once
	buildDir  string
	peerBin   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// peerBinary builds cmd/peer once per test binary.
func peerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real peer processes")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "hostile-peer-"); buildErr == nil {
			peerBin, buildErr = testcase.BuildPeer(buildDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return peerBin
}

// cluster is a hostsfile of loopback peers and the processes started from it.
type cluster struct {
	t     *testing.T
	bin   string
	dir   string
	hosts string
	addrs []string // addrs[id-1] is peer id's host:port (TCP and UDP)
	flags []string // for every peer
	// env is added to every peer's environment; prefix, if set, is the
	// command every peer runs under (nsenter into a network namespace), and
	// prefixOf, if set, the command peer id runs under instead.
	env      []string
	prefix   []string
	prefixOf func(id int) []string

	mu    sync.Mutex
	procs map[int]*proc // the latest process of each id
	runs  int
}

// proc is one peer process.
type proc struct {
	id   int
	cmd  *exec.Cmd
	log  string // its JSON log (stdout)
	done chan struct{}

	mu    sync.Mutex
	lines []string // stderr
	code  int      // exit code, once done
}

// newCluster writes a hostsfile of size loopback peers; none is started.
func newCluster(t *testing.T, size int, flags ...string) *cluster {
	t.Helper()
	dir := t.TempDir()
	if err := testcase.WriteLoopbackHosts(filepath.Join(dir, "hosts.txt"), size); err != nil {
		t.Fatal(err)
	}
	return clusterFrom(t, dir, flags...)
}

// clusterFrom is the cluster of the hostsfile dir/hosts.txt, with its logs
// in dir; none is started.
func clusterFrom(t *testing.T, dir string, flags ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: peerBinary(t), dir: dir, procs: map[int]*proc{}, flags: flags}
	c.hosts = filepath.Join(c.dir, "hosts.txt")
	f, err := hosts.Load(c.hosts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Entries {
		c.addrs = append(c.addrs, e.HostPort(0))
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *cluster) addr(id int) string { return c.addrs[id-1] }

// start starts peer id with the cluster's flags and extra.
func (c *cluster) start(id int, extra ...string) *proc {
	c.t.Helper()
	c.mu.Lock()
	c.runs++
	run := c.runs
	c.mu.Unlock()
	args := append([]string{"-h", c.hosts, "-i", strconv.Itoa(id)}, c.flags...)
	args = append(args, extra...)
	prefix := c.prefix
	if c.prefixOf != nil {
		prefix = c.prefixOf(id)
	}
	argv := append(append(slices.Clone(prefix), c.bin), args...)
	p := &proc{id: id, cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{}),
		log: filepath.Join(c.dir, fmt.Sprintf("peer-%d-run%d.jsonl", id, run))}
	p.cmd.Env = append(os.Environ(), c.env...)
	// Killed with the test binary, should that be killed first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := os.Create(p.log)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd.Stdout = stdout
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		err := p.cmd.Wait()
		stdout.Close()
		p.mu.Lock()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		p.mu.Unlock()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs[id] = p
	c.mu.Unlock()
	return p
}

func (c *cluster) proc(id int) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[id]
}

// stopAll ends every process still running (resuming a paused one first)
// and logs the stderr of each, to explain a failure.
func (c *cluster) stopAll() {
	c.mu.Lock()
	procs := slices.Collect(func(yield func(*proc) bool) {
		for _, p := range c.procs {
			if !yield(p) {
				return
			}
		}
	})
	c.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGCONT)
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	if c.t.Failed() {
		slices.SortFunc(procs, func(a, b *proc) int { return a.id - b.id })
		for _, p := range procs {
			c.t.Logf("peer %d (exit %d) stderr:\n  %s", p.id, p.exitCode(), strings.Join(p.stderr(), "\n  "))
		}
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) exitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}

func (p *proc) stderr() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// lastView is the last view line the peer printed.
func (p *proc) lastView() (testcase.Line, bool) {
	lines := p.stderr()
	for i := len(lines) - 1; i >= 0; i-- {
		if l, err := testcase.ParseLine(lines[i]); err == nil && l.IsView {
			return l, true
		}
	}
	return testcase.Line{}, false
}

// events are the JSON log lines of the peer with the given event name.
func (p *proc) events(name string) []map[string]any {
	b, _ := os.ReadFile(p.log)
	var out []map[string]any
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e map[string]any
		if json.Unmarshal(line, &e) == nil && e["event"] == name {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond until it holds or waitLimit passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitView waits until every peer in members has installed one view with
// exactly those members, and returns it.
func (c *cluster) waitView(members ...int) testcase.Line {
	c.t.Helper()
	var v testcase.Line
	waitFor(c.t, fmt.Sprintf("peers %v to share a view of themselves", members), func() bool {
		for i, id := range members {
			p := c.proc(id)
			if p == nil {
				return false
			}
			l, ok := p.lastView()
			if !ok || !slices.Equal(l.Members, members) || i > 0 && (l.View != v.View || l.Leader != v.Leader) {
				return false
			}
			v = l
		}
		return true
	})
	return v
}

// mark is how many stderr lines each peer had printed at some moment.
type mark map[int]int

func (c *cluster) mark() mark {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := mark{}
	for id, p := range c.procs {
		p.mu.Lock()
		m[id] = len(p.lines)
		p.mu.Unlock()
	}
	return m
}

// since returns what peer id printed after m.
func (c *cluster) since(m mark, id int) []string {
	return c.proc(id).stderr()[m[id]:]
}

// checkAlive fails the test if any of the peers has exited.
func (c *cluster) checkAlive(ids ...int) {
	c.t.Helper()
	for _, id := range ids {
		if p := c.proc(id); p.exited() {
			c.t.Fatalf("peer %d exited with code %d", id, p.exitCode())
		}
	}
}

// checkLines fails the test unless, since m, peer id printed exactly want
// (view lines given as their parsed members and leader, message lines as
// their message).
func (c *cluster) checkLines(m mark, id int, want ...string) {
	c.t.Helper()
	got := c.since(m, id)
	var short []string
	for _, s := range got {
		l, err := testcase.ParseLine(s)
		switch {
		case err != nil:
			short = append(short, "bad line "+s)
		case l.IsView:
			short = append(short, fmt.Sprintf("view %v leader %d", l.Members, l.Leader))
		default:
			short = append(short, l.Message)
		}
	}
	if !slices.Equal(short, want) {
		c.t.Fatalf("peer %d printed %q since the mark, want %q", id, short, want)
	}
}

func view(leader int, members ...int) string {
	return fmt.Sprintf("view %v leader %d", members, leader)
}

// join starts spare peer id, waits until members (which must include it)
// share a view, and checks that this join is the only thing each of them
// printed since m. It is the positive condition after an attack: the group
// still runs view changes, and nothing else happened.
func (c *cluster) join(m mark, id int, members ...int) {
	c.t.Helper()
	c.start(id)
	c.waitView(members...)
	leader := members[0]
	for _, p := range members {
		c.checkLines(m, p, view(leader, members...))
	}
	c.checkAlive(members...)
}

// quietFor waits until d has passed since from: an upper bound for a
// failure detection that an attack might have caused.
func quietFor(from time.Time, d time.Duration) {
	time.Sleep(time.Until(from.Add(d)))
}

// goroutines reads a peer's goroutine count from its -pprof server.
func goroutines(t *testing.T, pprofAddr string) int {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("pprof: %v", err)
	}
	defer resp.Body.Close()
	first, _ := bufio.NewReader(resp.Body).ReadString('\n')
	var n int
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &n); err != nil {
		t.Fatalf("pprof: %q: %v", first, err)
	}
	io.Copy(io.Discard, resp.Body)
	return n
}

// freeAddr is a free loopback TCP address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
