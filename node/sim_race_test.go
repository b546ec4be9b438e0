//go:build race

package node

// Under the race detector the simulator is about ten times slower.
const (
	raceEnabled  = true
	simRaceSeeds = 10000
)
