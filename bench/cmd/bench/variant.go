package main

import (
	"strconv"
	"strings"
	"time"
)

// variant is one system at one configuration: a column of the table.
type variant struct {
	Key    string // results key and flag value
	System string // "peer" or "memberlist"
	Label  string // column header
	// Timeout is the failure-detection timeout the targets are measured
	// against (peer: -hb-timeout); Period the heartbeat or probe period.
	Timeout, Period time.Duration
	FastFail        bool
	args            func(id int, hosts string, ports []int) []string
}

type binaries struct{ Peer, ML string }

func (v *variant) binary(b binaries) string {
	if v.System == "peer" {
		return b.Peer
	}
	return b.ML
}

// Leader reports whether the system has a leader (peer does, memberlist not).
func (v *variant) Leader() bool { return v.System == "peer" }

// settle is how long a group is left alone after it formed, and between a
// removal and the next kill: long enough for every timer to have re-armed.
func (v *variant) settle() time.Duration { return max(time.Second, 2*v.Timeout) }

// deadline bounds one formation or removal.
func (v *variant) deadline(n int) time.Duration {
	if v.System == "memberlist" {
		return 60*time.Second + time.Duration(n)*100*time.Millisecond
	}
	return 15*time.Second + 10*v.Timeout + time.Duration(n)*50*time.Millisecond
}

func peerVariant(key, label string, period, timeout time.Duration, fastFail bool, setFlags bool) *variant {
	return &variant{
		Key: key, System: "peer", Label: label, Timeout: timeout, Period: period, FastFail: fastFail,
		args: func(id int, hosts string, _ []int) []string {
			a := []string{"-h", hosts, "-i", strconv.Itoa(id)}
			if setFlags {
				a = append(a, "-hb-interval", period.String(), "-hb-timeout", timeout.String())
			}
			if fastFail {
				a = append(a, "-fast-fail")
			}
			return a
		},
	}
}

// mlSeeds is what memberlist nodes join: "all" (every other node) or k
// (nodes 1..k). Either way a node retries every 10 ms until one answers,
// like peer's first redial.
var mlSeeds = "all"

// mlVariant is memberlist at one of its configurations.
func mlVariant(key, label, profile string, period, timeout time.Duration) *variant {
	return &variant{
		Key: key, System: "memberlist", Label: label, Timeout: timeout, Period: period,
		args: func(id int, _ string, ports []int) []string {
			a := []string{"-id", strconv.Itoa(id), "-port", strconv.Itoa(ports[id-1]), "-profile", profile}
			if profile == "tuned" {
				a = append(a, "-probe-interval", period.String())
			}
			k := len(ports)
			if mlSeeds != "all" {
				k, _ = strconv.Atoi(mlSeeds)
			}
			// Nodes 1..k, as peer knows every host from its hostsfile
			// (k = all) or a few seeds, as memberlist deployments do.
			var seeds []string
			for i := 0; i < k && i < len(ports); i++ {
				if i != id-1 {
					seeds = append(seeds, strconv.Itoa(ports[i]))
				}
			}
			if len(seeds) > 0 {
				a = append(a, "-seeds", strings.Join(seeds, ","))
			}
			return a
		},
	}
}

// The defaults of peer (cmd/peer: -hb-interval 500ms, timeout 2×) and of
// memberlist's DefaultLocalConfig (probe interval 1 s, probe timeout 200 ms).
const (
	fastT      = 100 * time.Millisecond
	fastTO     = 200 * time.Millisecond
	peerDefT   = 500 * time.Millisecond
	peerDefTO  = time.Second
	mlLocalT   = time.Second
	mlLocalPTO = 200 * time.Millisecond
)

func allVariants() []*variant {
	return []*variant{
		peerVariant("peer-100ms", "peer T=100ms", fastT, fastTO, false, true),
		peerVariant("peer-100ms-ff", "peer T=100ms -fast-fail", fastT, fastTO, true, true),
		mlVariant("ml-tuned", "memberlist probe 100ms", "tuned", fastT, fastT/2),
		peerVariant("peer-default", "peer default (500ms/1s)", peerDefT, peerDefTO, false, false),
		mlVariant("ml-local", "memberlist DefaultLocalConfig", "local", mlLocalT, mlLocalPTO),
	}
}

// pairs are the ratio columns: memberlist ÷ peer.
var pairs = []struct{ Peer, ML, Label string }{
	{"peer-100ms", "ml-tuned", "ml÷peer (100ms)"},
	{"peer-100ms-ff", "ml-tuned", "ml÷peer (fast-fail)"},
	{"peer-default", "ml-local", "ml÷peer (defaults)"},
}

func selectVariants(list string) []*variant {
	all := allVariants()
	if list == "" || list == "all" {
		return all
	}
	var out []*variant
	for _, k := range strings.Split(list, ",") {
		for _, v := range all {
			if v.Key == strings.TrimSpace(k) {
				out = append(out, v)
			}
		}
	}
	return out
}
