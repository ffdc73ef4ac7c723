package reuse

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTakeGivesBackWhatWasKept(t *testing.T) {
	var s Slot[[]byte]
	first := s.Take()
	assert.NotNil(t, first, "an empty slot gives a new value")
	*first = append(*first, "kept"...)
	s.Keep(first)
	assert.Same(t, first, s.Take())
	assert.NotSame(t, first, s.Take(), "taken: the slot is empty until a Keep")
}

func TestConcurrentTakesNeverShare(t *testing.T) {
	var s Slot[int]
	s.Keep(new(int))
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[*int]bool{}
	for range 8 {
		wg.Go(func() {
			for range 100 {
				v := s.Take()
				mu.Lock()
				assert.False(t, seen[v], "a value is held by one caller at a time")
				seen[v] = true
				mu.Unlock()
				mu.Lock()
				delete(seen, v)
				mu.Unlock()
				s.Keep(v)
			}
		})
	}
	wg.Wait()
}
