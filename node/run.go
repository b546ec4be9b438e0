package node

import (
	"context"
	"io"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
)

// Sender delivers messages to peers. Send and SendMany must never block: the
// runner's loop calls them. Flush waits until everything queued has left.
type Sender interface {
	SendMany(to []codec.PeerID, m codec.Message)
	Flush(ctx context.Context) error
}

// Connector is implemented by a Sender that can open connections ahead of
// need (wire.Transport). Connect must never block.
type Connector interface {
	Connect(to []codec.PeerID)
}

// Watcher is the failure detector's side that follows the view. Its methods
// must never block.
type Watcher interface {
	// SetView makes the detector watch the members of a view.
	SetView(id codec.ViewID, members []codec.PeerID)
	// SetBallot gives the ballot this node follows to the heartbeats.
	SetBallot(epoch uint64, leader codec.PeerID)
	// Rewatch makes the detector watch members afresh: a suspicion of them
	// ended, and it reports them again after a new silence.
	Rewatch(members []codec.PeerID)
}

// Runner drives a Node from one goroutine: inbound events, ticks, the crash
// timer and status queries all arrive on channels to its select loop, so the
// node's state is never touched concurrently.
type Runner struct {
	Node     *Node
	Net      Sender
	Detector Watcher
	Stderr   io.Writer // the assignment's lines, one write per line
	// Tick is the period of Tick inputs (retransmissions count in ticks).
	// While the node does not need ticks (Output.Ticks) the loop does not
	// wake for them: the ticks that passed go in with the next input.
	Tick time.Duration
	// CrashAfter, when positive, is the -c flag: crash this long after Start.
	CrashAfter time.Duration
	// FlushTimeout bounds the flush before a -t exit.
	FlushTimeout time.Duration
	// Log receives the runner's own few lines (a failed flush).
	Log zerolog.Logger
	// OnView, if set, is called with every view the node installs, on the
	// runner's goroutine, after its line is printed. It must not block.
	OnView func(View)

	status chan chan Status
}

// NewRunner returns a runner; call Run from one goroutine.
func NewRunner(r Runner) *Runner {
	r.status = make(chan chan Status)
	if r.Tick <= 0 {
		r.Tick = 100 * time.Millisecond
	}
	if r.FlushTimeout <= 0 {
		r.FlushTimeout = 5 * time.Second
	}
	return &r
}

// Status asks the loop for a snapshot (Node.Status); it fails when ctx ends
// first, as it does when the loop is not running.
func (r *Runner) Status(ctx context.Context) (Status, error) {
	reply := make(chan Status, 1)
	select {
	case r.status <- reply:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

// Run starts the node and processes inputs until the node exits (its Exit is
// returned, after the flush and the last line it asks for) or ctx ends
// (ctx.Err()).
func (r *Runner) Run(ctx context.Context, inputs <-chan Input) (Exit, error) {
	timer := time.NewTimer(r.Tick)
	defer timer.Stop()
	last := time.Now()         // the end of the last tick handed to the node
	var crash <-chan time.Time // nil: disabled
	if r.CrashAfter > 0 {
		t := time.NewTimer(r.CrashAfter)
		defer t.Stop()
		crash = t.C
	}
	ticking := false // the last Output.Ticks
	step := func(in Input) (Exit, bool) {
		out := r.Node.Step(in)
		ticking = out.Ticks
		for _, s := range out.Sends {
			r.Net.SendMany(s.To, s.Msg)
		}
		if w := out.Watch; w != nil {
			r.Detector.SetView(w.View, w.Members)
		}
		if b := out.Ballot; b != nil {
			r.Detector.SetBallot(b.Epoch, b.Leader)
		}
		if len(out.Rewatch) > 0 {
			r.Detector.Rewatch(out.Rewatch)
		}
		if c, ok := r.Net.(Connector); ok && len(out.Connect) > 0 {
			c.Connect(out.Connect)
		}
		for _, line := range out.Lines {
			io.WriteString(r.Stderr, line+"\n")
		}
		if r.OnView != nil {
			for _, v := range out.Views {
				r.OnView(v)
			}
		}
		if e := out.Exit; e != nil {
			if e.Flush {
				fctx, cancel := context.WithTimeout(ctx, r.FlushTimeout)
				if err := r.Net.Flush(fctx); err != nil {
					r.Log.Warn().Str("event", "flush_failed").Err(err).Msg("not every message left before exit")
				}
				cancel()
			}
			if e.Line != "" {
				io.WriteString(r.Stderr, e.Line+"\n")
			}
			return *e, true
		}
		return Exit{}, false
	}
	// ticks hands the node the whole ticks that passed since last, in one Tick.
	ticks := func(now time.Time) (Exit, bool) {
		k := now.Sub(last) / r.Tick
		if k <= 0 {
			return Exit{}, false
		}
		last = last.Add(k * r.Tick)
		return step(Tick{Count: uint64(k)})
	}
	if e, done := step(Start{}); done {
		return e, nil
	}
	for {
		var tick <-chan time.Time // nil: the node is idle, no wake-ups for ticks
		if ticking {
			timer.Reset(time.Until(last.Add(r.Tick)))
			tick = timer.C
		}
		var in Input
		select {
		case <-ctx.Done():
			return Exit{}, ctx.Err()
		case in = <-inputs:
		case <-tick:
		case <-crash:
			in = Crash{}
		case reply := <-r.status:
			reply <- r.Node.Status()
			continue
		}
		now := time.Now()
		if !ticking {
			// The node was idle: the input that woke the loop came after
			// the ticks that passed, which go first. A suspicion that
			// ends a quiet second gets its whole probe wait.
			if e, done := ticks(now); done {
				return e, nil
			}
		}
		// A ticking loop woke late only if it could not run: the inputs
		// that were waiting are older than the ticks that passed meanwhile,
		// so they go first, and a probe whose answer is waiting here is not
		// timed out.
		for k := 0; in != nil; k++ {
			if e, done := step(in); done {
				return e, nil
			}
			in = nil
			if k < maxDrain {
				select {
				case in = <-inputs:
				default:
				}
			}
		}
		if e, done := ticks(now); done {
			return e, nil
		}
	}
}

// maxDrain bounds the waiting inputs the loop takes before it hands the node
// the ticks that passed: a flood of input must not stop time.
const maxDrain = 256
