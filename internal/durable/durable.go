// Package durable lets a receiver acknowledge a request only once what the
// pipeline stored for it is on stable storage, with one fsync shared by
// every request waiting at the same time (group commit).
//
// The collector's storage API (xextension/storage) has no notion of "make
// this durable later": a storage client either syncs inside each call or
// never. Syncing inside the call is correct but slow where the caller holds
// a lock around it (exporterhelper's persistent queue holds its mutex
// across Offer's storage batch, so each enqueue would wait for a disk flush
// of its own, one after the other). This package is the missing handshake,
// carried in the request's context:
//
//   - the receiver puts a Ticket in the context it passes to the pipeline
//     (WithTicket) and, once the pipeline accepted the data, calls
//     Ticket.Wait before answering;
//   - a storage client that finds a Ticket in the context of a write
//     (Defer) writes without syncing and records itself in the ticket; it
//     syncs inside the call only when there is no ticket, so callers that
//     do not know this package keep the usual guarantee.
//
// Wait syncs each recorded Syncer once. A Syncer that groups concurrent
// syncs into one flush (pebble's commit pipeline does) makes every request
// arriving during a flush share the next one.
//
// No well-kept library offers this across the collector's component
// boundaries; it is a context value and a list, kept small on purpose.
package durable // import "github.com/otelcol-audit/otelcol-audit/internal/durable"

import (
	"context"
	"errors"
	"sync"
)

// Syncer makes everything written through it so far durable.
type Syncer interface {
	Sync() error
}

// Ticket collects the Syncers a pipeline call wrote through without
// syncing. It is safe for concurrent use.
type Ticket struct {
	mu      sync.Mutex
	pending []Syncer
}

type ticketKey struct{}

// WithTicket returns a context carrying a new, empty Ticket, and the
// Ticket.
func WithTicket(ctx context.Context) (context.Context, *Ticket) {
	t := &Ticket{}
	return context.WithValue(ctx, ticketKey{}, t), t
}

// FromContext returns the Ticket ctx carries, or nil.
func FromContext(ctx context.Context) *Ticket {
	t, _ := ctx.Value(ticketKey{}).(*Ticket)
	return t
}

// Defer records s in the Ticket ctx carries and reports true: the caller's
// write need not be synced now, the ticket's holder will call s.Sync before
// acknowledging. It reports false when ctx carries no Ticket: the caller
// must sync itself.
func Defer(ctx context.Context, s Syncer) bool {
	t := FromContext(ctx)
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.pending {
		if p == s {
			return true
		}
	}
	t.pending = append(t.pending, s)
	return true
}

// Pending reports how many Syncers the ticket holds.
func (t *Ticket) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// Wait syncs every recorded Syncer once, in the order they were recorded,
// and empties the ticket. It returns every failure.
func (t *Ticket) Wait() error {
	t.mu.Lock()
	pending := t.pending
	t.pending = nil
	t.mu.Unlock()
	var errs []error
	for _, s := range pending {
		if err := s.Sync(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
