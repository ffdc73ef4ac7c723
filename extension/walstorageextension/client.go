package walstorageextension // import "github.com/otelcol-audit/otelcol-audit/extension/walstorageextension"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

// client is one component's view of the database: its keys are prefixed.
type client struct {
	s      *walStorage
	prefix []byte
	closed atomic.Bool
}

var _ storage.Client = (*client)(nil)

var errClientClosed = errors.New("walstorage: the client is closed")

func (c *client) key(k string) []byte {
	b := make([]byte, 0, len(c.prefix)+len(k))
	return append(append(b, c.prefix...), k...)
}

// Get returns the value of key, or nil when there is none.
func (c *client) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	if err := c.Batch(ctx, op); err != nil {
		return nil, err
	}
	return op.Value, nil
}

// Set stores value under key.
func (c *client) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

// Delete removes key.
func (c *client) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

// Close ends the client; the database stays open for the others.
func (c *client) Close(context.Context) error {
	c.closed.Store(true)
	return nil
}

// Batch applies ops in order, atomically: a Get sees the Sets and Deletes
// before it in the batch. The writes are committed as one pebble batch;
// whether the commit waits for an fsync is decided by syncFor.
func (c *client) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if c.closed.Load() {
		return errClientClosed
	}
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	db := c.s.db
	if db == nil {
		return errClosed
	}
	var gets, sets, deletes int
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			gets++
		case storage.Set:
			sets++
		case storage.Delete:
			deletes++
		default:
			return fmt.Errorf("walstorage: unknown operation type %d", op.Type)
		}
	}
	if sets+deletes == 0 {
		for _, op := range ops {
			v, err := get(db, c.key(op.Key))
			if err != nil {
				return err
			}
			op.Value = v
		}
		return nil
	}
	// An indexed batch (which a Get can read) only when a Get follows a
	// write of the same key; otherwise the Gets read the database, which
	// the batch does not change before it commits.
	var b *pebble.Batch
	if gets > 0 && readsOwnWrite(ops) {
		b = db.NewIndexedBatch()
	} else {
		b = db.NewBatch()
	}
	defer b.Close()
	for _, op := range ops {
		k := c.key(op.Key)
		var err error
		switch op.Type {
		case storage.Get:
			if b.Indexed() {
				op.Value, err = get(b, k)
			} else {
				op.Value, err = get(db, k)
			}
		case storage.Set:
			err = b.Set(k, op.Value, nil)
		case storage.Delete:
			err = b.Delete(k, nil)
		}
		if err != nil {
			return fmt.Errorf("walstorage: %w", err)
		}
	}
	if err := b.Commit(c.syncFor(ctx, gets, deletes)); err != nil {
		return fmt.Errorf("walstorage: committing: %w", err)
	}
	return nil
}

// syncFor decides whether a write waits for an fsync. With sync on, any
// write made for a caller holding a durable.Ticket is synced when the
// ticket is waited on. Otherwise, a write that only sets keys may add data
// (a queue's new item) and is synced before it returns. A write that also reads or deletes
// keys records progress (the persistent queue's read and done steps): if
// a power loss takes it, an item is sent again, none is lost, so it does
// not wait; the next synced write makes it durable too.
func (c *client) syncFor(ctx context.Context, gets, deletes int) *pebble.WriteOptions {
	if !c.s.cfg.Sync || durable.Defer(ctx, c.s) || gets+deletes > 0 {
		return pebble.NoSync
	}
	return pebble.Sync
}

func readsOwnWrite(ops []*storage.Operation) bool {
	for i, op := range ops {
		if op.Type != storage.Get {
			continue
		}
		for _, w := range ops[:i] {
			if w.Type != storage.Get && w.Key == op.Key {
				return true
			}
		}
	}
	return false
}

type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// get returns a copy of key's value, nil when there is none.
func get(r reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("walstorage: %w", err)
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, closer.Close()
}
