package detector

import (
	"slices"
	"time"

	"peer/codec"
)

// Tracker keeps one deadline per watched member. It is not safe for
// concurrent use; the Detector's Run goroutine owns it.
type Tracker struct {
	self    codec.PeerID
	timeout time.Duration
	members map[codec.PeerID]*watch
}

type watch struct {
	deadline time.Time
	reported bool
}

// NewTracker watches nobody until SetMembers.
func NewTracker(self codec.PeerID, timeout time.Duration) *Tracker {
	return &Tracker{self: self, timeout: timeout, members: map[codec.PeerID]*watch{}}
}

// SetMembers replaces the watched set. New members get the deadline
// now+timeout; removed ones are forgotten with their reported mark; members
// that stay keep their state. Self is never watched.
func (t *Tracker) SetMembers(members []codec.PeerID, now time.Time) {
	next := make(map[codec.PeerID]*watch, len(members))
	for _, p := range members {
		if p == t.self {
			continue
		}
		if w, ok := t.members[p]; ok {
			next[p] = w
		} else {
			next[p] = &watch{deadline: now.Add(t.timeout)}
		}
	}
	t.members = next
}

// Observe records a heartbeat from p at now. Unwatched or already reported
// members are ignored: a report is final until p leaves the view.
func (t *Tracker) Observe(p codec.PeerID, now time.Time) bool {
	w, ok := t.members[p]
	if !ok || w.reported {
		return false
	}
	if d := now.Add(t.timeout); d.After(w.deadline) {
		w.deadline = d
	}
	return true
}

// Expired returns, ascending, the unreported members whose deadline is not
// after now, and marks them reported.
func (t *Tracker) Expired(now time.Time) []codec.PeerID {
	var out []codec.PeerID
	for p, w := range t.members {
		if !w.reported && !w.deadline.After(now) {
			w.reported = true
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// NextDeadline is the earliest deadline of an unreported member.
func (t *Tracker) NextDeadline() (time.Time, bool) {
	var next time.Time
	found := false
	for _, w := range t.members {
		if !w.reported && (!found || w.deadline.Before(next)) {
			next, found = w.deadline, true
		}
	}
	return next, found
}

// Refresh gives every unreported member a fresh grace period: after the
// detector itself could not run, old silences prove nothing.
func (t *Tracker) Refresh(now time.Time) {
	for _, w := range t.members {
		if !w.reported {
			w.deadline = now.Add(t.timeout)
		}
	}
}
