package archive

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// A Tap hands the lines a Writer has just made durable to a reader in the
// same process (the archive's index), which would otherwise read them back
// from the file: reading, decompressing, hashing and checking again what
// this process has just sealed. It is an in-process cache of the file's
// bytes, never a source of truth:
//
//   - the writer publishes a write only after it succeeded and, with
//     FsyncInterval, only once the interval's fsync made it durable;
//   - the reader takes lines only where they continue exactly (the same
//     file by device and inode, the offset it has read to, no further than
//     the file's size on disk now), and reads the file itself for anything
//     else: lines written before it subscribed, lines a full tap dropped,
//     lines of another process's writer, bytes the writer did not write;
//   - publishing never blocks the writer, and what waits in a tap is
//     bounded (TapOptions.MaxBytes): a full tap drops what comes, and the
//     reader reads that stretch from the file.
//
// A line handed over is the writer's own bytes: its hash is the one the
// writer computed over them, its HMAC was made with the reader's key (a
// tap refuses a writer with another key), and a body from an Encoder
// (Writer.WriteEncoded) follows jsonpolicy by construction, so the reader
// skips those checks; other bodies are checked as a reader checks them.
// Changes made to the file behind the writer's back after it published
// are found as before: by the reader's check of its last line at every
// refresh and its periodic full read of the active file, by its reading
// (not taking) a rotated file modified after the writer's last write, and
// by Verify.
type Tap struct {
	key   string
	keyFP [sha256.Size]byte // of the reader's HMAC key; zero when none
	keyed bool
	max   int

	mu     sync.Mutex
	chunks []tapChunk // oldest first
	bytes  int
	// The writer's current file and its record there: [base, end) are the
	// writer's lines since the tap's record of this file is unbroken (queued
	// chunks, lines taken, and a write in flight up to end).
	dev, ino uint64
	base     int64
	end      int64
	trusted  bool  // the writer's offsets match the file's (see Writer.publish)
	taken    int64 // the end of what was handed out of this file
	dropped  int
	closed   bool
	wake     chan struct{}
}

type tapChunk struct {
	dev, ino uint64
	off      int64
	data     []byte       // whole lines, each with its newline; never changed
	checked  bool         // every body follows jsonpolicy (an Encoder's, or a marker)
	hints    []*IndexHint // one per line of data, nil entries for lines without; or none
	durable  bool
	at       int64 // when the write returned (ns): the file's mtime is not later
}

func (c *tapChunk) endOff() int64 { return c.off + int64(len(c.data)) }

// TapOptions configure a Tap.
type TapOptions struct {
	// MaxBytes bounds the bytes waiting in the tap (default 16 MiB).
	MaxBytes int
	// HMACKey is the key the reader checks lines with: only a writer with
	// the same key is taken from (without a key, any writer).
	HMACKey []byte
}

var taps struct {
	mu sync.RWMutex
	m  map[string][]*Tap
}

// tapKey names an archive in the registry: its active file's absolute,
// clean path.
func tapKey(activePath string) string {
	if a, err := filepath.Abs(activePath); err == nil {
		return a
	}
	return filepath.Clean(activePath)
}

// SubscribeTap opens a tap on the archive whose active file is activePath:
// every Writer of that archive in this process publishes to it from now on.
// Close it when done.
func SubscribeTap(activePath string, opts TapOptions) *Tap {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 16 << 20
	}
	t := &Tap{key: tapKey(activePath), max: opts.MaxBytes, wake: make(chan struct{}, 1)}
	if len(opts.HMACKey) > 0 {
		t.keyFP, t.keyed = keyFingerprint(opts.HMACKey), true
	}
	taps.mu.Lock()
	if taps.m == nil {
		taps.m = map[string][]*Tap{}
	}
	taps.m[t.key] = append(taps.m[t.key], t)
	taps.mu.Unlock()
	return t
}

// Close unsubscribes the tap and frees what waits in it.
func (t *Tap) Close() {
	taps.mu.Lock()
	subs := taps.m[t.key]
	for i, s := range subs {
		if s == t {
			subs = append(subs[:i:i], subs[i+1:]...)
			break
		}
	}
	if len(subs) == 0 {
		delete(taps.m, t.key)
	} else {
		taps.m[t.key] = subs
	}
	taps.mu.Unlock()
	t.mu.Lock()
	t.closed = true
	t.chunks, t.bytes = nil, 0
	t.mu.Unlock()
}

// Wake receives when a quarter of MaxBytes waits in the tap: the reader
// should take it now rather than at its next scheduled refresh, before the
// tap fills and drops lines it would then read from the file.
func (t *Tap) Wake() <-chan struct{} { return t.wake }

// Dropped is how many writes a full tap has dropped since it was opened.
func (t *Tap) Dropped() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

func keyFingerprint(key []byte) [sha256.Size]byte {
	return sha256.Sum256(append([]byte("archive tap key "), key...))
}

func subscribers(key string) []*Tap {
	taps.mu.RLock()
	defer taps.mu.RUnlock()
	return taps.m[key]
}

// TapRun is a stretch of lines taken from a tap: contiguous, starting at
// the offset the reader asked for.
type TapRun struct {
	off    int64
	chunks []tapChunk
}

// End is the offset after the run's last line (the offset asked for when
// the run is empty).
func (r TapRun) End() int64 {
	if len(r.chunks) == 0 {
		return r.off
	}
	return r.chunks[len(r.chunks)-1].endOff()
}

// Newest is when the run's last write returned: a file modified later was
// changed after the writer's last write to it (by the writer again, or
// behind its back).
func (r TapRun) Newest() time.Time {
	if len(r.chunks) == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.chunks[len(r.chunks)-1].at)
}

// Len is the run's size in bytes.
func (r TapRun) Len() int64 { return r.End() - r.off }

// Take returns the durable lines handed over for the file (dev, ino) from
// offset from on, up to the file's size on disk now, and drops what the
// reader no longer needs (lines before from in that file; with active set,
// the reader's current file, every other file's). pending reports that
// the rest of the file, up to size, is the writer's own and will be handed
// over once durable: the reader should leave it for later rather than read
// it. Otherwise the reader reads the file from the run's end.
func (t *Tap) Take(dev, ino uint64, from, size int64, active bool) (run TapRun, pending bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	run.off = from
	keep := t.chunks[:0]
	end := from
	contiguous := true
	for _, c := range t.chunks {
		if c.dev != dev || c.ino != ino {
			if !active {
				keep = append(keep, c)
			} else {
				t.bytes -= len(c.data)
			}
			continue
		}
		if c.endOff() <= from {
			t.bytes -= len(c.data)
			continue // read already
		}
		if !contiguous || !c.durable || c.off > end || c.endOff() > size {
			contiguous = false
			keep = append(keep, c)
			continue
		}
		queued := len(c.data)
		if c.off < end {
			// The reader read part of it from the file: the rest, if it
			// starts at a line.
			cut := end - c.off
			if c.data[cut-1] != '\n' {
				contiguous = false
				keep = append(keep, c)
				continue
			}
			if c.hints != nil {
				c.hints = c.hints[bytes.Count(c.data[:cut], []byte{'\n'}):]
			}
			c.data, c.off = c.data[cut:], end
		}
		// Handed out: should the reader fail to store it, it reads the
		// stretch from the file.
		t.bytes -= queued
		run.chunks = append(run.chunks, c)
		end = c.endOff()
	}
	clear(t.chunks[len(keep):])
	t.chunks = keep
	if t.dev != dev || t.ino != ino || !t.trusted {
		return run, false
	}
	// The rest is to come when the record is unbroken from where the run
	// ends (nothing dropped, nothing handed out already: a reader that
	// starts the file again reads it) up to the writer's end.
	pending = end >= t.base && end >= t.taken && size <= t.end && end < size
	t.taken = max(t.taken, end)
	return run, pending
}

// OnDisk reports whether the run's first line is in the file at path
// where the run says (a cheap check that the run is this file's: an inode
// number is reused once a file is removed).
func (r TapRun) OnDisk(path string) bool {
	if len(r.chunks) == 0 {
		return true
	}
	data := r.chunks[0].data
	first := data[:bytes.IndexByte(data, '\n')+1]
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	got := make([]byte, len(first))
	if _, err := f.ReadAt(got, r.off); err != nil {
		return false
	}
	return bytes.Equal(got, first)
}

// Entries yields the run's lines as FileEntries yields them from the file
// (named file, numbered after skipped, linked to pred), without the checks
// the writer's own bytes need not pass again (see Tap), each with the
// hint its writer was given (Writer.WriteHinted), if any.
func (r TapRun) Entries(file string, skipped int, pred *Seal) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		c := &checker{}
		c.follow(pred)
		no := skipped
		for _, ch := range r.chunks {
			data, off := ch.data, ch.off
			for k := 0; len(data) > 0; k++ {
				i := bytes.IndexByte(data, '\n')
				raw := data[:i]
				no++
				e := tapEntry(file, no, raw, ch.checked)
				e.Offset = off
				if k < len(ch.hints) {
					e.Hint = ch.hints[k]
				}
				c.link(&e)
				if !yield(e) {
					return
				}
				data, off = data[i+1:], off+int64(i)+1
			}
		}
	}
}

// tapEntry is checker.check for a line this process's writer sealed: the
// hash (and HMAC) are its own, so they are not computed again; the JSON
// rule is checked unless the body is known to follow it.
func tapEntry(file string, no int, raw []byte, checked bool) Entry {
	e := Entry{File: file, Line: no, Raw: raw}
	if len(raw) > MaxLineSize {
		e.Raw, e.Status, e.Err = clip(raw), StatusMalformed, fmt.Errorf("line longer than %d bytes", MaxLineSize)
		return e
	}
	s, err := parseSeal(raw)
	if err != nil {
		e.Status, e.Err = StatusMalformed, err
		return e
	}
	if !checked {
		if err := jsonpolicy.Check(raw, jsonpolicy.MaxDepth); err != nil {
			e.Status, e.Err = StatusMalformed, fmt.Errorf("not an archive line: %w", err)
			return e
		}
	}
	e.Seal, e.HasSeal = s, true
	return e
}

// The writer's side. Each method is called from the writer's goroutine
// with the writer's subscribers.

// accepts reports whether the tap takes lines from a writer with key fp.
func (t *Tap) accepts(fp [sha256.Size]byte, keyed bool) bool {
	return !t.keyed || (keyed && hmac.Equal(t.keyFP[:], fp[:]))
}

// writing records that the writer is about to append n bytes at off of
// file (dev, ino).
func (t *Tap) writing(dev, ino uint64, off int64, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dev != dev || t.ino != ino || !t.trusted || off != t.end {
		// A new file, or a record that starts (again) here.
		t.dev, t.ino, t.base, t.taken, t.trusted = dev, ino, off, off, true
	}
	t.end = off + int64(n)
}

// opened drops what the tap holds under file (dev, ino), which the writer
// has just opened: lines of a file that had the same inode before, or of
// this file before the writer reopened it, and restarts the record there.
func (t *Tap) opened(dev, ino uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := t.chunks[:0]
	for _, c := range t.chunks {
		if c.dev == dev && c.ino == ino {
			t.bytes -= len(c.data)
			continue
		}
		keep = append(keep, c)
	}
	clear(t.chunks[len(keep):])
	t.chunks = keep
	if t.dev == dev && t.ino == ino {
		t.trusted = false
	}
}

// failed records that the write announced at off did not happen (the
// writer cut it back out), or that the writer's offsets cannot be trusted.
func (t *Tap) failed(off int64, trusted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.end = off
	t.trusted = t.trusted && trusted
}

// wrote queues a write that succeeded (data is the tap's own copy).
func (t *Tap) wrote(c tapChunk) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.bytes+len(c.data) > t.max {
		// Full: the reader reads this stretch from the file; the record
		// starts again after it.
		t.dropped++
		if t.dev == c.dev && t.ino == c.ino {
			t.base = max(t.base, c.endOff())
		}
		return
	}
	t.chunks = append(t.chunks, c)
	t.bytes += len(c.data)
	if t.bytes >= t.max/4 {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// synced marks the writes of file (dev, ino) up to offset upTo durable.
func (t *Tap) synced(dev, ino uint64, upTo int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.chunks {
		c := &t.chunks[i]
		if c.dev == dev && c.ino == ino && c.endOff() <= upTo {
			c.durable = true
		}
	}
}

// fileID is a file's device and inode (as auditquery's index records them).
func fileID(info os.FileInfo) (dev, ino uint64) {
	if s, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev), uint64(s.Ino) //nolint:unconvert // Dev is int32 on some systems
	}
	return 0, 0
}
