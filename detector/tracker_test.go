package detector

import (
	"slices"
	"testing"
	"time"

	"peer/codec"
)

func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		at      int            // ms after t0
		members []codec.PeerID // SetMembers when non-nil
		observe codec.PeerID   // Observe when non-zero
		refresh bool           // Refresh
		want    []codec.PeerID // Expired at this time
	}
	ids := func(p ...codec.PeerID) []codec.PeerID { return p }
	cases := []struct {
		name  string
		steps []step
	}{
		{"silence reported once", []step{
			{at: 0, members: ids(1, 2, 3)},
			{at: 99},
			{at: 100, want: ids(2, 3)},
			{at: 500},
		}},
		{"heartbeats keep a member alive", []step{
			{at: 0, members: ids(1, 2, 3)},
			{at: 60, observe: 2},
			{at: 120, observe: 2, want: ids(3)},
			{at: 179},
			{at: 220, want: ids(2)},
		}},
		{"self never watched", []step{
			{at: 0, members: ids(1)},
			{at: 1000},
		}},
		{"a member that never spoke is detected from when it was added", []step{
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
		}},
		{"members that stay keep their deadline", []step{
			{at: 0, members: ids(1, 2)},
			{at: 90, members: ids(1, 2, 3)},
			{at: 100, want: ids(2)},
		}},
		{"a report is final until the member leaves", []step{
			{at: 0, members: ids(1, 2)},
			{at: 100, want: ids(2)},
			{at: 101, observe: 2},
			{at: 400},
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
					tr.Observe(s.observe, now)
				}
				if got := tr.Expired(now); !slices.Equal(got, s.want) {
					t.Fatalf("step %d (t=%dms): expired %v, want %v", i, s.at, got, s.want)
				}
			}
		})
	}
}

func TestTrackerNextDeadline(t *testing.T) {
	t0 := time.Unix(0, 0)
	tr := NewTracker(1, time.Second)
	if _, ok := tr.NextDeadline(); ok {
		t.Fatal("deadline with nobody watched")
	}
	tr.SetMembers([]codec.PeerID{1, 2, 3}, t0)
	tr.Observe(2, t0.Add(500*time.Millisecond))
	if d, ok := tr.NextDeadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("next %v %v, want peer 3's at 1s", d, ok)
	}
	tr.Expired(t0.Add(time.Second))
	if d, ok := tr.NextDeadline(); !ok || !d.Equal(t0.Add(1500*time.Millisecond)) {
		t.Fatalf("next %v %v, want peer 2's at 1.5s", d, ok)
	}
	tr.Expired(t0.Add(2 * time.Second))
	if _, ok := tr.NextDeadline(); ok {
		t.Fatal("deadline after everyone was reported")
	}
}

func BenchmarkTrackerObserve(b *testing.B) {
	tr := NewTracker(1, time.Second)
	members := make([]codec.PeerID, 128)
	for i := range members {
		members[i] = codec.PeerID(i + 1)
	}
	now := time.Now()
	tr.SetMembers(members, now)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tr.Observe(codec.PeerID(i%128+1), now)
	}
}
