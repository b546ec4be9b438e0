package detector

import (
	"slices"
	"time"

	"peer/codec"
)

// Tracker keeps one deadline per watched member. It is the pure part of the
// detector: no sockets, no clock reads, no goroutines; time is an argument.
// It is not safe for concurrent use; the Detector's Run goroutine owns it.
type Tracker struct {
	self    codec.PeerID
	timeout time.Duration
	members map[codec.PeerID]*watch
}

type watch struct {
	deadline  time.Time
	suspected bool // reported silent, and not heard from since
}

// NewTracker watches nobody until SetMembers.
func NewTracker(self codec.PeerID, timeout time.Duration) *Tracker {
	return &Tracker{self: self, timeout: timeout, members: map[codec.PeerID]*watch{}}
}

// SetMembers replaces the watched set. New members get the deadline
// now+timeout, so one that never sends is still reported; removed ones are
// forgotten; members that stay keep their state. Self is never watched.
func (t *Tracker) SetMembers(members []codec.PeerID, now time.Time) {
	next := make(map[codec.PeerID]*watch, len(members))
	for _, p := range members {
		if p == t.self {
			continue
		}
		if w, ok := t.members[p]; ok {
			next[p] = w
		} else if _, dup := next[p]; !dup {
			next[p] = &watch{deadline: now.Add(t.timeout)}
		}
	}
	t.members = next
}

// Observe records a heartbeat from p at now: its deadline becomes
// now+timeout. It reports whether p was suspected: the silence is over, p is
// watched afresh, and the caller tells the node. Unwatched members are
// ignored.
func (t *Tracker) Observe(p codec.PeerID, now time.Time) (revived bool) {
	w, ok := t.members[p]
	if !ok {
		return false
	}
	revived, w.suspected = w.suspected, false
	if d := now.Add(t.timeout); revived || d.After(w.deadline) {
		w.deadline = d
	}
	return revived
}

// Rewatch watches p afresh from now if it is suspected: the node has
// checked that it is alive (it answered a probe), so a new silence of a
// timeout is reported again.
func (t *Tracker) Rewatch(p codec.PeerID, now time.Time) {
	if w, ok := t.members[p]; ok && w.suspected {
		w.suspected, w.deadline = false, now.Add(t.timeout)
	}
}

// Expired returns, ascending, the members not suspected yet whose deadline
// is not after now, and marks them suspected: each silence is reported once.
func (t *Tracker) Expired(now time.Time) []codec.PeerID {
	var out []codec.PeerID
	for p, w := range t.members {
		if !w.suspected && !w.deadline.After(now) {
			w.suspected = true
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// NextDeadline is the earliest deadline of a member not suspected; ok is
// false when there is none. The Detector arms its one timer there.
func (t *Tracker) NextDeadline() (next time.Time, ok bool) {
	for _, w := range t.members {
		if !w.suspected && (!ok || w.deadline.Before(next)) {
			next, ok = w.deadline, true
		}
	}
	return next, ok
}

// Refresh gives every member not suspected the deadline now+timeout. The
// Detector calls it when it could not run for longer than the timeout: a
// silence measured across its own absence proves nothing.
func (t *Tracker) Refresh(now time.Time) {
	for _, w := range t.members {
		if !w.suspected {
			w.deadline = now.Add(t.timeout)
		}
	}
}
