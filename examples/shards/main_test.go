package main

import (
	"testing"

	"peer/membership"
)

// Every item has exactly one owner, and a member leaving moves only its own
// items.
func TestOwners(t *testing.T) {
	const items = 1000
	all := []membership.PeerID{1, 2, 3, 4, 5}
	without3 := []membership.PeerID{1, 2, 4, 5}
	count := map[membership.PeerID]int{}
	for item := range items {
		before, after := Owner(all, item), Owner(without3, item)
		count[before]++
		if before != 3 && after != before {
			t.Fatalf("item %d moved from %d to %d though %d stayed", item, before, after, before)
		}
		if after == 3 {
			t.Fatalf("item %d owned by a peer not in the view", item)
		}
	}
	for _, p := range all {
		if n := count[p]; n < items/5/2 || n > items/5*2 {
			t.Errorf("peer %d owns %d of %d items: the split is lopsided", p, n, items)
		}
		if got := len(Owned(all, p, items)); got != count[p] {
			t.Errorf("Owned(%d) has %d items, Owner says %d", p, got, count[p])
		}
	}
	if Owner(nil, 0) != 0 {
		t.Error("an item has an owner in an empty view")
	}
}
