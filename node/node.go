package node

import (
	"github.com/rs/zerolog"

	"peer/codec"
)

// Config is what a node needs to know about itself and the group.
type Config struct {
	Self  codec.PeerID // this peer's id
	Peers int          // size of the hostsfile: valid ids are 1..Peers
	// Leader makes this node start the group: it installs view 1 with itself
	// alone. Normally peer 1, unless told to join an existing group.
	Leader bool
	// RetryTicks is how many ticks pass before a JOIN, an unanswered REQ
	// or NEWLEADER is sent again (TCP frames are lost when a connection
	// breaks). Minimum 1. An unanswered PROBE is sent again every tick.
	RetryTicks int
	// ProbeTicks is how long a suspected member has to answer a probe
	// before the check fails and it counts as failed. A refused connection
	// fails the check at once. Default 2*RetryTicks.
	ProbeTicks int
	// Rejoin makes a peer that learns it was removed join again instead of exiting.
	Rejoin bool
	// FastFail makes a refused connection a failure even when the detector
	// has not suspected the member yet (-fast-fail).
	FastFail bool
	// LeaveTicks bounds a graceful leave: a peer that asked to leave exits
	// this long after, even if its removal has not been committed. Default
	// 2*ProbeTicks.
	LeaveTicks int
	// Incarnation tells this process from the earlier and later ones of the
	// same peer (its start time): a view records the incarnation of each
	// member, so a restarted peer never takes its old self's place, which
	// may have promised and accepted what the new one does not know.
	// Default 1.
	Incarnation uint64
	Logger      zerolog.Logger
}

// Input is one thing that happens to a node.
type Input interface{ isInput() }

// Start begins the protocol: the first leader installs view 1, a joiner sends JOIN.
type Start struct{}

// Receive delivers a decoded message from the network.
type Receive struct{ Msg codec.Message }

// Suspect reports that the detector has not heard from Peer within the
// timeout. It is only a suspicion: the node checks it with a probe.
type Suspect struct{ Peer codec.PeerID }

// Alive reports that the detector hears Peer again after it reported it.
type Alive struct{ Peer codec.PeerID }

// Refused reports that a connection to Peer was refused: nothing listens at
// its address, so its process is gone.
type Refused struct{ Peer codec.PeerID }

// Heard reports a heartbeat from Peer carrying a view id or a ballot
// (Epoch, EpochLeader) other than ours.
type Heard struct {
	Peer        codec.PeerID
	ViewID      codec.ViewID
	Epoch       uint64
	EpochLeader codec.PeerID
}

// Tick is the passage of time: Count ticks (0 counts as one). A runner may
// skip the ticks of a node that does not need them (Output.Ticks false) and
// hand them over together with the next input.
type Tick struct{ Count uint64 }

// Crash is the -c timer: print "crashing" and exit at once.
type Crash struct{}

// Leave is a graceful shutdown (SIGTERM): the peer asks to be removed, and
// exits once it is (or after Config.LeaveTicks). A leader hands over first:
// the next member takes over at once, with no timeout to wait for.
type Leave struct{}

// TestCase4 is the course's -t action, for a leader of a view of every host
// with no change running: a DEL of the highest id whose REQ goes to every
// member except the next leader, then an exit once the REQs have left
// (Exit.Flush). Anywhere else it does nothing: package membership sends it
// after each view this peer installs as the leader of every host.
type TestCase4 struct{}

func (Start) isInput()     {}
func (Receive) isInput()   {}
func (Suspect) isInput()   {}
func (Alive) isInput()     {}
func (Refused) isInput()   {}
func (Heard) isInput()     {}
func (Tick) isInput()      {}
func (Crash) isInput()     {}
func (Leave) isInput()     {}
func (TestCase4) isInput() {}

// Send is one message for one or more peers.
type Send struct {
	To  []codec.PeerID
	Msg codec.Message
}

// Watch is what the failure detector should watch: the members of a view
// (none while the node is not in one).
type Watch struct {
	View    codec.ViewID
	Members []codec.PeerID
}

// Exit ends the process.
type Exit struct {
	Code   int
	Reason string
	// Flush: every queued message must have left before the exit (-t).
	Flush bool
	// Line is printed on stderr last (after the flush), if not empty.
	Line string
}

// Output is everything one Step asks the caller to do, in this order: send
// the messages, give the detector the watch list and then the members to
// watch afresh, connect ahead of need, print the lines, exit. Ticks tells
// whether the node needs Tick inputs until the next step.
type Output struct {
	Sends   []Send
	Views   []View // installed in this step, in order (their lines are in Lines)
	Watch   *Watch
	Ballot  *Ballot        // the ballot followed changed: the heartbeats carry it
	Rewatch []codec.PeerID // suspicions that ended: watch these members afresh
	Connect []codec.PeerID // connect to these peers now: this node may soon have to reach them all
	Lines   []string
	Exit    *Exit
	Ticks   bool
}

// broken holds deliberately broken variants of the protocol. Only the
// simulator's self-check sets them, to show that its checks can fail.
type broken struct {
	commitEarly    bool // the leader commits after the first OK instead of all
	applyOnReq     bool // a member installs the proposed view on REQ
	skipPending    bool // a new leader ignores the proposals its members accepted
	ignoreNewer    bool // a candidate ignores a newer view it is told of
	forgetReported bool // a failure is printed again whenever it is learned again
	rawSuspicion   bool // a detector timeout is taken as a failure, unchecked
	neverRevoke    bool // a suspicion or failure is never undone
	noQuorum       bool // a change or takeover goes ahead without a quorum
	deafToBallots  bool // a heartbeat's ballot is ignored
	impersonate    bool // a joiner takes any view with its id, whatever the incarnation
}

type role uint8

const (
	roleJoining   role = iota // not in any view yet (or removed and rejoining)
	roleMember                // in a view, following the leader of its ballot
	roleCandidate             // taking over: collecting promises and pending operations
	roleLeader                // running view changes
	roleGone                  // exited
)

var roleNames = [...]string{"joining", "member", "candidate", "leader", "gone"}

func (r role) String() string { return roleNames[r] }

// Node is the protocol state machine of one peer. It is not safe for
// concurrent use: one goroutine calls Step (see Runner).
type Node struct {
	cfg    Config
	log    zerolog.Logger
	broken broken // deliberately broken variants, set only by tests
	// checkFailed, set only by the simulator's checker, hears every member
	// this node's own check finds down (with its incarnation and the view).
	checkFailed func(p codec.PeerID, inc uint64, view codec.ViewID)
	// withdrew, set only by the checker too, hears every report this node
	// withdraws, with the number of lines printed in the step before it.
	withdrew func(p codec.PeerID, line int)

	role   role
	tick   uint64
	seq    uint32 // request counter
	probes uint64 // probe nonce counter

	view        View
	history     []View                   // the last views installed, oldest first; the last is view
	installedAt uint64                   // the tick view was installed at
	ballot      Ballot                   // the highest ballot acknowledged; its leader is the one followed
	beacon      Ballot                   // the ballot last given to the detector (Output.Ballot)
	hearsay     bool                     // ballot came from a third party: its leader has not shown itself under it
	gap         gap                      // a view more than one ahead, held back while the ones between are asked for
	accepted    *proposal                // the proposal for view this node accepted (its pending operation)
	members     map[codec.PeerID]*member // one record per other member of view
	told        map[codec.PeerID]told    // when a peer was last told of a newer view or ballot

	// takeover is a NEWLEADER this member answers once its check of the
	// leader it follows has failed (onNewLeader).
	takeover *codec.NewLeader
	// leaving: this peer asked to leave at tick leftAt (Leave).
	leaving bool
	leftAt  uint64

	joinSentAt uint64                        // joiner: tick of the last JOIN
	queued     queued                        // joiner: the leader that queued its JOIN
	forwarded  map[codec.PeerID]codec.PeerID // member: the leader each joiner's JOIN was passed to
	joins      []codec.PeerID                // leader or candidate: joiners waiting, in arrival order
	joinIncs   map[codec.PeerID]uint64       // leader or candidate: the incarnation each joiner asked with
	change     *change                       // leader: the change in progress
	round      *round                        // candidate: the NEWLEADER round

	out Output
}

// New returns a node that has not started yet; Step(Start{}) starts it.
func New(cfg Config) *Node {
	if cfg.RetryTicks < 1 {
		cfg.RetryTicks = 1
	}
	if cfg.ProbeTicks < 1 {
		cfg.ProbeTicks = 2 * cfg.RetryTicks
	}
	if cfg.LeaveTicks < 1 {
		cfg.LeaveTicks = 2 * cfg.ProbeTicks
	}
	if cfg.Incarnation == 0 {
		cfg.Incarnation = 1
	}
	return &Node{
		cfg:       cfg,
		log:       cfg.Logger.With().Str("component", "node").Logger(),
		members:   map[codec.PeerID]*member{},
		told:      map[codec.PeerID]told{},
		forwarded: map[codec.PeerID]codec.PeerID{},
		joinIncs:  map[codec.PeerID]uint64{},
	}
}

// View is the installed view (ID 0 before the first one).
func (n *Node) View() View { return n.view }

// Leader is the peer this node follows (itself when it leads or takes over).
func (n *Node) Leader() codec.PeerID { return n.ballot.Leader }

// Ballot is the highest ballot this node has acknowledged.
func (n *Node) Ballot() Ballot { return n.ballot }

// Role names the node's role, for logs and status.
func (n *Node) Role() string { return n.role.String() }

// Step applies one input and returns what the caller must do.
func (n *Node) Step(in Input) Output {
	n.out = Output{}
	if n.role != roleGone {
		switch in := in.(type) {
		case Start:
			n.start()
		case Receive:
			n.receive(in.Msg)
		case Suspect:
			n.onSuspect(in.Peer)
		case Alive:
			n.revoke(in.Peer, "heartbeat")
		case Refused:
			n.onRefused(in.Peer)
		case Heard:
			n.onHeard(in)
		case Tick:
			n.onTick(max(in.Count, 1))
		case Crash:
			n.exit(0, "crash flag", false, "crashing")
		case Leave:
			n.leave()
		case TestCase4:
			n.testCase4()
		}
		n.maybeTakeOver()
		if n.ballot != n.beacon {
			n.beacon = n.ballot
			b := n.ballot
			n.out.Ballot = &b
		}
	}
	n.out.Ticks = n.needsTicks()
	out := n.out
	n.out = Output{}
	return out
}

// receive checks the sender and hands the message to the role's step.
func (n *Node) receive(m codec.Message) {
	from := m.Sender()
	if !n.inRange(from) || from == n.cfg.Self {
		n.log.Debug().Str("event", "drop").Stringer("type", m.Type()).Uint32("from", uint32(from)).Msg("sender not in hostsfile")
		return
	}
	if e := n.log.Debug(); e.Enabled() {
		e.Str("event", "recv").Stringer("type", m.Type()).Uint32("from", uint32(from)).Interface("msg", m).Msg("")
	}
	switch m := m.(type) {
	case *codec.Probe:
		// Answered in every role: it asks whether this process runs, and
		// whom it follows.
		n.send1(from, &codec.ProbeAck{From: n.cfg.Self, Nonce: m.Nonce, Epoch: n.ballot.Epoch, EpochLeader: n.ballot.Leader,
			Incarnation: n.cfg.Incarnation})
		return
	case *codec.ProbeAck:
		n.onProbeAck(m)
		return
	case *codec.Leave:
		n.onLeave(m)
		return
	}
	switch n.role {
	case roleJoining:
		n.stepJoining(m)
	case roleMember:
		n.stepMember(m)
	case roleCandidate:
		n.stepCandidate(m)
	case roleLeader:
		n.stepLeader(m)
	}
}

// needsTicks reports whether a tick could make the node act: a JOIN, REQ,
// NEWLEADER or PROBE to send again, a probe that may time out, or a view
// held back until the ones between come (gap). While it is false a runner
// need not wake for ticks.
func (n *Node) needsTicks() bool {
	if n.leaving || n.gap.view > n.view.ID {
		return true
	}
	switch n.role {
	case roleJoining, roleCandidate:
		return true
	case roleGone:
		return false
	case roleLeader:
		if n.change != nil && !n.change.blocked {
			return true
		}
	}
	for _, m := range n.members {
		if m.suspected || m.down {
			return true // a check runs, or a member found down is checked again
		}
	}
	return false
}

func (n *Node) onTick(count uint64) {
	n.tick += count
	if n.gap.view > n.view.ID {
		n.sinceStall(&n.gap.at, count)
	}
	n.probeTick(count)
	n.leaveTick()
	if n.role == roleGone {
		return
	}
	due := func(at uint64) bool { return n.tick-at >= uint64(n.cfg.RetryTicks) }
	switch n.role {
	case roleJoining:
		if due(n.joinSentAt) {
			n.retryJoin()
		}
	case roleLeader:
		if c := n.change; c != nil && !c.blocked && due(c.sentAt) {
			c.sentAt = n.tick
			n.send(c.waiting.sorted(), n.reqMsg(c.p))
		}
	case roleCandidate:
		if due(n.round.sentAt) {
			n.round.sentAt = n.tick
			n.send(n.awaited(), n.newLeaderMsg())
			n.askStrangers()
		}
	}
}

// sinceStall: a wait that began among the inputs that waited through a
// stall (at the tick before the count ticks just handed over) has waited one
// tick, not the stall: at moves to the last tick. It reports whether it did.
func (n *Node) sinceStall(at *uint64, count uint64) bool {
	if count <= 1 || *at != n.tick-count {
		return false
	}
	*at = n.tick - 1
	return true
}

func (n *Node) newRequest() codec.RequestID {
	n.seq++
	return codec.NewRequestID(n.cfg.Self, n.seq)
}

func (n *Node) inRange(p codec.PeerID) bool { return p >= 1 && int(p) <= n.cfg.Peers }
