package node

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"peer/codec"
	"peer/detector"
)

// The deterministic simulator: see docs/simulation.md.
//
//	go test ./node -run TestSimulation                 # the default seeds
//	SIM_SEEDS=1000000 go test ./node -run TestSimulation -timeout 3h
//	SIM_SEED=1234 go test ./node -run 'TestSimulation$' -v   # one seed, with its trace

// simDefaultSeeds is how many schedules `go test ./node` runs: about a
// minute on two cores (fewer under the race detector, see sim_race_test.go).
const simDefaultSeeds = 50000

func simSeeds(t *testing.T) int {
	if v := os.Getenv("SIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SIM_SEEDS=%q: want a positive number", v)
		}
		return n
	}
	if raceEnabled {
		return simRaceSeeds
	}
	return simDefaultSeeds
}

// runSim plays one seed.
func runSim(seed uint64, b broken, tracing bool) *sim {
	s := newSim(seed, b, tracing)
	s.run()
	return s
}

// simFailure is a seed that broke an invariant.
type simFailure struct {
	seed uint64
	err  error
}

// simResult sums up a batch of seeds.
type simResult struct {
	runs      int
	failures  []simFailure // sorted by seed
	steps     int
	msgs      int
	hbs       int
	faults    [numFaultKinds]int
	maxSettle int64
	settleAt  uint64 // the seed of maxSettle
	// suspicions: detector timeouts of running peers, every one checked
	suspicions int
	breaks     int   // connections broken with frames in flight
	noQuorum   int   // schedules that ended stuck without a quorum, as designed
	virtual    int64 // virtual time, summed
	elapsed    time.Duration
}

// runSeeds plays seeds first..first+n-1 on every core. With stopAt > 0 it
// stops dispatching once that many seeds failed and returns the lowest
// failing seeds (every lower seed has run).
func runSeeds(first uint64, n int, b broken, stopAt int, progress func(done int)) simResult {
	start := time.Now()
	var (
		mu     sync.Mutex
		res    simResult
		next   atomic.Uint64
		failed atomic.Int64
		done   atomic.Int64
		wg     sync.WaitGroup
	)
	next.Store(first)
	limit := first + uint64(n)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local simResult
			for {
				if stopAt > 0 && failed.Load() >= int64(stopAt) {
					break
				}
				seed := next.Add(1) - 1
				if seed >= limit {
					break
				}
				s := runSim(seed, b, false)
				local.add(seed, s)
				if s.err != nil {
					failed.Add(1)
					local.failures = append(local.failures, simFailure{seed, s.err})
				}
				if d := done.Add(1); progress != nil && d%100000 == 0 {
					progress(int(d))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.merge(local)
		}()
	}
	wg.Wait()
	slices.SortFunc(res.failures, func(a, b simFailure) int { return cmpU64(a.seed, b.seed) })
	res.elapsed = time.Since(start)
	return res
}

// add counts one schedule.
func (r *simResult) add(seed uint64, s *sim) {
	r.runs++
	r.steps += s.stats.steps
	r.msgs += s.stats.msgs
	r.hbs += s.stats.heartbeats
	r.virtual += s.stats.end
	for k, c := range s.stats.faults {
		r.faults[k] += c
	}
	if s.stats.maxSettle > r.maxSettle {
		r.maxSettle, r.settleAt = s.stats.maxSettle, seed
	}
	r.suspicions += s.stats.suspicions
	r.breaks += s.stats.breaks
	r.noQuorum += s.stats.noQuorum
}

// merge adds up two batches.
func (r *simResult) merge(o simResult) {
	r.runs += o.runs
	r.steps += o.steps
	r.msgs += o.msgs
	r.hbs += o.hbs
	r.virtual += o.virtual
	for k, c := range o.faults {
		r.faults[k] += c
	}
	if o.maxSettle > r.maxSettle {
		r.maxSettle, r.settleAt = o.maxSettle, o.settleAt
	}
	r.suspicions += o.suspicions
	r.breaks += o.breaks
	r.noQuorum += o.noQuorum
	r.failures = append(r.failures, o.failures...)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (r simResult) String() string {
	var kinds []string
	for k, c := range r.faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", faultNames[k], c))
	}
	return fmt.Sprintf("%d schedules in %v (%.0f/s): %d steps, %d messages, %d heartbeats, %d virtual ticks; faults: %s; "+
		"slowest recovery %s ticks (seed %d); suspicions of running peers %d (checked, none acted on); "+
		"connections broken %d; stuck without a quorum %d",
		r.runs, r.elapsed.Round(time.Millisecond), float64(r.runs)/r.elapsed.Seconds(), r.steps, r.msgs, r.hbs,
		r.virtual/unitsPerTick, strings.Join(kinds, ", "), fmtTime(r.maxSettle), r.settleAt, r.suspicions, r.breaks, r.noQuorum)
}

// replay runs a seed again with its trace, checks that it fails the same way,
// and reports it.
func replay(t *testing.T, f simFailure, b broken) {
	t.Helper()
	s := runSim(f.seed, b, true)
	path := filepath.Join(os.TempDir(), fmt.Sprintf("peer-sim-seed-%d.trace", f.seed))
	werr := os.WriteFile(path, []byte(strings.Join(s.trace, "\n")+"\n"), 0o644)
	tail := s.trace
	if len(tail) > 300 {
		tail = append([]string{fmt.Sprintf("... %d lines before", len(tail)-300)}, tail[len(tail)-300:]...)
	}
	where := "the full trace is in " + path
	if werr != nil {
		where = "the trace could not be written: " + werr.Error()
	}
	t.Errorf("%v\nFAILED: %v\nreplay: SIM_SEED=%d go test ./node -run 'TestSimulation$' -v\n%s; its end:\n%s",
		s, f.err, f.seed, where, strings.Join(tail, "\n"))
	if s.err == nil || s.err.Error() != f.err.Error() {
		t.Errorf("seed %d did not replay the same way: first %v, then %v", f.seed, f.err, s.err)
	}
}

// TestSimulation runs SIM_SEEDS schedules (default simDefaultSeeds) of 3-12
// peers with crashes, pauses, restarts and joins, checking the invariants of
// spec §6 after every step. SIM_SEED=N runs only seed N and logs its trace.
func TestSimulation(t *testing.T) {
	if v := os.Getenv("SIM_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SIM_SEED=%q: %v", v, err)
		}
		s := runSim(seed, broken{}, true)
		t.Log(strings.Join(s.trace, "\n"))
		if s.err != nil {
			t.Fatalf("%v\nFAILED: %v", s, s.err)
		}
		t.Logf("%v: passed, %d steps, %s virtual ticks", s, s.stats.steps, fmtTime(s.stats.end))
		return
	}
	n := simSeeds(t)
	res := runSeeds(1, n, broken{}, 20, func(done int) {
		t.Logf("%d schedules done", done)
	})
	t.Log(res)
	for i, f := range res.failures {
		if i == 3 {
			t.Errorf("... and %d more failing seeds: %v", len(res.failures)-3, seedsOf(res.failures[3:]))
			break
		}
		replay(t, f, broken{})
	}
}

func seedsOf(fs []simFailure) []uint64 {
	var out []uint64
	for _, f := range fs {
		out = append(out, f.seed)
	}
	return out
}

// simVariantSeeds is the least the self-check runs (SIM_SEEDS unset), race
// detector or not: the rarest variant, DeafToBallots, is caught at seed
// 10,653 by this generator (24,955 before the last changes of schedule).
const simVariantSeeds = 40000

// TestSimulationCatchesBrokenVariants is the simulator's self-check: every
// deliberately broken variant of the protocol must fail some seed within the
// default seed count.
func TestSimulationCatchesBrokenVariants(t *testing.T) {
	n := simSeeds(t)
	if os.Getenv("SIM_SEEDS") == "" {
		n = max(n, simVariantSeeds)
	}
	for _, v := range []struct {
		name   string
		broken broken
	}{
		{"CommitEarly", broken{commitEarly: true}},
		{"ApplyOnReq", broken{applyOnReq: true}},
		{"SkipPending", broken{skipPending: true}},
		{"IgnoreNewer", broken{ignoreNewer: true}},
		{"ForgetReported", broken{forgetReported: true}},
		{"RawSuspicion", broken{rawSuspicion: true}},
		{"NeverRevoke", broken{neverRevoke: true}},
		{"NoQuorum", broken{noQuorum: true}},
		{"DeafToBallots", broken{deafToBallots: true}},
		{"Impersonate", broken{impersonate: true}},
	} {
		t.Run(v.name, func(t *testing.T) {
			res := runSeeds(1, n, v.broken, 1, nil)
			if len(res.failures) == 0 {
				t.Fatalf("%s: no violation in %d seeds", v.name, res.runs)
			}
			f := res.failures[0]
			t.Logf("%s: caught by seed %d after %d schedules: %v", v.name, f.seed, res.runs, f.err)
			if s := runSim(f.seed, v.broken, false); s.err == nil || s.err.Error() != f.err.Error() {
				t.Errorf("seed %d did not replay the same way: %v, then %v", f.seed, f.err, s.err)
			}
		})
	}
}

// TestSimulationReplaysExactly: a seed's trace is the same every time.
func TestSimulationReplaysExactly(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		a, b := runSim(seed, broken{}, true), runSim(seed, broken{}, true)
		if !slices.Equal(a.trace, b.trace) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
	}
}

// TestSimTrackerIsTracker: the simulator's tracker does what detector.Tracker
// does, on random calls.
func TestSimTrackerIsTracker(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const timeout = 800
	at := func(units int64) time.Time { return time.Unix(1e9, 0).Add(time.Duration(units) * time.Millisecond) }
	for run := range 200 {
		self := codec.PeerID(1 + rng.IntN(maxSimPeers))
		real := detector.NewTracker(self, timeout*time.Millisecond)
		model := &simTracker{self: self, timeout: timeout}
		now := int64(0)
		for range 300 {
			now += rng.Int64N(300)
			switch rng.IntN(5) {
			case 0:
				var members []codec.PeerID
				for p := codec.PeerID(1); p <= maxSimPeers; p++ {
					if rng.IntN(2) == 0 {
						members = append(members, p)
					}
				}
				real.SetMembers(members, at(now))
				model.SetMembers(members, now)
			case 1:
				p := codec.PeerID(1 + rng.IntN(maxSimPeers))
				if a, b := real.Observe(p, at(now)), model.Observe(p, now); a != b {
					t.Fatalf("run %d: at %d Observe(%d) revived: Tracker %v, simTracker %v", run, now, p, a, b)
				}
			case 3:
				p := codec.PeerID(1 + rng.IntN(maxSimPeers))
				real.Rewatch(p, at(now))
				model.Rewatch(p, now)
			case 2:
				real.Refresh(at(now))
				model.Refresh(now)
			default:
				if a, b := real.Expired(at(now)), model.Expired(now); !slices.Equal(a, b) {
					t.Fatalf("run %d: at %d Tracker expired %v, simTracker %v", run, now, a, b)
				}
			}
		}
	}
}
