// Package dedup remembers which events were delivered, within a window
// bounded by time and by count, optionally persisted through a storage
// extension client so a restart does not let duplicates through.
//
// An event goes through three states. Begin claims its key while the record
// travels down the pipeline; Commit marks it seen once the next consumer
// accepted it; Abort releases it when the next consumer refused, so the
// sender's retry is not mistaken for a duplicate and lost. A copy that
// arrives while another is in flight is claimed too and passes: dropping
// it would acknowledge it on the strength of a delivery that may still be
// refused, and if that delivery's sender never retries, the event would be
// lost. Both copies may then be delivered; that narrow window is the price
// of losing nothing.
//
// Memory: each remembered event costs a 40-byte entry in a ring that never
// holds more than max_entries, and 4 to 8 bytes in the index that finds it
// (index.go); see the processor's README for the measured figure.
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

	mu sync.Mutex
	// idx finds the remembered keys in ring.
	idx index
	// ring holds the entries of seqs [head, next), oldest first, from
	// ring[start] on, wrapping around. It grows up to MaxEntries and then
	// reuses its slots, so it never holds more than the window.
	ring  []entry
	start int
	head  uint64 // seq of the oldest remembered entry
	next  uint64 // seq the next entry gets
	// inflight counts the deliveries of each key claimed by Begin and not
	// yet committed or aborted.
	inflight map[Key]int

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
		idx:      newIndex(),
		inflight: make(map[Key]int),
	}
}

// Len returns how many delivered events are remembered.
func (w *Window) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.next - w.head)
}

// Begin claims k for a record about to be sent on. It reports false when k
// was delivered within the window: the record is a duplicate. A key being
// delivered right now is claimed once more and passes (see the package
// comment). Every claim ends with one Commit or Abort of k.
func (w *Window) Begin(k Key) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expire(w.now().UnixNano())
	if w.idx.find(w.ring, &k) >= 0 {
		return false
	}
	w.inflight[k]++
	return true
}

// InFlight reports how many claims on k are neither committed nor aborted.
func (w *Window) InFlight(k Key) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inflight[k]
}

// release ends one claim on k. The caller holds w.mu.
func (w *Window) release(k Key) {
	if n := w.inflight[k]; n > 1 {
		w.inflight[k] = n - 1
	} else {
		delete(w.inflight, k)
	}
}

// Abort ends claims made by Begin whose records were not delivered.
func (w *Window) Abort(keys []Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		w.release(k)
	}
}

// Commit records keys claimed by Begin as delivered. It changes memory
// only: Save writes what changed to storage.
func (w *Window) Commit(keys []Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now().UnixNano()
	for _, k := range keys {
		w.release(k)
		if w.idx.find(w.ring, &k) >= 0 {
			continue
		}
		w.push(entry{key: k, seen: now})
	}
	w.expire(now)
}

// Save writes to storage what changed since the last successful Save: the
// entries committed since, and the chunks that fell out of the window. It
// does nothing for a window without storage. The processor saves after
// every delivered batch, in the batch's context, so the storage makes the
// ids durable with the batch's records before the sender is answered.
// After a failure the next Save writes everything the failed one would
// have.
func (w *Window) Save(ctx context.Context) error {
	if w.store == nil {
		return nil
	}
	w.store.mu.Lock() // one Save at a time; Commits go on meanwhile
	defer w.store.mu.Unlock()
	w.mu.Lock()
	head, next := w.head, w.next
	var ops []*storage.Operation
	if head != w.store.head || next != w.store.next || w.store.v1 != nil {
		ops = w.store.ops(w)
	}
	w.mu.Unlock()
	if ops == nil {
		return nil
	}
	if err := w.store.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("saving the dedup window: %w", err)
	}
	w.store.head, w.store.next = head, next
	w.store.v1 = nil
	return nil
}

// push appends e as seq next, forgetting the oldest entry when full.
func (w *Window) push(e entry) {
	if int(w.next-w.head) >= w.cfg.MaxEntries {
		w.popOldest()
	}
	n := int(w.next - w.head)
	if n == len(w.ring) {
		w.grow()
	}
	pos := (w.start + n) % len(w.ring)
	w.ring[pos] = e
	w.idx.insert(w.ring, pos)
	w.next++
}

// minRing is the ring's first size: small windows stay small.
const minRing = 1024

// grow doubles the ring, up to MaxEntries, keeping the entries in order,
// and indexes them at their new positions.
func (w *Window) grow() {
	n := int(w.next - w.head)
	ring := make([]entry, min(max(minRing, 2*len(w.ring)), max(w.cfg.MaxEntries, 1)))
	for i := range n {
		ring[i] = w.ring[(w.start+i)%len(w.ring)]
	}
	w.ring, w.start = ring, 0
	w.idx.rebuild(ring, 0, n)
}

func (w *Window) popOldest() {
	w.idx.remove(w.ring, w.start)
	w.ring[w.start] = entry{}
	w.start = (w.start + 1) % len(w.ring)
	w.head++
}

// expire forgets entries older than the window.
func (w *Window) expire(now int64) {
	limit := now - int64(w.cfg.Window)
	for w.head < w.next && w.ring[w.start].seen <= limit {
		w.popOldest()
	}
}

// entryAt returns the entry of seq s in [head, next).
func (w *Window) entryAt(s uint64) entry {
	return w.ring[(w.start+int(s-w.head))%len(w.ring)]
}

// The storage layout: a meta record with the window's seq range and
// fixed-size chunks of entries keyed by chunk number, so a commit rewrites
// only the newest chunk and deletes whole expired chunks, and a start reads
// the window back without the storage having to list its keys.
//
// Format 2 keeps 32 entries a chunk: the window is saved with every
// delivered batch (so a crash forgets nothing acknowledged), and a save
// rewrites the newest chunk, about 0.6 KB on average instead of format 1's
// 5 KB (256 entries). A window saved in format 1 is read and rewritten in
// format 2 at the next save.
const (
	metaKey       = "dedup/meta"
	chunkPrefix   = "dedup/c/"
	chunkEntries  = 32
	formatVersion = 2
	entrySize     = sha256.Size + 8
	metaSize      = 1 + 8 + 8

	v1ChunkPrefix  = "dedup/chunk/"
	v1ChunkEntries = 256
	v1Version      = 1
)

func chunkOf(seq uint64) uint64 { return seq / chunkEntries }

func chunkKey(c uint64) string { return fmt.Sprintf("%s%d", chunkPrefix, c) }

func v1ChunkKey(c uint64) string { return fmt.Sprintf("%s%d", v1ChunkPrefix, c) }

type persister struct {
	client storage.Client

	mu sync.Mutex // held by Save
	// head and next are the window's as last written: chunks below
	// chunkOf(head) that the window no longer needs are deleted, and the
	// entries from next on written, at the next save.
	head, next uint64
	// v1 holds the seq range of a window read in format 1, whose chunks
	// the next save deletes.
	v1 *[2]uint64
}

// ops returns the batch that writes the entries from p.next on, deletes
// the chunks that fell out of the window and updates the meta record. The
// caller holds w.mu.
func (p *persister) ops(w *Window) []*storage.Operation {
	first := p.next
	var ops []*storage.Operation
	if p.v1 != nil && p.v1[1] > p.v1[0] {
		for c := p.v1[0] / v1ChunkEntries; c <= (p.v1[1]-1)/v1ChunkEntries; c++ {
			ops = append(ops, storage.DeleteOperation(v1ChunkKey(c)))
		}
	}
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
	return append(ops, storage.SetOperation(metaKey, meta))
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
	if len(meta) != metaSize || (meta[0] != formatVersion && meta[0] != v1Version) {
		return w, fmt.Errorf("dedup window in storage has an unknown format (%d bytes): starting empty", len(meta))
	}
	head, next := binary.BigEndian.Uint64(meta[1:]), binary.BigEndian.Uint64(meta[9:])
	if next < head {
		return w, fmt.Errorf("dedup window in storage is corrupt (head %d > next %d): starting empty", head, next)
	}
	w.store.head, w.store.next = head, next
	size, key := uint64(chunkEntries), chunkKey
	if meta[0] == v1Version {
		size, key = v1ChunkEntries, v1ChunkKey
		w.store.v1 = &[2]uint64{head, next}
	}
	if next-head > uint64(cfg.MaxEntries) {
		head = next - uint64(cfg.MaxEntries)
	}
	w.head, w.next = head, head
	var errs error
	for c := head / size; head < next && c <= (next-1)/size; c++ {
		lo, hi := max(c*size, head), min((c+1)*size, next)
		entries, err := readChunk(ctx, client, key(c), lo, hi)
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
	if w.store.v1 != nil {
		// Rewrite everything in the current format at the next save.
		w.store.head, w.store.next = w.head, w.head
	}
	return w, errs
}

// reset forgets every entry and restarts the window at seq s.
func (w *Window) reset(s uint64) {
	w.idx.clear()
	clear(w.ring)
	w.start = 0
	w.head, w.next = s, s
}

func readChunk(ctx context.Context, client storage.Client, key string, lo, hi uint64) ([]entry, error) {
	buf, err := client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading dedup chunk %s: %w", key, err)
	}
	if len(buf) < 8 || (len(buf)-8)%entrySize != 0 {
		return nil, fmt.Errorf("dedup chunk %s is missing or malformed (%d bytes)", key, len(buf))
	}
	start := binary.BigEndian.Uint64(buf)
	end := start + uint64((len(buf)-8)/entrySize)
	if start > lo || end < hi {
		return nil, fmt.Errorf("dedup chunk %s holds seqs [%d, %d), want [%d, %d)", key, start, end, lo, hi)
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
