package lograte

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	th := New(10 * time.Second)
	steps := []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true},
		{"a", time.Second, false},
		{"b", time.Second, true},
		{"a", 9 * time.Second, false},
		{"a", 10 * time.Second, true},
		{"b", 10 * time.Second, false},
		{"b", 11 * time.Second, true},
	}
	for i, s := range steps {
		if got := th.Allow(s.key, t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d: Allow(%s) = %v", i, s.key, got)
		}
	}
	// A flood of distinct keys does not grow the map without bound.
	for i := range 10 * maxKeys {
		th.Allow(string(rune(i)), t0.Add(12*time.Second))
	}
	if n := len(th.last); n > maxKeys {
		t.Fatalf("%d keys remembered", n)
	}
}
