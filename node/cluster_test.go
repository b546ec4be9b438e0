package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"peer/codec"
)

// cluster runs nodes in one goroutine over an in-memory network that keeps
// per-pair FIFO order, as TCP does. Every message is encoded and decoded, so
// the codec and the node never share memory. A message for a peer that is
// not running is refused: its sender gets a Refused input (as from
// wire.Config.OnRefused) when the network settles. A paused peer's messages
// wait until it resumes.
type cluster struct {
	t   testing.TB
	n   int
	cfg func(*Config)
	// indexed by peer id (0 unused)
	nodes    []*Node
	alive    []bool
	paused   []bool
	watching [][]codec.PeerID             // what each node's detector watches (Output.Watch)
	queues   map[[2]codec.PeerID][][]byte // (from, to) -> frames
	refused  [][2]codec.PeerID            // (sender, dead peer), to deliver as Refused
	lines    [][]string
	views    [][]View
	exits    []*Exit
	starts   []uint64 // processes started per peer: the next one's incarnation
	// filter, when set, may drop a message: return false to drop.
	filter func(from, to codec.PeerID, m codec.Message) bool
	// net, when set, carries the frames instead of queues (the simulator's
	// timed network); deliverOne and settle then have nothing to deliver.
	net network
}

// network carries encoded messages between the cluster's peers.
type network interface {
	// transmit hands one frame from -> to to the network.
	transmit(from, to codec.PeerID, frame []byte)
	// lost drops everything in flight to a peer that crashed or exited.
	lost(to codec.PeerID)
}

func newCluster(t testing.TB, n int, mod func(*Config)) *cluster {
	return &cluster{
		t: t, n: n, cfg: mod,
		nodes:    make([]*Node, n+1),
		alive:    make([]bool, n+1),
		paused:   make([]bool, n+1),
		watching: make([][]codec.PeerID, n+1),
		queues:   map[[2]codec.PeerID][][]byte{},
		lines:    make([][]string, n+1),
		views:    make([][]View, n+1),
		exits:    make([]*Exit, n+1),
		starts:   make([]uint64, n+1),
	}
}

func (c *cluster) config(id codec.PeerID) Config {
	cfg := Config{Self: id, Peers: c.n, Leader: id == 1 && c.starts[id] <= 1, RetryTicks: 3, ProbeTicks: 6, Logger: zerolog.Nop()}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	return cfg
}

// start creates (or restarts, with fresh state and a new incarnation) peer
// id and starts it. A restarted peer 1 joins (-join).
func (c *cluster) start(id codec.PeerID) {
	c.spawn(id)
	c.apply(id, c.nodes[id].Step(Start{}))
}

// spawn creates (or re-creates, with fresh state) peer id without starting it.
func (c *cluster) spawn(id codec.PeerID) {
	c.starts[id]++
	cfg := c.config(id)
	if cfg.Incarnation == 0 {
		cfg.Incarnation = c.starts[id]
	}
	c.nodes[id] = New(cfg)
	c.alive[id], c.paused[id] = true, false
	c.exits[id] = nil
	c.watching[id] = nil
}

func (c *cluster) step(id codec.PeerID, in Input) {
	if c.alive[id] && !c.paused[id] {
		c.apply(id, c.nodes[id].Step(in))
	}
}

func (c *cluster) apply(id codec.PeerID, out Output) {
	for _, s := range out.Sends {
		b, err := codec.Marshal(s.Msg)
		if err != nil {
			c.t.Fatalf("peer %d: marshal %T: %v", id, s.Msg, err)
		}
		for _, to := range s.To {
			switch {
			case c.net != nil:
				c.net.transmit(id, to, b)
			case !c.alive[to]:
				c.refused = append(c.refused, [2]codec.PeerID{id, to})
			default:
				k := [2]codec.PeerID{id, to}
				c.queues[k] = append(c.queues[k], b)
			}
		}
	}
	if w := out.Watch; w != nil {
		c.watching[id] = w.Members
	}
	c.views[id] = append(c.views[id], out.Views...)
	c.lines[id] = append(c.lines[id], out.Lines...)
	if out.Exit != nil {
		c.exits[id] = out.Exit
		if out.Exit.Line != "" {
			c.lines[id] = append(c.lines[id], out.Exit.Line)
		}
		c.alive[id] = false
		if c.net != nil {
			c.net.lost(id) // the process is gone: nothing more reaches it
		}
	}
}

// deliverOne delivers the oldest message from -> to; false if there is none
// (or to is paused).
func (c *cluster) deliverOne(from, to codec.PeerID) bool {
	k := [2]codec.PeerID{from, to}
	q := c.queues[k]
	if len(q) == 0 || c.paused[to] {
		return false
	}
	b := q[0]
	c.queues[k] = q[1:]
	m, err := codec.Unmarshal(b)
	if err != nil {
		c.t.Fatalf("unmarshal %d->%d: %v", from, to, err)
	}
	if c.filter != nil && !c.filter(from, to, m) {
		return true
	}
	c.step(to, Receive{Msg: m})
	return true
}

// refuse delivers the refusals of messages sent to peers that were not
// running; false if there were none.
func (c *cluster) refuse() bool {
	r := c.refused
	c.refused = nil
	for _, p := range r {
		c.step(p[0], Refused{Peer: p[1]})
	}
	return len(r) > 0
}

// settle delivers messages, pairs in a fixed order, and refusals until none
// is left.
func (c *cluster) settle() {
	for round := 0; ; round++ {
		if round > 100000 {
			c.t.Fatal("network does not settle")
		}
		moved := c.refuse()
		for from := codec.PeerID(1); int(from) <= c.n; from++ {
			for to := codec.PeerID(1); int(to) <= c.n; to++ {
				if c.deliverOne(from, to) {
					moved = true
				}
			}
		}
		if !moved {
			return
		}
	}
}

// crash stops id without a word; what it already sent stays in flight.
func (c *cluster) crash(id codec.PeerID) {
	c.alive[id], c.paused[id] = false, false
	if c.net != nil {
		c.net.lost(id)
	}
	for k := range c.queues {
		if k[1] == id {
			delete(c.queues, k)
		}
	}
}

// pause stops id from taking any input; messages to it wait.
func (c *cluster) pause(id codec.PeerID) { c.paused[id] = true }

// resume lets a paused peer run again.
func (c *cluster) resume(id codec.PeerID) { c.paused[id] = false }

// detect makes the detector of every running peer that watches p report
// it. The peers then check it: a crashed p refuses their probes as soon as
// the network settles; a paused p lets them time out (tick).
func (c *cluster) detect(p codec.PeerID) {
	for id := codec.PeerID(1); int(id) <= c.n; id++ {
		if c.alive[id] && slices.Contains(c.watching[id], p) {
			c.step(id, Suspect{Peer: p})
		}
	}
}

// fail makes id's detector report p and the check fail at once, as when p's
// process is gone: id's probe is refused.
func (c *cluster) fail(id, p codec.PeerID) {
	c.step(id, Suspect{Peer: p})
	c.step(id, Refused{Peer: p})
}

func (c *cluster) tick(times int) {
	for range times {
		for id := codec.PeerID(1); int(id) <= c.n; id++ {
			c.step(id, Tick{})
		}
		c.settle()
	}
}

// lastView is the last view id installed by id.
func (c *cluster) lastView(id codec.PeerID) View {
	v := c.views[id]
	if len(v) == 0 {
		return View{}
	}
	return v[len(v)-1]
}

// checkAgreement fails if two peers installed different views with one id,
// or a peer's view ids did not strictly increase.
func (c *cluster) checkAgreement() {
	c.t.Helper()
	seen := map[codec.ViewID]View{}
	for id, vs := range c.views {
		for i, v := range vs {
			if i > 0 && v.ID <= vs[i-1].ID {
				c.t.Fatalf("peer %d: view ids not increasing: %v", id, vs)
			}
			if w, ok := seen[v.ID]; ok && (w.Leader != v.Leader || !slices.Equal(w.Members, v.Members)) {
				c.t.Fatalf("view %d differs: %v vs %v (peer %d)", v.ID, w, v, id)
			}
			seen[v.ID] = v
		}
	}
}

func (c *cluster) dump() string {
	var b strings.Builder
	for id := codec.PeerID(1); int(id) <= c.n; id++ {
		fmt.Fprintf(&b, "peer %d (alive %v):\n  %s\n", id, c.alive[id], strings.Join(c.lines[id], "\n  "))
	}
	return b.String()
}

func ids(p ...codec.PeerID) []codec.PeerID { return p }
