package testcase

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Local runs a testcase as five local processes on loopback.
type Local struct {
	Binary    string  // the peer binary
	Dir       string  // where logs go: peer-N.stderr and peer-N.jsonl
	HostsFile string  // empty: write one with free 127.0.0.1 ports into Dir
	Scale     float64 // multiplies the course's -d and -c seconds (0: 1)
	// Extra flags for every peer (heartbeat timing, log level).
	Extra []string
	// Live, when set, receives every stderr line as it happens, prefixed with the peer.
	Live io.Writer
	// Deadline bounds the whole run (0: the testcase's timeline plus 30 s).
	Deadline time.Duration
}

// Result is a finished local run.
type Result struct {
	Output
	Exit    map[int]int // exit codes (-1: killed at the end)
	Elapsed time.Duration
}

// Run starts the five peers at once, waits until the testcase's end is
// reached and every peer that should exit has exited (or the deadline), then
// stops the rest and returns what they printed.
func (l *Local) Run(ctx context.Context, c Case) (*Result, error) {
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, err
	}
	hosts := l.HostsFile
	if hosts == "" {
		hosts = filepath.Join(l.Dir, "hostsfile.txt")
		if err := WriteLoopbackHosts(hosts, 5); err != nil {
			return nil, err
		}
	}
	scale := l.Scale
	if scale == 0 {
		scale = 1
	}
	deadline := l.Deadline
	if deadline == 0 {
		deadline = time.Duration(float64(timeline(c))*scale*float64(time.Second)) + 30*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	var (
		mu   sync.Mutex
		out  = Output{Stderr: map[int][]string{}}
		exit = map[int]int{}
		wg   sync.WaitGroup
		cmds = map[int]*exec.Cmd{}
	)
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	start := time.Now()
	for p := 1; p <= 5; p++ {
		args := append([]string{"-h", hosts, "-i", strconv.Itoa(p)}, l.Extra...)
		args = append(args, ScaleFlags(c.Flags[p-1], scale)...)
		cmd := exec.Command(l.Binary, args...)
		stdout, err := os.Create(filepath.Join(l.Dir, fmt.Sprintf("peer-%d.jsonl", p)))
		if err != nil {
			return nil, err
		}
		defer stdout.Close()
		errFile, err := os.Create(filepath.Join(l.Dir, fmt.Sprintf("peer-%d.stderr", p)))
		if err != nil {
			return nil, err
		}
		defer errFile.Close()
		cmd.Stdout = stdout
		pipe, err := cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start peer %d: %w", p, err)
		}
		cmds[p] = cmd
		wg.Add(1)
		go func(p int, r io.Reader) {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				line := sc.Text()
				fmt.Fprintln(errFile, line)
				mu.Lock()
				out.Stderr[p] = append(out.Stderr[p], line)
				if l.Live != nil {
					fmt.Fprintf(l.Live, "  [%6.2fs] peer %d | %s\n", time.Since(start).Seconds(), p, line)
				}
				mu.Unlock()
				poke()
			}
			err := cmds[p].Wait()
			mu.Lock()
			exit[p] = exitCode(err)
			mu.Unlock()
			poke()
		}(p, pipe)
	}

	finished := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if !c.Done(out) {
			return false
		}
		for _, p := range append(append([]int{}, c.Crashed...), c.Removed...) {
			if _, ok := exit[p]; !ok {
				return false
			}
		}
		return true
	}
	for !finished() {
		select {
		case <-changed:
		case <-ctx.Done():
			goto stop
		}
	}
stop:
	// What the testcase printed ends here: SIGTERM makes each peer leave the
	// group gracefully, which installs more views.
	mu.Lock()
	result := Output{Stderr: map[int][]string{}}
	for p, lines := range out.Stderr {
		result.Stderr[p] = slices.Clone(lines)
	}
	exits := maps.Clone(exit)
	mu.Unlock()
	for p, cmd := range cmds {
		mu.Lock()
		_, exited := exit[p]
		mu.Unlock()
		if !exited {
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		for _, cmd := range cmds {
			cmd.Process.Kill()
		}
		<-waited
	}
	return &Result{Output: result, Exit: exits, Elapsed: time.Since(start)}, nil
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// timeline is the course seconds until the testcase's last event.
func timeline(c Case) float64 {
	end := 0.0
	for _, f := range c.Flags {
		d, cr := flagValue(f, "-d"), flagValue(f, "-c")
		end = max(end, d+cr)
	}
	return end
}

func flagValue(flags []string, name string) float64 {
	for i := 0; i+1 < len(flags); i++ {
		if flags[i] == name {
			v, _ := strconv.ParseFloat(flags[i+1], 64)
			return v
		}
	}
	return 0
}

// ScaleFlags multiplies the values of -d and -c by scale.
func ScaleFlags(flags []string, scale float64) []string {
	out := append([]string(nil), flags...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "-d" || out[i] == "-c" {
			v, _ := strconv.ParseFloat(out[i+1], 64)
			out[i+1] = strconv.FormatFloat(v*scale, 'f', -1, 64)
		}
	}
	return out
}

// WriteLoopbackHosts writes a hostsfile of n peers on free 127.0.0.1 ports
// (free for both TCP and UDP when checked).
func WriteLoopbackHosts(path string, n int) error {
	var b []byte
	b = append(b, "# generated: one peer per line, host:port (TCP and UDP)\n"...)
	seen := map[int]bool{}
	for len(seen) < n {
		port, err := freePort()
		if err != nil {
			return err
		}
		if !seen[port] {
			seen[port] = true
			b = fmt.Appendf(b, "127.0.0.1:%d\n", port)
		}
	}
	return os.WriteFile(path, b, 0o644)
}

func freePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("testcase: no free port")
}
