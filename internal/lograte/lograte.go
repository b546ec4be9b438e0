// Package lograte limits how often a log line is written for one source, so
// that whoever sends bad input cannot fill the log with it.
package lograte

import (
	"sync"
	"time"
)

// Limiter lets through one event per key per period. wire and detector use
// it to log input they reject (a wrong key, a flood of garbage) without
// letting whoever sends it fill the log. It is safe for concurrent use and
// remembers at most maxKeys keys.
type Limiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

const maxKeys = 1024

// New allows one event per key every period.
func New(every time.Duration) *Limiter {
	return &Limiter{every: every, last: map[string]time.Time{}}
}

// Allow reports whether an event for key at now may be logged, and if so
// counts it as the last one.
func (t *Limiter) Allow(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[key]; ok && now.Sub(last) < t.every {
		return false
	}
	if len(t.last) >= maxKeys {
		for k, at := range t.last {
			if now.Sub(at) >= t.every {
				delete(t.last, k)
			}
		}
		if len(t.last) >= maxKeys {
			clear(t.last) // a flood from many sources: start over rather than grow
		}
	}
	t.last[key] = now
	return true
}
