// Package dedup remembers which events were delivered, within a window
// bounded by time and by count, optionally persisted through a storage
// extension client so a restart does not let duplicates through.
//
// An event goes through three states. Begin claims its key while the record
// travels down the pipeline (a concurrent copy of it is a duplicate); Commit
// marks it seen once the next consumer accepted it; Abort releases it when
// the next consumer refused, so the sender's retry is not mistaken for a
// duplicate and lost.
//
// Memory: each remembered event costs a 40-byte queue entry and a 32-byte
// map key plus the map's overhead; see the processor's README for the
// measured figure.
package dedup // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/dedup"

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Key identifies an event: a hash of its source and event id, so hostile
// ids cost the same memory as short ones.
type Key [sha256.Size]byte

// KeyOf returns the key of an event id from a source.
func KeyOf(source, eventID string) Key {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	var k Key
	h.Sum(k[:0])
	return k
}

// Config bounds the window.
type Config struct {
	// Window is how long a delivered event id is remembered.
	Window time.Duration
	// MaxEntries is the most event ids remembered; past it the oldest are
	// forgotten first.
	MaxEntries int
}

type entry struct {
	key  Key
	seen int64 // unix nanoseconds
}

// Window is the set of event keys seen recently. It is safe for concurrent
// use.
type Window struct {
	cfg Config
	now func() time.Time

	mu   sync.Mutex
	seen map[Key]struct{}
	// queue[qh:] holds the entries of seqs [head, next), oldest first; the
	// consumed front is reclaimed once it is half the slice.
	queue    []entry
	qh       int
	head     uint64 // seq of the oldest remembered entry
	next     uint64 // seq the next entry gets
	inflight map[Key]struct{}

	store *persister // nil when not persistent
}

// New returns an empty, in-memory window. now is the clock (time.Now when
// nil).
func New(cfg Config, now func() time.Time) *Window {
	if now == nil {
		now = time.Now
	}
	return &Window{
		cfg:      cfg,
		now:      now,
		seen:     make(map[Key]struct{}),
		inflight: make(map[Key]struct{}),
	}
}

// Len returns how many delivered events are remembered.
func (w *Window) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.next - w.head)
}

// Begin claims k for a record about to be sent on. It reports false when k
// was delivered within the window or is being delivered right now: the
// record is a duplicate.
func (w *Window) Begin(k Key) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expire(w.now().UnixNano())
	if _, ok := w.seen[k]; ok {
		return false
	}
	if _, ok := w.inflight[k]; ok {
		return false
	}
	w.inflight[k] = struct{}{}
	return true
}

// Abort releases keys claimed by Begin whose records were not delivered.
func (w *Window) Abort(keys []Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		delete(w.inflight, k)
	}
}

// Commit records keys claimed by Begin as delivered and, when persistent,
// writes the change to storage. The keys are remembered even when the write
// fails; the error then says a restart may let them through again.
func (w *Window) Commit(ctx context.Context, keys []Key) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now().UnixNano()
	first := w.next
	for _, k := range keys {
		delete(w.inflight, k)
		if _, dup := w.seen[k]; dup {
			continue
		}
		w.push(entry{key: k, seen: now})
	}
	w.expire(now)
	if w.store == nil || (w.next == first && w.head == w.store.head) {
		return nil
	}
	return w.store.save(ctx, w, first)
}

// push appends e as seq next, forgetting the oldest entry when full.
func (w *Window) push(e entry) {
	if int(w.next-w.head) >= w.cfg.MaxEntries {
		w.popOldest()
	}
	w.queue = append(w.queue, e)
	w.seen[e.key] = struct{}{}
	w.next++
}

func (w *Window) popOldest() {
	delete(w.seen, w.queue[w.qh].key)
	w.queue[w.qh] = entry{}
	w.qh++
	w.head++
	if w.qh >= 1024 && w.qh*2 >= len(w.queue) {
		n := copy(w.queue, w.queue[w.qh:])
		w.queue, w.qh = w.queue[:n], 0
	}
}

// expire forgets entries older than the window.
func (w *Window) expire(now int64) {
	limit := now - int64(w.cfg.Window)
	for w.head < w.next && w.queue[w.qh].seen <= limit {
		w.popOldest()
	}
}

// entryAt returns the entry of seq s in [head, next).
func (w *Window) entryAt(s uint64) entry { return w.queue[w.qh+int(s-w.head)] }

// The storage layout: a meta record with the window's seq range and
// fixed-size chunks of entries keyed by chunk number, so a commit rewrites
// only the newest chunk and deletes whole expired chunks, and a start reads
// the window back without the storage having to list its keys.
const (
	metaKey       = "dedup/meta"
	chunkPrefix   = "dedup/chunk/"
	chunkEntries  = 256
	formatVersion = 1
	entrySize     = sha256.Size + 8
	metaSize      = 1 + 8 + 8
)

func chunkOf(seq uint64) uint64 { return seq / chunkEntries }

func chunkKey(c uint64) string { return fmt.Sprintf("%s%d", chunkPrefix, c) }

type persister struct {
	client storage.Client
	// head is the window's head as last written: chunks below chunkOf(head)
	// that the window no longer needs are deleted at the next save.
	head uint64
}

// save writes the entries from seq first on, deletes the chunks that fell
// out of the window and updates the meta record, in one batch.
func (p *persister) save(ctx context.Context, w *Window, first uint64) error {
	var ops []*storage.Operation
	for c := chunkOf(p.head); c < chunkOf(w.head); c++ {
		ops = append(ops, storage.DeleteOperation(chunkKey(c)))
	}
	// Everything below head is gone, including a partly expired chunk's
	// older entries; rewrite each chunk holding new entries from its first
	// remembered seq.
	if w.next > max(first, w.head) {
		for c := chunkOf(max(first, w.head)); c <= chunkOf(w.next-1); c++ {
			lo, hi := max(c*chunkEntries, w.head), min((c+1)*chunkEntries, w.next)
			buf := make([]byte, 8, 8+int(hi-lo)*entrySize)
			binary.BigEndian.PutUint64(buf, lo)
			for s := lo; s < hi; s++ {
				e := w.entryAt(s)
				buf = append(buf, e.key[:]...)
				buf = binary.BigEndian.AppendUint64(buf, uint64(e.seen))
			}
			ops = append(ops, storage.SetOperation(chunkKey(c), buf))
		}
	}
	meta := make([]byte, 0, metaSize)
	meta = append(meta, formatVersion)
	meta = binary.BigEndian.AppendUint64(meta, w.head)
	meta = binary.BigEndian.AppendUint64(meta, w.next)
	ops = append(ops, storage.SetOperation(metaKey, meta))
	if err := p.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("saving the dedup window: %w", err)
	}
	p.head = w.head
	return nil
}

// Load reads a window saved through client and keeps client to save to.
// Entries beyond the current window (by time or count) are dropped. A
// missing or unreadable chunk loses only the entries before it; the error
// then says what was lost, and the window holds the rest.
func Load(ctx context.Context, cfg Config, now func() time.Time, client storage.Client) (*Window, error) {
	w := New(cfg, now)
	w.store = &persister{client: client}
	meta, err := client.Get(ctx, metaKey)
	if err != nil {
		return w, fmt.Errorf("reading the dedup window: %w", err)
	}
	if meta == nil {
		return w, nil // first start
	}
	if len(meta) != metaSize || meta[0] != formatVersion {
		return w, fmt.Errorf("dedup window in storage has an unknown format (%d bytes): starting empty", len(meta))
	}
	head, next := binary.BigEndian.Uint64(meta[1:]), binary.BigEndian.Uint64(meta[9:])
	if next < head {
		return w, fmt.Errorf("dedup window in storage is corrupt (head %d > next %d): starting empty", head, next)
	}
	w.store.head = head
	if next-head > uint64(cfg.MaxEntries) {
		head = next - uint64(cfg.MaxEntries)
	}
	w.head, w.next = head, head
	var errs error
	for c := chunkOf(head); head < next && c <= chunkOf(next-1); c++ {
		lo, hi := max(c*chunkEntries, head), min((c+1)*chunkEntries, next)
		entries, err := readChunk(ctx, client, c, lo, hi)
		if err != nil {
			// Keep seqs contiguous: forget what came before the gap.
			errs = errors.Join(errs, fmt.Errorf("%w: forgetting %d older event ids", err, w.next-w.head))
			w.reset(hi)
			continue
		}
		for _, e := range entries {
			w.push(e)
		}
	}
	w.expire(w.now().UnixNano())
	return w, errs
}

// reset forgets every entry and restarts the window at seq s.
func (w *Window) reset(s uint64) {
	clear(w.seen)
	w.queue, w.qh = w.queue[:0], 0
	w.head, w.next = s, s
}

func readChunk(ctx context.Context, client storage.Client, c, lo, hi uint64) ([]entry, error) {
	buf, err := client.Get(ctx, chunkKey(c))
	if err != nil {
		return nil, fmt.Errorf("reading dedup chunk %d: %w", c, err)
	}
	if len(buf) < 8 || (len(buf)-8)%entrySize != 0 {
		return nil, fmt.Errorf("dedup chunk %d is missing or malformed (%d bytes)", c, len(buf))
	}
	start := binary.BigEndian.Uint64(buf)
	end := start + uint64((len(buf)-8)/entrySize)
	if start > lo || end < hi {
		return nil, fmt.Errorf("dedup chunk %d holds seqs [%d, %d), want [%d, %d)", c, start, end, lo, hi)
	}
	out := make([]entry, 0, hi-lo)
	for s := lo; s < hi; s++ {
		off := 8 + int(s-start)*entrySize
		var e entry
		copy(e.key[:], buf[off:])
		e.seen = int64(binary.BigEndian.Uint64(buf[off+sha256.Size:]))
		out = append(out, e)
	}
	return out, nil
}
