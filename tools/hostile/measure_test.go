package hostile

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestMeasureKeyCost measures what the cluster key costs a view change
// between real processes: a group grows from one peer to eight, one join at
// a time, and the leader's log gives each change's time from change_started
// to change_committed (REQ to every member, their OKs), for the six
// changes that have members to ask (1 to 6 of them). It runs only with
// PEER_MEASURE=1 (a measurement, not a check) and logs a table; the cost on
// one heartbeat and one frame is measured by BenchmarkHeartbeat (detector),
// BenchmarkFrameSealedRoundTrip and BenchmarkTransportSend (wire).
//
//	PEER_MEASURE=1 go test -run TestMeasureKeyCost -v ./hostile
func TestMeasureKeyCost(t *testing.T) {
	if os.Getenv("PEER_MEASURE") == "" {
		t.Skip("a measurement: set PEER_MEASURE=1")
	}
	const (
		size   = 8
		rounds = 10
	)
	for _, keyed := range []bool{false, true} {
		var changes []time.Duration
		for range rounds {
			c := newCluster(t, size, hbFlags...)
			var extra []string
			if keyed {
				extra = []string{"-key", newKeyFile(t, c, "cluster.key")}
			}
			for id := 1; id <= size; id++ {
				c.start(id, extra...)
				members := make([]int, id)
				for i := range members {
					members[i] = i + 1
				}
				c.waitView(members...)
			}
			started := map[string]time.Time{}
			for _, e := range c.proc(1).events("change_started") {
				if e["view_id"].(float64) > 1 { // in view 1 the leader is alone: nobody to ask
					started[e["request_id"].(string)] = eventTime(t, e)
				}
			}
			for _, e := range c.proc(1).events("change_committed") {
				if s, ok := started[e["request_id"].(string)]; ok {
					changes = append(changes, eventTime(t, e).Sub(s))
				}
			}
			c.stopAll()
		}
		slices.Sort(changes)
		var sum time.Duration
		for _, d := range changes {
			sum += d
		}
		name := "no key"
		if keyed {
			name = "key"
		}
		n := len(changes)
		t.Logf("%-6s view changes %3d  median %8v  mean %8v  p90 %8v  max %8v", name, n,
			changes[n/2], sum/time.Duration(n), changes[n*9/10], changes[n-1])
	}
}

func eventTime(t *testing.T, e map[string]any) time.Time {
	t.Helper()
	s, _ := e["time"].(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("event time %q: %v", s, err)
	}
	return at
}
