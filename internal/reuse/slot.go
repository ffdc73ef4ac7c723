// Package reuse keeps one value for reuse between calls that run one after
// another most of the time: an exporter's scratch memory (megabytes for a
// batch of thousands of records) is taken at the start of a batch and kept
// at its end, so the next batch does not allocate and clear it again. A
// call that finds the slot empty (a second batch in flight, or a value not
// given back) gets a new value.
package reuse // import "github.com/otelcol-audit/otelcol-audit/internal/reuse"

import "sync"

// Slot holds at most one spare *T. The zero value is empty and ready to
// use; it is safe for concurrent use.
type Slot[T any] struct {
	mu sync.Mutex
	v  *T
}

// Take returns the kept value, or a new zero T when there is none; the
// slot is empty after it.
func (s *Slot[T]) Take() *T {
	s.mu.Lock()
	v := s.v
	s.v = nil
	s.mu.Unlock()
	if v == nil {
		v = new(T)
	}
	return v
}

// Keep makes v the value the next Take returns.
func (s *Slot[T]) Keep(v *T) {
	s.mu.Lock()
	s.v = v
	s.mu.Unlock()
}
