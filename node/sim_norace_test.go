//go:build !race

package node

const (
	raceEnabled  = false
	simRaceSeeds = 10000
)
