package node

import (
	"slices"

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
	// RetryTicks is how many ticks pass before a JOIN, an unanswered REQ or an
	// unanswered NEWLEADER is sent again (TCP frames are lost when a
	// connection breaks). Minimum 1.
	RetryTicks int
	// ReconcileTicks is how long a new leader waits for a peer it learned of
	// during reconciliation but does not watch with its detector.
	ReconcileTicks int
	// TestCase4 is the -t flag: once every host has joined, start a DEL of the
	// highest id, send its REQ to every member except the next leader, exit.
	TestCase4 bool
	// Rejoin makes a peer that learns it was removed join again instead of exiting.
	Rejoin bool
	// NewMemberGrace, when positive, is how many ticks after a member enters
	// this peer's view its first silence is not trusted yet. Such a member
	// may not have learned the view: when the leader dies while sending a
	// NEWVIEW, the members it missed get the view only from the next leader,
	// about one timeout later, and send no heartbeats to the peers they do
	// not know of until then. Instead of reporting it, the node drops the
	// member from Watch for one step, so the detector watches it afresh with
	// a new grace period; a second silence is reported. The silence of a
	// member that showed early enough, by a message, that its view has this
	// peer (it sends heartbeats since) is trusted at once. 0 means
	// ReconcileTicks+RetryTicks (about one timeout plus one retry);
	// negative turns it off (scripted tests that suspect with no ticks).
	NewMemberGrace int
	// Faults deliberately break the protocol; only the simulator's self-check
	// sets them.
	Faults Faults
	Logger zerolog.Logger
}

// Faults are deliberately broken variants of the protocol. The simulator runs
// them to show that its invariant checks can fail.
type Faults struct {
	CommitEarly    bool // the leader commits after the first OK instead of all
	ApplyOnReq     bool // a member installs the proposed view on REQ
	SkipPending    bool // a new leader ignores the members' pending operations
	IgnoreNewer    bool // a new leader ignores members that are a view ahead
	ForgetReported bool // a failure is printed again on every detection
}

// Input is one thing that happens to a node.
type Input interface{ isInput() }

// Start begins the protocol: the first leader installs view 1, a joiner sends JOIN.
type Start struct{}

// Receive delivers a decoded message from the network.
type Receive struct{ Msg codec.Message }

// Suspect reports that the detector has not heard from Peer within the timeout.
type Suspect struct{ Peer codec.PeerID }

// Heard reports a heartbeat from Peer carrying a view id other than ours.
type Heard struct {
	Peer   codec.PeerID
	ViewID codec.ViewID
}

// Tick is the passage of time: Count ticks (0 counts as one). A runner may
// skip the ticks of an idle node (NeedsTicks false) and hand them over
// together with the next input.
type Tick struct{ Count uint64 }

// Crash is the -c timer: print "crashing" and exit at once.
type Crash struct{}

func (Start) isInput()   {}
func (Receive) isInput() {}
func (Suspect) isInput() {}
func (Heard) isInput()   {}
func (Tick) isInput()    {}
func (Crash) isInput()   {}

// Send is one message for one or more peers.
type Send struct {
	To  []codec.PeerID
	Msg codec.Message
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

// Output is what one Step asks the caller to do, in this order: send the
// messages, tell the detector about the last view, print the lines, exit.
type Output struct {
	Sends []Send
	Views []View
	Lines []string
	Exit  *Exit
}

type role uint8

const (
	roleJoining   role = iota // not in any view yet (or removed and rejoining)
	roleMember                // in a view, following a leader
	roleCandidate             // taking over from a failed leader: collecting pending operations
	roleLeader                // running view changes
	roleGone                  // exited
)

var roleNames = [...]string{"joining", "member", "candidate", "leader", "gone"}

func (r role) String() string { return roleNames[r] }

// pendingOp is the operation a member saved on REQ.
type pendingOp struct {
	req   codec.RequestID
	view  codec.ViewID
	op    codec.Op
	peers []codec.PeerID
}

// change is a view change the leader is running.
type change struct {
	req     codec.RequestID
	op      codec.Op
	peers   []codec.PeerID
	waiting set // members whose OK has not arrived
	sentAt  uint64
}

// reconcile is a new leader's NEWLEADER round.
type reconcile struct {
	req      codec.RequestID
	replaces codec.PeerID
	waiting  set                     // peers whose reply has not arrived
	extra    map[codec.PeerID]uint64 // waited-for non-members and the tick to give up on them
	replies  map[codec.PeerID]*codec.PendingReply
	sentAt   uint64
}

// Node is the protocol state machine of one peer. It is not safe for
// concurrent use: one goroutine calls Step (see Runner).
type Node struct {
	cfg  Config
	log  zerolog.Logger
	role role
	tick uint64
	seq  uint32 // request counter

	view   View
	leader codec.PeerID // the peer this node follows (itself when leading)
	// presumed: leader is the peer this node expects to take over from a
	// failed leader, and it has not heard from it yet.
	presumed bool
	pending  *pendingOp
	failed   set // peers reported unreachable (each printed once)

	joinSentAt uint64 // joiner: tick of the last JOIN

	joins []codec.PeerID // leader: joiners waiting, in arrival order
	op    *change        // leader: the change in progress
	rec   *reconcile     // candidate: the NEWLEADER round
	t4    bool           // the -t action is done

	nudged map[codec.PeerID]uint64 // leader: tick of the last view re-sent to a lagging or removed peer

	since       map[codec.PeerID]uint64       // tick at which each member entered this peer's view
	addedIn     map[codec.PeerID]codec.ViewID // the view with which each member entered it
	knownAt     map[codec.PeerID]uint64       // tick at which each member showed its view has this peer
	unaware     map[codec.PeerID]uint64       // tick of the last JOIN from each member: it does not know the view
	regraced    set                           // members whose first silence got a fresh grace period
	unwatch     []codec.PeerID                // left out of Watch until the next step, so the detector watches them afresh
	stepMembers []codec.PeerID                // the view's members when the step began

	out Output
}

// New returns a node that has not started yet; Step(Start{}) starts it.
func New(cfg Config) *Node {
	if cfg.RetryTicks < 1 {
		cfg.RetryTicks = 1
	}
	if cfg.ReconcileTicks < 1 {
		cfg.ReconcileTicks = 4 * cfg.RetryTicks
	}
	if cfg.NewMemberGrace == 0 {
		cfg.NewMemberGrace = cfg.ReconcileTicks + cfg.RetryTicks
	}
	return &Node{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "node").Logger(),
		failed:   set{},
		nudged:   map[codec.PeerID]uint64{},
		since:    map[codec.PeerID]uint64{},
		addedIn:  map[codec.PeerID]codec.ViewID{},
		knownAt:  map[codec.PeerID]uint64{},
		unaware:  map[codec.PeerID]uint64{},
		regraced: set{},
	}
}

// View is the installed view (ID 0 before the first one).
func (n *Node) View() View { return n.view }

// Leader is the peer this node currently follows (itself when it leads).
func (n *Node) Leader() codec.PeerID { return n.leader }

// Watch is what the failure detector should watch: the view while this peer is
// a member of it, nothing while it is joining or gone.
func (n *Node) Watch() (codec.ViewID, []codec.PeerID) {
	if n.role == roleJoining || n.role == roleGone {
		return n.view.ID, nil
	}
	if len(n.unwatch) > 0 {
		members := make([]codec.PeerID, 0, len(n.view.Members))
		for _, p := range n.view.Members {
			if !slices.Contains(n.unwatch, p) {
				members = append(members, p)
			}
		}
		return n.view.ID, members
	}
	return n.view.ID, n.view.Members
}

// NeedsTicks reports whether the next tick matters: it could make the node
// act (retransmit a JOIN, REQ or NEWLEADER, or give up waiting for a peer),
// or Watch leaves a member out for this step only, to be watched afresh from
// the next one. While it is false, a tick only advances the node's clock, so
// a runner need not wake for it.
func (n *Node) NeedsTicks() bool {
	return len(n.unwatch) > 0 || n.role == roleJoining || n.role == roleCandidate ||
		(n.role == roleLeader && n.op != nil)
}

// Successor is the member that takes over if the leader of the installed
// view fails now: the lowest member other than the leader (0 if none).
func (n *Node) Successor() codec.PeerID {
	var s codec.PeerID
	for _, p := range n.view.Members {
		if p != n.view.Leader && (s == 0 || p < s) {
			s = p
		}
	}
	return s
}

// Role names the node's role, for logs and status.
func (n *Node) Role() string { return n.role.String() }

// Step applies one input and returns what the caller must do.
func (n *Node) Step(in Input) Output {
	n.out = Output{}
	n.unwatch = n.unwatch[:0]
	n.stepMembers = nil
	if n.role != roleJoining {
		n.stepMembers = n.view.Members // what the detector watches now
	}
	if n.role == roleGone {
		return n.out
	}
	switch in := in.(type) {
	case Start:
		n.start()
	case Receive:
		n.receive(in.Msg)
	case Suspect:
		n.suspect(in.Peer)
	case Heard:
		n.heard(in.Peer, in.ViewID)
	case Tick:
		n.onTick(max(in.Count, 1))
	case Crash:
		n.exit(0, "crash flag", false, "crashing")
	}
	out := n.out
	n.out = Output{}
	return out
}
