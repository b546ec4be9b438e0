package node

import (
	"testing"
)

// Regressions for the bugs the simulator found (docs/simulation.md lists
// them). Each seed below failed with its fix taken out (the failure is
// quoted) and passes with it. A seed names a schedule of this version of the
// simulator: if the simulator changes how it draws, find new seeds (revert
// the fix, run TestSimulation, keep the lowest failing seed).
var simRegressions = []struct {
	seed uint64
	bug  string
}{}

func TestSimulationRegressions(t *testing.T) {
	for _, r := range simRegressions {
		if s := runSim(r.seed, broken{}, false); s.err != nil {
			t.Errorf("seed %d (%s): %v\nreplay: SIM_SEED=%d go test ./node -run 'TestSimulation$' -v", r.seed, r.bug, s.err, r.seed)
		}
	}
}
