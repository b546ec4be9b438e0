package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"peer/tools/testcase"
)

// Group is one compose project on the engine: up to five containers one…five
// on the network mynetwork, started from one compose file with LogFile added
// (the JSON log on, which the image turns off).
//
// Up starts containers and follows each one's stderr alone (`docker logs -f`
// with stdout discarded), so Wait sees the assignment's lines as they happen.
// Collect reads every container's stdout and stderr apart (`docker logs`) and
// `compose logs` into Logs; Down removes the containers and the network.
type Group struct {
	Engine  *Engine
	Dir     string    // the repository root
	File    string    // the compose file, relative to Dir
	Project string    // the compose project name
	Logs    string    // where Collect writes peer-N.stderr, peer-N.jsonl, compose.log
	Live    io.Writer // when set, gets every stderr line and every action as it happens

	start   time.Time
	mu      sync.Mutex
	stderr  map[int][]string
	exited  map[int]int // exit code of each peer whose container has stopped
	follow  map[int]bool
	down    bool                 // Down has begun: containers stop because of it
	cancels []context.CancelFunc // stop the followers
	changed chan struct{}
	wg      sync.WaitGroup
	notes   []string
}

// Snapshot is what the group has printed so far.
type Snapshot struct {
	Out     testcase.Output
	Exited  map[int]int // peer -> exit code, for stopped containers
	Elapsed time.Duration
}

func (g *Group) init() {
	if g.changed == nil {
		g.changed = make(chan struct{}, 1)
		g.stderr = map[int][]string{}
		g.exited = map[int]int{}
		g.follow = map[int]bool{}
		g.start = time.Now()
	}
}

func (g *Group) poke() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// Say writes one line to Live, with the time since the group began.
func (g *Group) Say(format string, a ...any) {
	g.init()
	g.sayAt(time.Now(), format, a...)
}

func (g *Group) sayAt(at time.Time, format string, a ...any) {
	g.init()
	if g.Live != nil {
		g.mu.Lock()
		fmt.Fprintf(g.Live, "  [%6.2fs] %s\n", at.Sub(g.start).Seconds(), fmt.Sprintf(format, a...))
		g.mu.Unlock()
	}
}

// Note says one line with Say and keeps it for the run's report.
func (g *Group) Note(format string, a ...any) {
	g.Say(format, a...)
	g.mu.Lock()
	g.notes = append(g.notes, fmt.Sprintf(format, a...))
	g.mu.Unlock()
}

// Notes are the lines Note kept.
func (g *Group) Notes() []string {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.notes)
}

func (g *Group) compose(args ...string) []string {
	cmd := append(slices.Clone(g.Engine.Compose[1:]), "-p", g.Project,
		"-f", filepath.Join(g.Dir, g.File), "-f", filepath.Join(g.Dir, LogFile))
	return append(cmd, args...)
}

func (g *Group) runCompose(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, g.Engine.Compose[0], g.compose(args...)...)
	cmd.Dir = g.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", strings.Join(g.Engine.Compose, " "), strings.Join(args, " "), err, out)
	}
	return nil
}

// Clear makes sure the containers one…five do not exist: it removes them when
// they belong to a project of ours (a run that was killed before its Down),
// and refuses to touch anyone else's. Then it removes our projects' networks
// that such a run left.
func (g *Group) Clear(ctx context.Context) error {
	for _, name := range Names {
		out, err := output(ctx, "docker", "ps", "-a", "--filter", "name=^/?"+name+"$", "--format", `{{.Label "com.docker.compose.project"}}`)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			continue
		}
		if project := strings.TrimSpace(out); !strings.HasPrefix(project, ProjectPrefix) {
			return fmt.Errorf("%w: container %q exists (compose project %q): remove it first (`docker compose -p %s down`, or `docker rm -f %s`)",
				ErrNameTaken, name, project, project, name)
		}
		g.Say("removing container %s left by an earlier run", name)
		if _, err := output(ctx, "docker", "rm", "-f", "-v", name); err != nil {
			return err
		}
	}
	nets, err := removeStaleNetworks(ctx)
	if len(nets) > 0 {
		g.Say("removed networks left by an earlier run: %s", strings.Join(nets, " "))
	}
	return err
}

// ProjectPrefix starts every compose project name the runner uses.
const ProjectPrefix = "prj3-"

// Up starts the given services (all five when none) in the background and
// follows their stderr.
func (g *Group) Up(ctx context.Context, services ...string) error {
	g.init()
	g.Say("compose up -d %s", strings.Join(services, " "))
	if err := g.runCompose(ctx, append([]string{"up", "-d", "--no-build"}, services...)...); err != nil {
		return err
	}
	if len(services) == 0 {
		services = Names[:]
	}
	for _, s := range services {
		p := slices.Index(Names[:], s) + 1
		if p == 0 {
			return fmt.Errorf("deploy: unknown service %q", s)
		}
		g.mu.Lock()
		already := g.follow[p]
		g.follow[p] = true
		delete(g.exited, p)
		if !already {
			g.stderr[p] = nil // docker logs -f replays the container's whole log
			fctx, cancel := context.WithCancel(ctx)
			g.cancels = append(g.cancels, cancel)
			g.wg.Add(1)
			go g.followPeer(fctx, p)
		}
		g.mu.Unlock()
	}
	return nil
}

// followPeer streams peer p's stderr until its container stops, then records
// the exit code.
func (g *Group) followPeer(ctx context.Context, p int) {
	defer g.wg.Done()
	name := Names[p-1]
	cmd := exec.CommandContext(ctx, "docker", "logs", "-f", "-t", name)
	cmd.Stdout = io.Discard
	pipe, err := cmd.StderrPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		g.Say("peer %d: docker logs: %v", p, err)
		return
	}
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// "2006-01-02T15:04:05.999999999Z line": when the engine got the line.
		stamp, line, _ := strings.Cut(sc.Text(), " ")
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			at = time.Now()
		}
		g.mu.Lock()
		g.stderr[p] = append(g.stderr[p], line)
		g.mu.Unlock()
		g.sayAt(at, "peer %d | %s", p, line)
		g.poke()
	}
	cmd.Wait()
	g.mu.Lock()
	down := g.down
	g.mu.Unlock()
	if ctx.Err() != nil || down {
		return
	}
	out, err := output(ctx, "docker", "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", name)
	f := strings.Fields(out)
	g.mu.Lock()
	g.follow[p] = false
	if err == nil && len(f) == 2 && f[0] == "false" {
		g.exited[p], _ = strconv.Atoi(f[1])
	}
	code, ok := g.exited[p]
	g.mu.Unlock()
	if ok {
		g.Say("peer %d: container %s exited with code %d", p, name, code)
	}
	g.poke()
}

// Snapshot returns a copy of what the group has printed so far.
func (g *Group) Snapshot() Snapshot {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Snapshot{Out: testcase.Output{Stderr: map[int][]string{}}, Exited: maps.Clone(g.exited), Elapsed: time.Since(g.start)}
	for p, l := range g.stderr {
		s.Out.Stderr[p] = slices.Clone(l)
	}
	return s
}

// Wait returns when cond holds, or an error naming what when ctx ends or
// timeout passes first.
func (g *Group) Wait(ctx context.Context, what string, timeout time.Duration, cond func(Snapshot) bool) error {
	g.init()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if cond(g.Snapshot()) {
			g.Say("ok: %s", what)
			return nil
		}
		select {
		case <-g.changed:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// Docker runs `docker verb container` for peer p (kill, pause, unpause, …).
func (g *Group) Docker(ctx context.Context, verb string, p int) error {
	g.Say("docker %s %s", verb, Names[p-1])
	_, err := output(ctx, "docker", verb, Names[p-1])
	return err
}

// Collect reads each started container's stderr and stdout apart and the
// combined `compose logs`, writes them under Logs, and returns the stderr
// lines (the exact separation, not the live stream).
func (g *Group) Collect(ctx context.Context) (testcase.Output, error) {
	g.init()
	out := testcase.Output{Stderr: map[int][]string{}}
	os.RemoveAll(g.Logs) // an earlier run's files
	if err := os.MkdirAll(g.Logs, 0o755); err != nil {
		return out, err
	}
	for p, name := range Names {
		p++
		if _, err := output(ctx, "docker", "inspect", "-f", "{{.Id}}", name); err != nil {
			continue // never started
		}
		var stdout, stderr strings.Builder
		cmd := exec.CommandContext(ctx, "docker", "logs", name)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return out, fmt.Errorf("docker logs %s: %v", name, err)
		}
		if s := strings.TrimSuffix(stderr.String(), "\n"); s != "" {
			out.Stderr[p] = strings.Split(s, "\n")
		}
		if err := os.WriteFile(filepath.Join(g.Logs, fmt.Sprintf("peer-%d.stderr", p)), []byte(stderr.String()), 0o644); err != nil {
			return out, err
		}
		if err := os.WriteFile(filepath.Join(g.Logs, fmt.Sprintf("peer-%d.jsonl", p)), []byte(stdout.String()), 0o644); err != nil {
			return out, err
		}
	}
	cmd := exec.CommandContext(ctx, g.Engine.Compose[0], g.compose("logs", "--no-color")...)
	cmd.Dir = g.Dir
	logs, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("compose logs: %v\n%s", err, logs)
	}
	return out, os.WriteFile(filepath.Join(g.Logs, "compose.log"), logs, 0o644)
}

// Down removes the project's containers and network (unpausing first, since
// a paused container cannot be stopped), waits for the followers, and checks
// that nothing is left. It runs on its own deadline, so call it even after
// ctx was cancelled.
func (g *Group) Down() error {
	g.init()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g.mu.Lock()
	g.down = true
	g.mu.Unlock()
	g.Say("compose down")
	for _, name := range Names {
		if out, _ := output(ctx, "docker", "inspect", "-f", "{{.State.Paused}}", name); strings.TrimSpace(out) == "true" {
			output(ctx, "docker", "unpause", name)
		}
	}
	err := g.runCompose(ctx, "down", "-v", "--remove-orphans", "-t", "2")
	// The followers end with their containers; if one does not, stop it.
	followed := make(chan struct{})
	go func() { g.wg.Wait(); close(followed) }()
	select {
	case <-followed:
	case <-time.After(30 * time.Second):
		g.mu.Lock()
		for _, cancel := range g.cancels {
			cancel()
		}
		g.mu.Unlock()
		<-followed
	}
	g.mu.Lock()
	for _, cancel := range g.cancels {
		cancel()
	}
	g.mu.Unlock()
	// Whatever compose left (it should leave nothing): remove it and say so.
	left, lerr := output(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+g.Project)
	if lerr == nil && strings.TrimSpace(left) != "" {
		output(ctx, "docker", append([]string{"rm", "-f", "-v"}, strings.Fields(left)...)...)
		err = errors.Join(err, fmt.Errorf("deploy: compose down left containers %s", strings.Join(strings.Fields(left), " ")))
	}
	if nets, nerr := g.removeNetworks(ctx); nerr != nil || len(nets) > 0 {
		err = errors.Join(err, nerr, fmt.Errorf("deploy: compose down left networks %s", strings.Join(nets, " ")))
	}
	return err
}

// removeNetworks removes this project's networks, if any are left, and
// returns their names.
func (g *Group) removeNetworks(ctx context.Context) ([]string, error) {
	out, err := output(ctx, "docker", "network", "ls", "--format", "{{.Name}}", "--filter", "label=com.docker.compose.project="+g.Project)
	if err != nil {
		return nil, err
	}
	nets := strings.Fields(out)
	if len(nets) > 0 {
		_, err = output(ctx, "docker", append([]string{"network", "rm"}, nets...)...)
	}
	return nets, err
}

// removeStaleNetworks removes the networks of our other projects that a run
// killed before its Down left behind (once their containers are gone, which
// Clear sees to: the container names are the same in every project).
func removeStaleNetworks(ctx context.Context) ([]string, error) {
	out, err := output(ctx, "docker", "network", "ls", "--format", `{{.Name}} {{.Label "com.docker.compose.project"}}`)
	if err != nil {
		return nil, err
	}
	var nets []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], ProjectPrefix) {
			nets = append(nets, f[0])
		}
	}
	if len(nets) > 0 {
		_, err = output(ctx, "docker", append([]string{"network", "rm"}, nets...)...)
	}
	return nets, err
}
