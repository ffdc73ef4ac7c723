package dedup

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The window against a plain model (a list of remembered keys, oldest
// first) through many random deliveries, refusals and clock steps, with a
// small max_entries so the ring wraps and the index's clusters are long:
// every answer must agree.
func TestWindowMatchesAModel(t *testing.T) {
	for _, maxEntries := range []int{1, 7, 50, 1500} {
		c := newClock()
		w := New(Config{Window: time.Minute, MaxEntries: maxEntries}, c.now)
		type remembered struct {
			k    Key
			seen time.Time
		}
		var model []remembered
		has := func(k Key) bool {
			for _, r := range model {
				if r.k == k {
					return true
				}
			}
			return false
		}
		rng := rand.New(rand.NewPCG(1, uint64(maxEntries)))
		universe := 3 * maxEntries // keys recur, so duplicates are common
		for step := range 20000 {
			if rng.IntN(10) == 0 {
				c.advance(time.Duration(rng.IntN(20)) * time.Second)
			}
			// Expire the model as the window does: by time, then by count.
			limit := c.now().Add(-time.Minute)
			for len(model) > 0 && !model[0].seen.After(limit) {
				model = model[1:]
			}
			var claimed []Key
			for range 1 + rng.IntN(4) {
				k := key(rng.IntN(universe))
				if slices.Contains(claimed, k) {
					continue // the processor drops a copy within its batch itself
				}
				want := !has(k)
				got := w.Begin(k)
				require.Equal(t, want, got, "step %d, max_entries %d: Begin", step, maxEntries)
				if got {
					claimed = append(claimed, k)
				}
			}
			if rng.IntN(5) == 0 {
				w.Abort(claimed)
				require.Empty(t, w.inflight, "step %d: every claim ended", step)
				continue
			}
			w.Commit(claimed)
			require.Empty(t, w.inflight, "step %d: every claim ended", step)
			for _, k := range claimed {
				if len(model) == maxEntries {
					model = model[1:]
				}
				model = append(model, remembered{k, c.now()})
			}
			require.Equal(t, len(model), w.Len(), "step %d", step)
		}
	}
}

// Removing entries from the middle of a cluster keeps every other entry
// reachable: fill a table to its limit, forget in order, check the rest.
func TestIndexRemoveKeepsClustersReachable(t *testing.T) {
	ring := make([]entry, 64)
	for i := range ring {
		ring[i] = entry{key: key(i)}
	}
	x := newIndex()
	x.rebuild(ring, 0, len(ring))
	for gone := range ring {
		x.remove(ring, gone)
		for i := range ring {
			want := -1
			if i > gone {
				want = i
			}
			require.Equal(t, want, x.find(ring, &ring[i].key), "after removing 0..%d, key %d", gone, i)
		}
	}
}
