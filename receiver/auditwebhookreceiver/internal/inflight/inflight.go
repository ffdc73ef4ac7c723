// Package inflight bounds the bytes of request bodies the receiver holds at
// once. Each request leases its share before it reads its body (all of it
// when the length is announced, piece by piece as it arrives otherwise)
// and gives it back when it is answered; a request whose share does not
// fit waits, up to its deadline, for others to give theirs back.
//
// A body is only the start of what a request costs (its records, the
// pipeline's copies), but every one of those costs grows with it, so
// bounding the bodies in flight bounds the memory of requests in
// aggregate, which the body size limit alone does not.
package inflight // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/inflight"

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Limiter hands out leases on at most Capacity bytes in total. It is safe
// for concurrent use.
type Limiter struct {
	capacity int64

	mu   sync.Mutex
	used int64
	// freed is closed, and replaced, whenever bytes are given back: it
	// wakes every waiter to try again.
	freed chan struct{}
}

// New returns a Limiter of capacity bytes.
func New(capacity int64) *Limiter {
	return &Limiter{capacity: capacity, freed: make(chan struct{})}
}

// Capacity returns the Limiter's capacity in bytes.
func (l *Limiter) Capacity() int64 { return l.capacity }

// InUse returns the bytes currently leased.
func (l *Limiter) InUse() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

// Lease returns an empty lease, holding nothing until it grows.
func (l *Limiter) Lease() *Lease { return &Lease{l: l} }

// ErrOverCapacity is returned for a lease that would hold more than the
// whole capacity: it could never be granted.
var ErrOverCapacity = errors.New("more than the whole capacity")

// Lease is one request's share. It is used by one goroutine at a time.
type Lease struct {
	l    *Limiter
	held int64
}

// Held returns the bytes the lease holds.
func (s *Lease) Held() int64 { return s.held }

// Grow adds n bytes to the lease, waiting until they fit. It returns
// ctx's error when ctx ends first; the lease then holds what it held
// before.
//
// Waiters are not queued: whichever fits when bytes are given back goes,
// so a small request is not held up behind a large one that does not fit
// yet.
func (s *Lease) Grow(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	if err := s.canFit(n); err != nil {
		return err
	}
	l := s.l
	for {
		l.mu.Lock()
		if s.grantLocked(n) {
			l.mu.Unlock()
			return nil
		}
		freed := l.freed
		l.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TryGrow adds n bytes to the lease if they fit now, without waiting. It
// reports whether it did; the error is for n bytes that could never fit.
// A request that usually fits checks with TryGrow first and builds the
// context for Grow's wait only when it must wait.
func (s *Lease) TryGrow(n int64) (bool, error) {
	if n <= 0 {
		return true, nil
	}
	if err := s.canFit(n); err != nil {
		return false, err
	}
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	return s.grantLocked(n), nil
}

// canFit refuses n more bytes that would take the lease past the whole
// capacity: waiting could never grant them.
func (s *Lease) canFit(n int64) error {
	if s.held+n > s.l.capacity {
		return fmt.Errorf("leasing %d bytes: %w of %d bytes", s.held+n, ErrOverCapacity, s.l.capacity)
	}
	return nil
}

// grantLocked adds n bytes to the lease if they fit now. Callers hold the
// limiter's lock.
func (s *Lease) grantLocked(n int64) bool {
	l := s.l
	if l.used+n > l.capacity {
		return false
	}
	l.used += n
	s.held += n
	return true
}

// Release gives back everything the lease holds. The lease may grow again
// afterwards.
func (s *Lease) Release() {
	if s.held == 0 {
		return
	}
	l := s.l
	l.mu.Lock()
	l.used -= s.held
	close(l.freed)
	l.freed = make(chan struct{})
	l.mu.Unlock()
	s.held = 0
}
