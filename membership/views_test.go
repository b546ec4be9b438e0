package membership

import (
	"testing"

	"github.com/rs/zerolog"
)

// The loop never waits for a slow reader of Views: a full channel drops its
// oldest view, the reader gets the newest ViewBuffer in order, and View has
// the latest.
func TestViewsNeverBlock(t *testing.T) {
	m := &Member{views: make(chan View, ViewBuffer), log: zerolog.Nop()}
	const n = ViewBuffer + 36
	for id := ViewID(1); id <= n; id++ {
		m.installed(View{ID: id, Leader: 1, Members: []PeerID{1}})
	}
	if got := m.View().ID; got != n {
		t.Fatalf("View %d, want %d", got, n)
	}
	if got := m.lost.Load(); got != n-ViewBuffer {
		t.Fatalf("dropped %d, want %d", got, n-ViewBuffer)
	}
	for want := ViewID(n - ViewBuffer + 1); want <= n; want++ {
		if v := <-m.views; v.ID != want {
			t.Fatalf("received view %d, want %d", v.ID, want)
		}
	}
}
