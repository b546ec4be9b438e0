package detector

import (
	"slices"
	"testing"
	"time"

	"peer/codec"
)

var t0 = time.Unix(1000, 0)

// at is t0 plus ms milliseconds: the fake clock.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ids(p ...codec.PeerID) []codec.PeerID { return p }

func TestTracker(t *testing.T) {
	type step struct {
		at      int            // ms after t0
		members []codec.PeerID // SetMembers when non-nil
		observe codec.PeerID   // Observe when non-zero
		revived bool           // what Observe must return
		rewatch codec.PeerID   // Rewatch when non-zero
		refresh bool           // Refresh
		want    []codec.PeerID // Expired at this time
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"silence reported exactly once", []step{
			{at: 0, members: ids(1, 2, 3)},
			{at: 99},
			{at: 100, want: ids(2, 3)},
			{at: 101},
			{at: 5000},
		}},
		{"heartbeats keep a member alive", []step{
			{at: 0, members: ids(1, 2, 3)},
			{at: 60, observe: 2},
			{at: 120, observe: 2, want: ids(3)},
			{at: 180, observe: 2},
			{at: 279},
			{at: 280, want: ids(2)},
		}},
		{"self never watched", []step{
			{at: 0, members: ids(1)},
			{at: 0, observe: 1},
			{at: 1000},
		}},
		{"a member that never sent is reported timeout after it was added", []step{
			{at: 0, members: ids(1, 2)},
			{at: 50, observe: 2},
			{at: 80, members: ids(1, 2, 3)},
			{at: 150, want: ids(2)},
			{at: 179},
			{at: 180, want: ids(3)},
		}},
		{"re-added member gets a fresh grace period and a new report", []step{
			{at: 0, members: ids(1, 2)},
			{at: 100, want: ids(2)},
			{at: 110, members: ids(1)},
			{at: 120, members: ids(1, 2)},
			{at: 219},
			{at: 220, want: ids(2)},
			{at: 400},
		}},
		{"members that stay keep their deadline", []step{
			{at: 0, members: ids(1, 2)},
			{at: 90, members: ids(3, 2, 1)},
			{at: 100, want: ids(2)},
			{at: 189},
			{at: 190, want: ids(3)},
		}},
		{"a suspected member heard again is watched afresh and reported after a new silence", []step{
			{at: 0, members: ids(1, 2)},
			{at: 100, want: ids(2)},
			{at: 101, observe: 2, revived: true},
			{at: 150, observe: 2},
			{at: 249},
			{at: 250, want: ids(2)},
		}},
		{"a suspected member stays suspected, unreported, until heard or rewatched", []step{
			{at: 0, members: ids(1, 2)},
			{at: 100, want: ids(2)},
			{at: 150, members: ids(1, 2, 3)},
			{at: 400, want: ids(3)},
			{at: 401, rewatch: 2},
			{at: 500},
			{at: 501, want: ids(2)},
		}},
		{"rewatch of a member that is not suspected changes nothing", []step{
			{at: 0, members: ids(1, 2)},
			{at: 60, rewatch: 2},
			{at: 100, want: ids(2)},
			{at: 130, rewatch: 3},
			{at: 1000},
		}},
		{"heartbeats from unwatched peers are ignored", []step{
			{at: 0, members: ids(1, 2)},
			{at: 50, observe: 3},
			{at: 60, members: ids(1, 2, 3)},
			{at: 100, want: ids(2)},
			{at: 159},
			{at: 160, want: ids(3)},
		}},
		{"a late heartbeat does not move a deadline back", []step{
			{at: 0, members: ids(1, 2)},
			{at: 80, observe: 2},
			{at: 50, observe: 2},
			{at: 179},
			{at: 180, want: ids(2)},
		}},
		{"duplicate ids in a view count once", []step{
			{at: 0, members: ids(1, 2, 2, 3, 3)},
			{at: 100, want: ids(2, 3)},
		}},
		{"an empty view forgets everyone", []step{
			{at: 0, members: ids(1, 2)},
			{at: 50, members: []codec.PeerID{}},
			{at: 1000},
		}},
		{"refresh after a stall gives everyone a fresh grace period", []step{
			{at: 0, members: ids(1, 2, 3)},
			{at: 5000, refresh: true},
			{at: 5099},
			{at: 5100, want: ids(2, 3)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(1, 100*time.Millisecond)
			for i, s := range c.steps {
				now := at(s.at)
				if s.members != nil {
					tr.SetMembers(s.members, now)
				}
				if s.refresh {
					tr.Refresh(now)
				}
				if s.observe != 0 {
					if got := tr.Observe(s.observe, now); got != s.revived {
						t.Fatalf("step %d: Observe(%d) revived %v, want %v", i, s.observe, got, s.revived)
					}
				}
				if s.rewatch != 0 {
					tr.Rewatch(s.rewatch, now)
				}
				if got := tr.Expired(now); !slices.Equal(got, s.want) {
					t.Fatalf("step %d (t=%dms): expired %v, want %v", i, s.at, got, s.want)
				}
			}
		})
	}
}

func TestTrackerNextDeadline(t *testing.T) {
	type step struct {
		at      int
		members []codec.PeerID
		observe codec.PeerID
		expire  bool // call Expired(at)
		next    int  // want NextDeadline at this ms, -1 for none, 0 to not check
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"none before SetMembers", []step{{at: 0, next: -1}}},
		{"none when only self is watched", []step{{at: 0, members: ids(1), next: -1}}},
		{"earliest of the new members", []step{
			{at: 0, members: ids(1, 2, 3), next: 100},
		}},
		{"moves with heartbeats", []step{
			{at: 0, members: ids(1, 2, 3), next: 100},
			{at: 40, observe: 2, next: 100},
			{at: 60, observe: 3, next: 140},
		}},
		{"skips suspected members", []step{
			{at: 0, members: ids(1, 2)},
			{at: 50, members: ids(1, 2, 3), next: 100},
			{at: 100, expire: true, next: 150},
			{at: 150, expire: true, next: -1},
		}},
		{"removed members no longer count", []step{
			{at: 0, members: ids(1, 2)},
			{at: 30, members: ids(1, 3), next: 130},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(1, 100*time.Millisecond)
			for i, s := range c.steps {
				now := at(s.at)
				if s.members != nil {
					tr.SetMembers(s.members, now)
				}
				if s.observe != 0 {
					tr.Observe(s.observe, now)
				}
				if s.expire {
					tr.Expired(now)
				}
				got, ok := tr.NextDeadline()
				switch {
				case s.next == 0:
				case s.next < 0 && ok:
					t.Fatalf("step %d: next deadline %v, want none", i, got.Sub(t0))
				case s.next > 0 && (!ok || !got.Equal(at(s.next))):
					t.Fatalf("step %d: next deadline %v (ok=%v), want %dms", i, got.Sub(t0), ok, s.next)
				}
			}
		})
	}
}

func BenchmarkTrackerObserve(b *testing.B) {
	const n = 128
	tr := NewTracker(1, time.Second)
	members := make([]codec.PeerID, n)
	for i := range members {
		members[i] = codec.PeerID(i + 1)
	}
	now := time.Now()
	tr.SetMembers(members, now)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tr.Observe(codec.PeerID(i%n+1), now.Add(time.Duration(i)))
	}
}
