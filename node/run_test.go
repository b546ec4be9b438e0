package node

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"peer/codec"
)

// fakeNet records what the runner sends.
type fakeNet struct {
	mu    sync.Mutex
	joins int
}

func (f *fakeNet) SendMany(to []codec.PeerID, m codec.Message) {
	if _, ok := m.(*codec.Join); ok {
		f.mu.Lock()
		f.joins++
		f.mu.Unlock()
	}
}

func (f *fakeNet) Flush(context.Context) error { return nil }

func (f *fakeNet) joinsSent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joins
}

// fakeWatcher records the member lists the runner gives the detector, and
// the members it asks it to watch afresh.
type fakeWatcher struct {
	mu      sync.Mutex
	views   [][]codec.PeerID
	rewatch []codec.PeerID
}

func (w *fakeWatcher) SetView(_ codec.ViewID, members []codec.PeerID) {
	w.mu.Lock()
	w.views = append(w.views, slices.Clone(members))
	w.mu.Unlock()
}

func (w *fakeWatcher) SetBallot(uint64, codec.PeerID) {}

func (w *fakeWatcher) Rewatch(members []codec.PeerID) {
	w.mu.Lock()
	w.rewatch = append(w.rewatch, members...)
	w.mu.Unlock()
}

func (w *fakeWatcher) seen() [][]codec.PeerID {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.views)
}

func (w *fakeWatcher) rewatched() []codec.PeerID {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.rewatch)
}

// startRunner runs a runner for node until the test ends; the returned
// function stops it and waits for Run to return.
func startRunner(t *testing.T, n *Node, net *fakeNet, w *fakeWatcher, tick time.Duration, inputs chan Input) (stop func()) {
	t.Helper()
	r := NewRunner(Runner{Node: n, Net: net, Detector: w, Stderr: io.Discard, Tick: tick})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, inputs)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestRunnerTicksWhileBusy: a joiner needs ticks, so the runner keeps
// waking for them and the JOIN is sent again every RetryTicks.
func TestRunnerTicksWhileBusy(t *testing.T) {
	n := New(Config{Self: 2, Peers: 3, RetryTicks: 2, Logger: zerolog.Nop()})
	net := &fakeNet{}
	startRunner(t, n, net, &fakeWatcher{}, time.Millisecond, make(chan Input))
	waitUntil(t, func() bool { return net.joinsSent() >= 4 }, func() string {
		return fmt.Sprintf("%d JOINs sent in 30 s with a 1 ms tick, want at least 4", net.joinsSent())
	})
}

// TestRunnerIdleTicksCatchUp: an idle node gets no tick wake-ups, but the
// ticks that passed reach it with the next input, so its clock is the same
// as if it had been woken for each.
func TestRunnerIdleTicksCatchUp(t *testing.T) {
	n := New(Config{Self: 1, Peers: 3, Leader: true, RetryTicks: 2, Logger: zerolog.Nop()})
	inputs := make(chan Input)
	start := time.Now() // before Run reads its clock
	stop := startRunner(t, n, &fakeNet{}, &fakeWatcher{}, time.Millisecond, inputs)
	// Inputs that change nothing: the loop takes the first after Start.
	inputs <- Heard{Peer: 1, ViewID: 1}
	time.Sleep(50 * time.Millisecond) // the quiet stretch to be accounted for
	inputs <- Heard{Peer: 1, ViewID: 1}
	stop()
	elapsed := time.Since(start) // after Run returned: every clock read of Run comes before it
	if n.needsTicks() {
		t.Fatalf("a lone leader with nothing to do needs ticks (role %v)", n.Role())
	}
	if n.tick < 50 || time.Duration(n.tick)*time.Millisecond > elapsed {
		t.Fatalf("node clock %d ticks after %v of 1 ms ticks, want between 50 and %d", n.tick, elapsed, elapsed/time.Millisecond)
	}
}

// TestRunnerIdleSuspicionGetsFullWait: the ticks of a quiet stretch come
// before the suspicion that ends it, so they do not count against the probe:
// the member is removed no sooner than ProbeTicks after the suspicion. (A
// quiet stretch longer than the wait would pass anyway, as a stall.)
func TestRunnerIdleSuspicionGetsFullWait(t *testing.T) {
	const probeTicks = 200
	n := New(Config{Self: 1, Peers: 2, Leader: true, RetryTicks: 2, ProbeTicks: probeTicks, Logger: zerolog.Nop()})
	w := &fakeWatcher{}
	inputs := make(chan Input)
	startRunner(t, n, &fakeNet{}, w, time.Millisecond, inputs)
	inputs <- Receive{Msg: &codec.Join{From: 2, Joiner: 2, Incarnation: 1}} // view 2 [1,2], then idle
	time.Sleep(probeTicks * time.Millisecond * 3 / 4)                       // quiet for most of a probe wait
	suspected := time.Now()
	inputs <- Suspect{Peer: 2}
	waitWatched(t, w, [][]codec.PeerID{{1}, {1, 2}, {1}})
	// The probe's ticks are handed no sooner than they pass; one tick of
	// slack for the partial tick before the suspicion.
	if d := time.Since(suspected); d < (probeTicks-1)*time.Millisecond {
		t.Fatalf("member removed %v after the suspicion, want at least %d ticks of 1 ms", d, probeTicks-1)
	}
}

// TestRunnerWakesForProbeDeadline: a suspicion makes an idle leader need
// ticks: the probe is not answered, so the runner must wake for its deadline,
// when the check fails and the leader removes the member.
func TestRunnerWakesForProbeDeadline(t *testing.T) {
	n := New(Config{Self: 1, Peers: 2, Leader: true, RetryTicks: 2, ProbeTicks: 4, Logger: zerolog.Nop()})
	w := &fakeWatcher{}
	inputs := make(chan Input)
	startRunner(t, n, &fakeNet{}, w, time.Millisecond, inputs)
	inputs <- Receive{Msg: &codec.Join{From: 2, Joiner: 2, Incarnation: 1}} // a lone leader commits view 2 [1,2] at once
	inputs <- Suspect{Peer: 2}                                              // nobody answers the probe
	waitWatched(t, w, [][]codec.PeerID{{1}, {1, 2}, {1}})
}

// TestRunnerRewatchesAfterProbeAnswer: an answered probe ends the
// suspicion, and the runner has the detector watch the member afresh.
func TestRunnerRewatchesAfterProbeAnswer(t *testing.T) {
	n := New(Config{Self: 1, Peers: 2, Leader: true, RetryTicks: 2, ProbeTicks: 1000, Logger: zerolog.Nop()})
	w := &fakeWatcher{}
	inputs := make(chan Input)
	startRunner(t, n, &fakeNet{}, w, time.Millisecond, inputs)
	inputs <- Receive{Msg: &codec.Join{From: 2, Joiner: 2, Incarnation: 1}}
	inputs <- Suspect{Peer: 2}
	inputs <- Receive{Msg: &codec.ProbeAck{From: 2, Nonce: 1, Epoch: 1, EpochLeader: 1, Incarnation: 1}}
	// 2 is watched afresh when it enters the view, and again after the answer.
	waitUntil(t, func() bool { return slices.Equal(w.rewatched(), []codec.PeerID{2, 2}) }, func() string {
		return fmt.Sprintf("rewatched %v, want [2 2]", w.rewatched())
	})
}

// waitWatched waits until the detector has been given exactly these member
// lists, in order.
func waitWatched(t *testing.T, w *fakeWatcher, want [][]codec.PeerID) {
	t.Helper()
	waitUntil(t, func() bool { return slices.EqualFunc(w.seen(), want, slices.Equal) }, func() string {
		return fmt.Sprintf("detector views %v, want %v", w.seen(), want)
	})
}

// waitUntil polls ok until it holds, and fails with failure() after 30 s.
func waitUntil(t *testing.T, ok func() bool, failure func() string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(failure())
		}
	}
}
