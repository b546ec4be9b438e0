package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"peer/hosts"
	"peer/tools/testcase"
)

const root = ".." // the repository, from this package's folder

// The top-level compose files are the course's table (spec §7), unmodified:
// the text ComposeCase renders from testcase.Cases.
func TestComposeFilesAreTheCourseTable(t *testing.T) {
	for _, c := range testcase.Cases {
		checkFile(t, CaseFile(c.N), ComposeCase(c))
		text := ComposeCase(c)
		for i, name := range Names {
			want := "command: " + strings.Join(append([]string{"-h", "hostsfile.txt"}, c.Flags[i]...), " ") + "\n"
			block := text[strings.Index(text, "  "+name+":\n"):]
			if !strings.Contains(block[:strings.Index(block, "networks:")], want) {
				t.Errorf("%s: service %s lacks %q", CaseFile(c.N), name, want)
			}
		}
	}
	checkFile(t, FaultsFile, ComposeFaults())
	checkFile(t, PartitionFile, ComposePartition())
	checkFile(t, LogFile, ComposeLog())
}

// The image turns the JSON log off (PEER_LOG_LEVEL=off, both Dockerfiles'
// final stage), so that `docker compose up` shows the assignment's lines
// alone; LogFile turns it back on in each of the five services.
func TestJSONLogOneFileAway(t *testing.T) {
	if !slices.Contains(finalStage(t, "Dockerfile"), "ENV PEER_LOG_LEVEL=off") {
		t.Error("Dockerfile's final stage lacks ENV PEER_LOG_LEVEL=off")
	}
	text := ComposeLog()
	for _, name := range Names {
		want := "  " + name + ":\n    environment:\n      PEER_LOG_LEVEL: " + LogLevel + "\n"
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q", LogFile, want)
		}
	}
}

// hostsfile.txt lists one…five without ports, and each container finds
// itself in it by hostname.
func TestHostsFile(t *testing.T) {
	checkFile(t, "hostsfile.txt", HostsFile())
	f, err := hosts.Load(filepath.Join(root, "hostsfile.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range Names {
		id, err := f.Self(0, name)
		if err != nil || int(id) != i+1 {
			t.Errorf("hostname %s: id %d, %v; want %d", name, id, err, i+1)
		}
		if e, _ := f.Entry(id); e.Port != 0 {
			t.Errorf("%s has port %d; the containers use the default ports", name, e.Port)
		}
	}
}

func checkFile(t *testing.T, name, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s differs from what deploy renders:\n--- have\n%s\n--- want\n%s", name, got, want)
	}
}

// The image from deploy/Dockerfile.local (tested here) has the same final
// stage as ./Dockerfile's (the course's `docker build .`), but for where the
// binary comes from; its entrypoint is the program alone and its working
// directory holds hostsfile.txt, so `command: -h hostsfile.txt` works.
func TestDockerfileFinalStages(t *testing.T) {
	src := finalStage(t, "Dockerfile")
	local := finalStage(t, "deploy/Dockerfile.local")
	norm := func(lines []string) []string {
		out := slices.Clone(lines)
		for i, l := range out {
			switch l {
			case "COPY --from=build /out/peer /app/peer", "COPY bin/prj3/peer /app/peer":
				out[i] = "COPY <the static binary> /app/peer"
			}
		}
		return out
	}
	if !slices.Equal(norm(src), norm(local)) {
		t.Fatalf("final stages differ:\nDockerfile:\n  %s\ndeploy/Dockerfile.local:\n  %s", strings.Join(src, "\n  "), strings.Join(local, "\n  "))
	}
	for _, want := range []string{"FROM scratch", "WORKDIR /app", "COPY hostsfile.txt /app/hostsfile.txt", `ENTRYPOINT ["/app/peer"]`} {
		if !slices.Contains(local, want) {
			t.Errorf("final stage lacks %q", want)
		}
	}
	if slices.ContainsFunc(local, func(l string) bool { return strings.HasPrefix(l, "CMD") }) {
		t.Error("final stage has a CMD: compose's command must be the only arguments")
	}
	// The build stage is what the local path does on the host.
	text, _ := os.ReadFile(filepath.Join(root, "Dockerfile"))
	for _, want := range []string{"ARG GO_IMAGE=golang:1.26", "FROM ${GO_IMAGE} AS build", "ENV CGO_ENABLED=0",
		`RUN ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/peer", "./cmd/peer"]`} {
		if !strings.Contains(string(text), want+"\n") {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// finalStage returns the instructions from the last FROM on, without
// comments and blank lines.
func finalStage(t *testing.T, name string) []string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(text), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "FROM ") {
			lines = lines[:0]
		}
		lines = append(lines, l)
	}
	return lines
}

func TestEarliestFirst(t *testing.T) {
	out := testcase.Output{Stderr: map[int][]string{
		2: {"{peer_id:2, view_id: 3, leader: 1, memb_list: [1,2,4]}"},
		4: {"{peer_id:4, view_id: 2, leader: 1, memb_list: [1,4]}", "{peer_id:4, view_id: 3, leader: 1, memb_list: [1,2,4]}"},
	}}
	c := earliestFirst(testcase.Case{Survivors: []int{2, 3, 4}}, out)
	if !slices.Equal(c.Survivors, []int{4, 2, 3}) {
		t.Fatalf("survivors %v, want [4 2 3]", c.Survivors)
	}
}

// TestDocker builds image prj3 here (nothing pulled) and runs the four
// compose testcases, unmodified with the default heartbeat, the fault runs
// and the partition runs on the Docker engine. It needs an engine and takes
// a few minutes, so it runs only with PEER_DOCKER_TEST=1; ./run.sh test runs
// the same through
// ./run.sh docker (bin/dockertc) when an engine answers.
func TestDocker(t *testing.T) {
	if os.Getenv("PEER_DOCKER_TEST") != "1" {
		t.Skip("set PEER_DOCKER_TEST=1 to run the container testcases here (./run.sh docker runs them too)")
	}
	ctx := context.Background()
	eng, err := FindEngine(ctx)
	if err != nil {
		t.Skipf("docker: engine not available, container testcases skipped (%v)", err)
	}
	if err := eng.BuildLocal(ctx, root, Image); err != nil {
		t.Fatal(err)
	}
	for _, c := range testcase.Cases {
		if out, err := exec.Command(eng.Compose[0], append(eng.Compose[1:], "-f", filepath.Join(root, CaseFile(c.N)), "config", "-q")...).CombinedOutput(); err != nil {
			t.Fatalf("%s config: %v\n%s", CaseFile(c.N), err, out)
		}
		if out, err := exec.Command(eng.Compose[0], append(eng.Compose[1:], "-f", filepath.Join(root, CaseFile(c.N)),
			"-f", filepath.Join(root, LogFile), "config", "-q")...).CombinedOutput(); err != nil {
			t.Fatalf("%s with %s config: %v\n%s", CaseFile(c.N), LogFile, err, out)
		}
	}
	r := &Runner{Engine: eng, Dir: root, Logs: t.TempDir()}
	report := func(t *testing.T, rep Report) {
		t.Helper()
		t.Logf("%s: %s (%.1fs)", rep.Name, rep.What, rep.Elapsed.Seconds())
		for _, e := range rep.Errs {
			t.Error(e)
		}
		if !rep.Pass() {
			for p := 1; p <= 5; p++ {
				b, _ := os.ReadFile(filepath.Join(rep.Logs, fmt.Sprintf("peer-%d.stderr", p)))
				t.Logf("peer %d stderr:\n%s", p, b)
			}
		}
	}
	start := time.Now()
	for _, c := range testcase.Cases {
		t.Run(fmt.Sprintf("TC%d", c.N), func(t *testing.T) { report(t, r.Case(ctx, c)) })
	}
	for _, f := range slices.Concat(Faults, Partitions) {
		t.Run(f.Name, func(t *testing.T) { report(t, r.Fault(ctx, f)) })
	}
	t.Logf("all runs in %v", time.Since(start).Round(time.Second))
	left, _ := output(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project")
	for _, id := range strings.Fields(left) {
		proj, _ := output(ctx, "docker", "inspect", "-f", `{{index .Config.Labels "com.docker.compose.project"}}`, id)
		if strings.HasPrefix(strings.TrimSpace(proj), ProjectPrefix) {
			t.Errorf("container %s of project %s left behind", id, strings.TrimSpace(proj))
		}
	}
}
