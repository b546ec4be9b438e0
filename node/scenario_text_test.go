package node

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"peer/codec"
)

// The scenarios in testdata/scenarios are written as text, one file each,
// for a reader who knows the assignment and not the code: a block of
// commands, a line "----", and what the peers printed on stderr meanwhile
// (and which exited), in peer order. The commands drive a cluster (see
// cluster_test.go): the network delivers messages only when told to.
//
//	peers N [rejoin]      a hostsfile of N peers (first line of a file)
//	start ID...           start each peer in turn, letting the network settle after each
//	boot ID...            start the peers all at once, delivering nothing
//	crash ID              the process is gone: nothing more reaches it, connections to it are refused
//	pause ID / resume ID  the process stops running, then runs again; messages to it wait
//	detect ID             every peer watching ID has its detector report it (a suspicion), then settle
//	suspect ID P          only ID's detector reports P
//	refused ID P          a connection from ID to P is refused (P is gone)
//	deliver FROM TO [K]   deliver the next K (1) messages from FROM to TO
//	lose FROM TO          the messages on their way from FROM to TO are lost (a broken connection)
//	settle                deliver every message and refusal until none is left
//	tick K                K ticks for every running peer, settling after each
//	leave ID              ID is asked to leave (SIGTERM)
//	testcase4 ID          ID gets the -t input
//
// go test ./node -run TestScenarioFiles -rewrite writes what the peers
// printed into the files instead of comparing.
var rewrite = flag.Bool("rewrite", false, "write the output of testdata/scenarios/*.txt instead of checking it")

func TestScenarioFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := runScenario(t, string(b))
			if err != nil {
				t.Fatal(err)
			}
			if *rewrite {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(b) {
				t.Errorf("%s: the peers printed something else (go test ./node -run TestScenarioFiles -rewrite shows what):\n%s",
					file, firstDifference(string(b), got))
			}
		})
	}
}

// runScenario plays a scenario and returns its text with the output of each
// block written in.
func runScenario(t *testing.T, text string) (string, error) {
	var c *cluster
	var mark []int    // lines printed by each peer before the block
	var exited []bool // exits already written
	var out strings.Builder
	for bi, st := range parseScenario(text) {
		if bi > 0 {
			out.WriteString("\n")
		}
		for _, line := range st {
			out.WriteString(line + "\n")
			f := strings.Fields(strings.SplitN(line, "#", 2)[0])
			switch {
			case len(f) == 0:
			case f[0] == "peers":
				n, err := strconv.Atoi(f[1])
				if err != nil {
					return "", fmt.Errorf("%q: %v", line, err)
				}
				rejoin := slices.Contains(f, "rejoin")
				c = newCluster(t, n, func(cfg *Config) { cfg.Rejoin = rejoin })
				mark, exited = make([]int, n+1), make([]bool, n+1)
			case c == nil:
				return "", fmt.Errorf("%q before peers", line)
			default:
				if err := scenarioCommand(c, f); err != nil {
					return "", fmt.Errorf("%q: %v", line, err)
				}
			}
		}
		out.WriteString("----\n")
		for id := 1; c != nil && id <= c.n; id++ {
			for _, l := range c.lines[id][mark[id]:] {
				fmt.Fprintf(&out, "%d %s\n", id, l)
			}
			mark[id] = len(c.lines[id])
			if e := c.exits[id]; e != nil && !exited[id] {
				exited[id] = true
				fmt.Fprintf(&out, "%d exits: %s\n", id, e.Reason)
			}
		}
	}
	return out.String(), nil
}

// parseScenario returns the command lines of each block: the lines before a
// "----"; what follows it, up to a blank line, is that block's output.
func parseScenario(text string) [][]string {
	var blocks [][]string
	var cur []string
	inOutput := false
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case line == "----":
			blocks = append(blocks, cur)
			cur, inOutput = nil, true
		case inOutput && line == "":
			inOutput = false
		case !inOutput:
			cur = append(cur, line)
		}
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

func scenarioCommand(c *cluster, f []string) error {
	var args []codec.PeerID
	for _, a := range f[1:] {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 || (f[0] != "tick" && f[0] != "deliver" && (n < 1 || n > c.n)) {
			return fmt.Errorf("bad argument %q", a)
		}
		args = append(args, codec.PeerID(n))
	}
	need := func(k int) error {
		if len(args) < k {
			return fmt.Errorf("%s needs %d arguments", f[0], k)
		}
		return nil
	}
	switch f[0] {
	case "start":
		for _, id := range args {
			c.start(id)
			c.settle()
		}
	case "boot":
		for _, id := range args {
			c.start(id)
		}
	case "crash":
		if err := need(1); err != nil {
			return err
		}
		c.crash(args[0])
	case "pause":
		if err := need(1); err != nil {
			return err
		}
		c.pause(args[0])
	case "resume":
		if err := need(1); err != nil {
			return err
		}
		c.resume(args[0])
	case "detect":
		if err := need(1); err != nil {
			return err
		}
		c.detect(args[0])
		c.settle()
	case "suspect":
		if err := need(2); err != nil {
			return err
		}
		c.step(args[0], Suspect{Peer: args[1]})
	case "refused":
		if err := need(2); err != nil {
			return err
		}
		c.step(args[0], Refused{Peer: args[1]})
	case "deliver":
		if err := need(2); err != nil {
			return err
		}
		k := 1
		if len(args) > 2 {
			k = int(args[2])
		}
		for range k {
			if !c.deliverOne(args[0], args[1]) {
				return fmt.Errorf("no message from %d to %d", args[0], args[1])
			}
		}
	case "lose":
		if err := need(2); err != nil {
			return err
		}
		delete(c.queues, [2]codec.PeerID{args[0], args[1]})
	case "settle":
		c.settle()
	case "tick":
		if err := need(1); err != nil {
			return err
		}
		c.tick(int(args[0]))
	case "leave":
		if err := need(1); err != nil {
			return err
		}
		c.step(args[0], Leave{})
	case "testcase4":
		if err := need(1); err != nil {
			return err
		}
		c.step(args[0], TestCase4{})
	default:
		return fmt.Errorf("unknown command %q", f[0])
	}
	return nil
}

// firstDifference shows the first line where want and got differ, with a
// little context.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, a, b)
		}
	}
	return "(no difference)"
}
