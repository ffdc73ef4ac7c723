package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// FsyncMode says when the writer makes lines durable.
type FsyncMode int

const (
	// FsyncBatch: every Write returns only after its lines are fsynced.
	FsyncBatch FsyncMode = iota
	// FsyncInterval: Write returns once the lines are written; a timer
	// fsyncs every FsyncInterval. A power loss can lose the last interval.
	FsyncInterval
)

// WriterOptions configures a Writer. Zero values mean: no size rotation, no
// daily rotation, keep every file, no compression, fsync per batch.
type WriterOptions struct {
	Path          string        // the active file
	MaxSize       int64         // rotate before the active file would exceed this many bytes; 0: never
	Daily         bool          // rotate at the first write of each UTC day
	MaxBackups    int           // keep at most this many rotated files; 0: all
	MaxAge        time.Duration // remove rotated files older than this; 0: never
	Compress      bool          // gzip rotated files
	Fsync         FsyncMode
	FsyncInterval time.Duration // with FsyncInterval; default 1s
	FileMode      fs.FileMode   // for new files; default 0600
	DirMode       fs.FileMode   // for a new directory; default 0700
	HMACKey       []byte        // optional: key the chain
	// Signer, when set, signs checkpoints (see Checkpoint): every
	// CheckpointLines lines, every CheckpointInterval while lines arrive,
	// when a file is rotated and at Close.
	Signer             *Signer
	CheckpointLines    int           // default DefaultCheckpointLines
	CheckpointInterval time.Duration // default DefaultCheckpointInterval
	// OnCheckpoint, when set, is called with every checkpoint written, from
	// the writer's goroutine: it must not block.
	OnCheckpoint func(c Checkpoint, token string)
	Logger       *zap.Logger
	Now          func() time.Time // the clock; default time.Now
}

// Checkpoint defaults.
const (
	DefaultCheckpointLines    = 10000
	DefaultCheckpointInterval = 10 * time.Second
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("archive writer is closed")

// maxGroupBytes bounds how much the writer commits with one write and one
// fsync when several Writes wait at once.
const maxGroupBytes = 8 << 20

// Writer appends events to an archive as hash-chained lines, rotating,
// compressing and removing files as configured. It is safe for concurrent
// use: Writes are serialized by one goroutine, which also commits Writes
// that wait together with a single fsync.
type Writer struct {
	opts   WriterOptions
	layout Layout
	log    *zap.Logger
	sealer *sealer
	now    func() time.Time
	maint  *maintainer

	reqs      chan *request
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// Owned by the loop goroutine (and by OpenWriter before it starts).
	f           *os.File
	size        int64 // bytes of whole lines in the active file
	dirty       bool  // the file may hold bytes past size (a failed write not yet undone)
	seq         uint64
	prev        [sha256.Size]byte
	day         string // UTC day (2006-01-02) of the active file's lines; "" when empty
	unsynced    bool   // FsyncInterval: lines written since the last fsync
	lastRotated time.Time
	removing    map[string]bool // rotated files handed to the maintainer for removal
	pending     []marker        // markers recovery could not write yet (a full disk)
	headFailing bool
	buf         []byte
	hints       []*IndexHint // writeGroup's, reused

	// The last checkpoint: its token, its hash, the last line it covers,
	// and the seq of its own line (0: none yet).
	cpToken   string
	cpHash    string
	cpLastSeq uint64
	cpAt      uint64
	// startCP is the last checkpoint found at start (see LastCheckpoint).
	startCP string

	// hookBeforeWrite, in tests, runs in the loop before each write.
	hookBeforeWrite func()

	// What the writer publishes to taps (see Tap): the registry key, its
	// HMAC key's fingerprint, the active file's identity, and whether its
	// offsets are to be trusted (no foreign bytes found in it).
	tapKey       string
	tapFP        [sha256.Size]byte
	tapKeyed     bool
	fdev, fino   uint64
	tapUntrusted bool
}

type marker struct {
	kind   string
	detail map[string]any
}

type request struct {
	ctx    context.Context
	bodies [][]byte
	// checked: the bodies come from an Encoder, which follows jsonpolicy
	// by construction (see WriteEncoded).
	checked bool
	hints   []*IndexHint // one per body, or none (see WriteHinted)
	done    chan error
}

// OpenWriter opens (or creates) the archive at opts.Path and recovers it:
// a partial last line left by a crash is cut away (and saved beside the
// archive), the chain continues from the last line, and the head is
// compared with it. What recovery finds is recorded as marker lines.
func OpenWriter(opts WriterOptions) (*Writer, error) {
	if opts.Path == "" {
		return nil, errors.New("archive: path is empty")
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o600
	}
	if opts.DirMode == 0 {
		opts.DirMode = 0o700
	}
	if opts.FsyncInterval <= 0 {
		opts.FsyncInterval = time.Second
	}
	if opts.CheckpointLines <= 0 {
		opts.CheckpointLines = DefaultCheckpointLines
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{
		opts:     opts,
		layout:   LayoutFor(opts.Path),
		log:      opts.Logger,
		sealer:   newSealer(opts.HMACKey),
		now:      opts.Now,
		reqs:     make(chan *request),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		removing: map[string]bool{},
		tapKey:   tapKey(LayoutFor(opts.Path).ActivePath()),
	}
	if len(opts.HMACKey) > 0 {
		w.tapFP, w.tapKeyed = keyFingerprint(opts.HMACKey), true
	}
	if err := w.recover(); err != nil {
		if w.f != nil {
			w.f.Close()
		}
		return nil, fmt.Errorf("archive %s: %w", opts.Path, err)
	}
	w.maint = newMaintainer(w.layout.Dir, opts.FileMode, w.log)
	w.startMaintenance()
	go w.loop()
	return w, nil
}

// Write appends one line per body (from EncodeLogs) as one batch: the whole
// batch becomes visible or none of it. It returns when the lines are written
// (and, with FsyncBatch, durable), or when ctx ends. In the second case the
// batch is either not written at all or may still complete, so a retry can
// store it twice: the archive is at-least-once, never lossy.
func (w *Writer) Write(ctx context.Context, bodies [][]byte) error {
	return w.write(ctx, bodies, nil, false)
}

// WriteEncoded is Write for bodies made by an Encoder (or EncodeLogs),
// unchanged: they follow jsonpolicy by construction (TestEncoderJSONPolicy),
// so a reader in this process that takes them from a Tap need not check
// them again.
func (w *Writer) WriteEncoded(ctx context.Context, bodies [][]byte) error {
	return w.write(ctx, bodies, nil, true)
}

// WriteHinted is WriteEncoded with the Encoder's hints (Encoder.Hints,
// one per body), which a Tap hands its reader with each line.
func (w *Writer) WriteHinted(ctx context.Context, bodies [][]byte, hints []*IndexHint) error {
	if len(hints) != len(bodies) {
		hints = nil
	}
	return w.write(ctx, bodies, hints, true)
}

func (w *Writer) write(ctx context.Context, bodies [][]byte, hints []*IndexHint, checked bool) error {
	if len(bodies) == 0 {
		return nil
	}
	r := &request{ctx: ctx, bodies: bodies, hints: hints, checked: checked, done: make(chan error, 1)}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("archive: waiting for the writer: %w", ctx.Err())
	case <-w.stop:
		return ErrClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("archive: write of %d events did not finish in time (it may still complete): %w", len(bodies), ctx.Err())
	}
}

// Close makes everything written durable, updates the head and closes the
// files. Pending compressions are left to the next start.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		close(w.stop)
		<-w.done
	})
	return w.closeErr
}

func (w *Writer) loop() {
	defer close(w.done)
	var tick <-chan time.Time
	if w.opts.Fsync == FsyncInterval {
		t := time.NewTicker(w.opts.FsyncInterval)
		defer t.Stop()
		tick = t.C
	}
	var cpTick <-chan time.Time
	if w.opts.Signer != nil {
		t := time.NewTicker(w.opts.CheckpointInterval)
		defer t.Stop()
		cpTick = t.C
	}
	for {
		select {
		case r := <-w.reqs:
			group, size := []*request{r}, bodiesSize(r.bodies)
		drain:
			for size < maxGroupBytes {
				select {
				case r := <-w.reqs:
					group = append(group, r)
					size += bodiesSize(r.bodies)
				default:
					break drain
				}
			}
			w.writeGroup(group)
		case <-tick:
			w.syncInterval()
		case <-cpTick:
			if w.needCheckpoint() && w.f != nil && !w.dirty {
				if err := w.writeCheckpoint(w.layout.ActiveName()); err != nil {
					w.log.Error("Writing a checkpoint failed; retrying at the next interval", zap.Error(err))
				}
			}
		case <-w.stop:
			w.closeErr = w.finish()
			return
		}
	}
}

// lineOverhead bounds what sealing adds to a body: seq (up to 20 digits),
// prev, hash, hmac and the newline.
const lineOverhead = len(seqOpen) + 20 + len(prevOpen) + hexLen + len(prevClose) + keyedSealLen + 1

// bodiesSize bounds the bytes the bodies take once sealed.
func bodiesSize(bodies [][]byte) int {
	n := 0
	for _, b := range bodies {
		n += len(b) + lineOverhead
	}
	return n
}

func (w *Writer) writeGroup(group []*request) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("archive: not written, the request ended while waiting: %w", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	reply := func(err error) {
		for _, r := range live {
			r.done <- err
		}
	}
	now := w.now()
	est := 0
	for _, r := range live {
		est += bodiesSize(r.bodies)
	}
	if err := w.prepare(now, int64(est)); err != nil {
		reply(err)
		return
	}
	if err := w.writePending(); err != nil {
		reply(err)
		return
	}
	buf, seq, prev := w.buf[:0], w.seq, w.prev
	checked := true
	// The lines' hints for a tap (nil entries for lines without one), or
	// none at all.
	hints := w.hints[:0]
	hinted := false
	for _, r := range live {
		checked = checked && r.checked
		hinted = hinted || r.hints != nil
	}
	for _, r := range live {
		for i, body := range r.bodies {
			seq++
			buf, prev = w.sealer.seal(buf, seq, prev, body)
			buf = append(buf, '\n')
			if hinted {
				var h *IndexHint
				if r.hints != nil {
					h = r.hints[i]
				}
				hints = append(hints, h)
			}
		}
	}
	// A checkpoint due by count goes in the same write (and fsync).
	var cp *pendingCheckpoint
	if w.opts.Signer != nil && seq-w.cpAt >= uint64(w.opts.CheckpointLines) {
		c := w.newCheckpoint(w.layout.ActiveName(), seq, prev, now)
		buf, c.sum = w.sealer.seal(buf, seq+1, prev, c.body)
		buf = append(buf, '\n')
		seq, prev, cp = seq+1, c.sum, &c
		if hinted {
			hints = append(hints, nil)
		}
	}
	// A checkpoint is made durable before it is handed on (to the SIEM):
	// one lost in a power failure would make the archive look cut.
	err := w.appendLines(buf, w.opts.Fsync == FsyncBatch || cp != nil, checked, hints)
	if cap(buf) <= maxGroupBytes {
		w.buf = buf[:0]
	}
	clear(hints) // keep no batch's hints alive here
	w.hints = hints[:0]
	if err != nil {
		reply(err)
		return
	}
	w.seq, w.prev = seq, prev
	if cp != nil {
		w.committed(cp)
	}
	if w.day == "" {
		w.day = dayOf(now)
	}
	if w.opts.Fsync == FsyncBatch || cp != nil {
		w.updateHead()
	}
	reply(nil)
}

// appendLines writes whole lines with one write. On any failure the file is
// cut back to its last whole line, so no partial line stays visible, and the
// error (ENOSPC, EIO, ...) is returned for the caller to retry.
func (w *Writer) appendLines(buf []byte, durable, checked bool, hints []*IndexHint) error {
	if w.hookBeforeWrite != nil {
		w.hookBeforeWrite()
	}
	subs := w.taps()
	for _, t := range subs {
		t.writing(w.fdev, w.fino, w.size, len(buf))
	}
	n, err := w.f.Write(buf)
	if err == nil && durable {
		err = w.f.Sync()
	}
	if err != nil {
		w.undo()
		for _, t := range subs {
			t.failed(w.size, true)
		}
		return fmt.Errorf("archive: writing %s: %w", w.layout.ActiveName(), err)
	}
	if len(subs) > 0 {
		w.publish(subs, buf, n, durable, checked, hints)
	}
	w.size += int64(n)
	w.unsynced = !durable
	return nil
}

// Tapped reports whether a reader in this process has a Tap open on this
// archive now (an encoder may skip its hints when none has). Safe to call
// from any goroutine.
func (w *Writer) Tapped() bool { return len(subscribers(w.tapKey)) > 0 }

// taps returns the taps on this archive that take this writer's lines.
func (w *Writer) taps() []*Tap {
	if w.tapUntrusted || w.fino == 0 {
		return nil
	}
	subs := subscribers(w.tapKey)
	if len(subs) == 0 {
		return nil
	}
	out := subs[:0:0]
	for _, t := range subs {
		if t.accepts(w.tapFP, w.tapKeyed) {
			out = append(out, t)
		}
	}
	return out
}

// publish hands a write that succeeded to the taps. The file was opened
// with O_APPEND, so the write landed at the file's end: at w.size unless
// something else appended to the file behind the writer's back. Then the
// writer's offsets are wrong, and it publishes nothing more into this file
// (readers read it).
//
// hints, when given, are the lines' (one per line of buf).
func (w *Writer) publish(subs []*Tap, buf []byte, n int, durable, checked bool, hints []*IndexHint) {
	pos, err := w.f.Seek(0, io.SeekCurrent)
	if err != nil || pos != w.size+int64(n) {
		w.tapUntrusted = true
		w.log.Warn("The archive file holds bytes this writer did not write; readers in this process read it from the file",
			zap.String("file", w.layout.ActivePath()), zap.Int64("expected_end", w.size+int64(n)), zap.Int64("end", pos))
		for _, t := range subs {
			t.failed(w.size, false)
		}
		return
	}
	c := tapChunk{dev: w.fdev, ino: w.fino, off: w.size, data: bytes.Clone(buf[:n]), checked: checked, durable: durable, at: time.Now().UnixNano()}
	if n == len(buf) && len(hints) > 0 {
		c.hints = slices.Clone(hints)
	}
	for _, t := range subs {
		t.wrote(c)
	}
}

// tapSynced tells the taps that everything written to the active file is
// durable.
func (w *Writer) tapSynced() {
	for _, t := range w.taps() {
		t.synced(w.fdev, w.fino, w.size)
	}
}

// setFile makes f the file written to.
func (w *Writer) setFile(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	w.f, w.size, w.dirty = f, st.Size(), false
	w.fdev, w.fino = fileID(st)
	w.tapUntrusted = false
	// Lines a tap still holds under this file's device and inode are of
	// an earlier file that had them (an inode freed by compression or
	// retention and reused), or of this file before it was reopened.
	for _, t := range w.taps() {
		t.opened(w.fdev, w.fino)
	}
	return nil
}

// undo cuts the active file back to its last whole line.
func (w *Writer) undo() {
	if err := w.f.Truncate(w.size); err != nil {
		w.dirty = true
		w.log.Error("Cutting a failed write back out of the archive failed; retrying before the next write",
			zap.String("file", w.layout.ActivePath()), zap.Error(err))
		return
	}
	w.dirty = false
}

// prepare makes the active file ready for about est more bytes: open,
// free of a failed write's leftovers, and rotated when due.
func (w *Writer) prepare(now time.Time, est int64) error {
	if w.f == nil {
		f, err := openAppend(w.layout.ActivePath(), w.opts.FileMode)
		if err != nil {
			return fmt.Errorf("archive: opening %s: %w", w.layout.ActivePath(), err)
		}
		if err := w.setFile(f); err != nil {
			f.Close()
			return err
		}
		if err := syncDir(w.layout.Dir); err != nil {
			w.log.Warn("Syncing the archive directory failed", zap.Error(err))
		}
	}
	if w.dirty {
		if err := w.f.Truncate(w.size); err != nil {
			return fmt.Errorf("archive: cutting a failed write out of %s: %w", w.layout.ActiveName(), err)
		}
		w.dirty = false
	}
	if w.size == 0 {
		return nil
	}
	if (w.opts.Daily && w.day != dayOf(now)) || (w.opts.MaxSize > 0 && w.size+est > w.opts.MaxSize) {
		return w.rotate(now)
	}
	return nil
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// rotate renames the active file to its rotated name, starts a new one,
// and hands the old one to compression and retention.
func (w *Writer) rotate(now time.Time) error {
	if w.unsynced {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("archive: syncing %s before rotation: %w", w.layout.ActiveName(), err)
		}
		w.unsynced = false
		w.tapSynced()
	}
	t := now.UTC()
	if !t.After(w.lastRotated) {
		t = w.lastRotated.Add(time.Nanosecond)
	}
	name := w.layout.RotatedName(t)
	if err := os.Rename(w.layout.ActivePath(), filepath.Join(w.layout.Dir, name)); err != nil {
		// Keep writing to the same file; rotation is retried at the next write.
		w.log.Error("Rotating the archive file failed; writing on to it", zap.Error(err))
		return nil
	}
	// The open file is now the rotated one: a checkpoint naming it closes it.
	if w.needCheckpoint() {
		if err := w.writeCheckpoint(name); err != nil {
			w.log.Error("Writing the checkpoint that closes a rotated file failed; the next checkpoint covers its lines", zap.String("rotated", name), zap.Error(err))
		}
	}
	if err := w.f.Close(); err != nil {
		w.log.Warn("Closing the archive file after rotation failed", zap.Error(err))
	}
	w.f = nil
	w.lastRotated, w.size, w.day = t, 0, ""
	f, err := openAppend(w.layout.ActivePath(), w.opts.FileMode)
	if err != nil {
		return fmt.Errorf("archive: creating %s after rotation: %w", w.layout.ActivePath(), err)
	}
	if err := w.setFile(f); err != nil {
		f.Close()
		return fmt.Errorf("archive: opening %s after rotation: %w", w.layout.ActivePath(), err)
	}
	if err := syncDir(w.layout.Dir); err != nil {
		w.log.Warn("Syncing the archive directory failed", zap.Error(err))
	}
	w.log.Info("Rotated the archive file", zap.String("rotated", name))
	if w.opts.Compress {
		w.maint.add(task{compress: name})
	}
	w.applyRetention(now)
	return nil
}

// applyRetention picks the rotated files retention removes (always the
// oldest), records them in a retention marker that also names the file that
// becomes the oldest, and only when that marker is durable lets the
// maintainer remove them. Verify uses the marker to accept that the archive
// then starts mid-chain.
func (w *Writer) applyRetention(now time.Time) {
	if w.opts.MaxBackups <= 0 && w.opts.MaxAge <= 0 {
		return
	}
	files, err := w.layout.Files()
	if err != nil {
		w.log.Error("Listing the archive for retention failed", zap.Error(err))
		return
	}
	var rotated []File
	for _, f := range files {
		if !f.Active && !w.removing[stem(f.Name)] {
			rotated = append(rotated, f)
		}
	}
	var remove []File
	for i, f := range rotated {
		tooOld := w.opts.MaxAge > 0 && now.Sub(f.Rotated) > w.opts.MaxAge
		tooMany := w.opts.MaxBackups > 0 && len(rotated)-i > w.opts.MaxBackups
		if !tooOld && !tooMany {
			break
		}
		remove = append(remove, f)
	}
	if len(remove) == 0 {
		return
	}
	startOf := func(f File) (map[string]any, error) {
		s, err := firstSeal(f)
		if err != nil {
			return nil, fmt.Errorf("reading the first line of %s: %w", f.Name, err)
		}
		return map[string]any{"file": stem(f.Name), "first_seq": s.Seq, "first_prev": s.PrevHex()}, nil
	}
	removed := make([]any, 0, len(remove))
	names := make([]string, 0, len(remove))
	for _, f := range remove {
		start, err := startOf(f)
		if err != nil {
			w.log.Error("Retention postponed: a file to remove cannot be read", zap.Error(err))
			return
		}
		removed = append(removed, start)
		names = append(names, stem(f.Name))
	}
	var next map[string]any
	if len(remove) < len(rotated) {
		if next, err = startOf(rotated[len(remove)]); err != nil {
			w.log.Error("Retention postponed: the file that would become the oldest cannot be read", zap.Error(err))
			return
		}
	} else if w.size > 0 {
		if next, err = startOf(File{Name: w.layout.ActiveName(), Path: w.layout.ActivePath(), Active: true}); err != nil {
			w.log.Error("Retention postponed: the active file cannot be read", zap.Error(err))
			return
		}
	} else { // the marker itself becomes the oldest line
		next = map[string]any{"file": w.layout.ActiveName(), "first_seq": w.seq + 1, "first_prev": hex.EncodeToString(w.prev[:])}
	}
	if err := w.writeMarker(MarkerRetention, map[string]any{"removed": removed, "next": next}); err != nil {
		w.log.Error("Retention postponed: recording it in the archive failed", zap.Error(err))
		return
	}
	for _, n := range names {
		w.removing[n] = true
	}
	w.maint.add(task{remove: names})
	w.log.Info("Removing rotated archive files by retention", zap.Strings("files", names))
}

func stem(name string) string { return strings.TrimSuffix(name, gzipSuffix) }

// writeMarker appends one durable marker line, without rotation.
func (w *Writer) writeMarker(kind string, detail map[string]any) error {
	if w.f == nil {
		if err := w.prepare(w.now(), 0); err != nil {
			return err
		}
	}
	line, sum := w.sealer.seal(nil, w.seq+1, w.prev, appendMarkerBody(nil, kind, w.now(), detail))
	if err := w.appendLines(append(line, '\n'), true, true, nil); err != nil {
		return err
	}
	w.seq, w.prev, w.unsynced = w.seq+1, sum, false
	if w.day == "" {
		w.day = dayOf(w.now())
	}
	w.updateHead()
	return nil
}

// pendingCheckpoint is a checkpoint sealed into a write not yet made.
type pendingCheckpoint struct {
	cp    Checkpoint
	token string
	body  []byte
	seq   uint64 // its line's
	sum   [sha256.Size]byte
}

// needCheckpoint: signing, and lines were written after the last
// checkpoint's own line.
func (w *Writer) needCheckpoint() bool {
	return w.opts.Signer != nil && w.seq > w.cpAt
}

// newCheckpoint signs a checkpoint covering the chain up to line seq with
// hash head, and builds its marker body (the line itself is seq+1).
func (w *Writer) newCheckpoint(file string, seq uint64, head [sha256.Size]byte, now time.Time) pendingCheckpoint {
	prev := w.cpHash
	if prev == "" {
		prev = GenesisPrev
	}
	c := Checkpoint{File: file, FirstSeq: w.cpLastSeq + 1, LastSeq: seq, Head: hex.EncodeToString(head[:]), Prev: prev, Time: now.UTC()}
	w.opts.Signer.Sign(&c)
	tok := c.Token()
	return pendingCheckpoint{cp: c, token: tok, seq: seq + 1,
		body: appendMarkerBody(nil, MarkerCheckpoint, now, map[string]any{"checkpoint": tok})}
}

// committed records a checkpoint whose line is written.
func (w *Writer) committed(p *pendingCheckpoint) {
	w.cpToken, w.cpHash, w.cpLastSeq, w.cpAt = p.token, p.cp.Hash(), p.cp.LastSeq, p.seq
	if w.opts.OnCheckpoint != nil {
		w.opts.OnCheckpoint(p.cp, p.token)
	}
}

// writeCheckpoint appends one durable checkpoint line naming file.
func (w *Writer) writeCheckpoint(file string) error {
	now := w.now()
	p := w.newCheckpoint(file, w.seq, w.prev, now)
	line, sum := w.sealer.seal(nil, p.seq, w.prev, p.body)
	if err := w.appendLines(append(line, '\n'), true, true, nil); err != nil {
		return err
	}
	w.seq, w.prev, w.unsynced = p.seq, sum, false
	if w.day == "" {
		w.day = dayOf(now)
	}
	w.committed(&p)
	w.updateHead()
	return nil
}

// LastCheckpoint is the token of the newest checkpoint the writer found in
// the archive when it opened it ("" when none): the exporter sends it to
// the SIEM again, since the one written at the last shutdown may not have
// left the host.
func (w *Writer) LastCheckpoint() string { return w.startCP }

// updateHead records the last line in the head file. Failures are logged
// (once until it works again): the lines themselves are safe.
func (w *Writer) updateHead() {
	h := Head{Seq: w.seq, Hash: hex.EncodeToString(w.prev[:]), File: w.layout.ActiveName(), Written: w.now().UTC(), Checkpoint: w.cpToken}
	if w.opts.Signer != nil {
		w.opts.Signer.signHead(&h)
	}
	err := writeHead(w.layout.HeadPath(), h, w.sealer, w.opts.FileMode)
	switch {
	case err != nil && !w.headFailing:
		w.headFailing = true
		w.log.Error("Updating the archive head failed; a cut tail cannot be detected until it works again", zap.Error(err))
	case err == nil && w.headFailing:
		w.headFailing = false
		w.log.Info("Updating the archive head works again")
	}
}

func (w *Writer) syncInterval() {
	if !w.unsynced || w.f == nil {
		return
	}
	if err := w.f.Sync(); err != nil {
		w.log.Error("Syncing the archive failed; lines written since the last sync may not be durable", zap.Error(err))
		return
	}
	w.unsynced = false
	w.tapSynced()
	w.updateHead()
}

func (w *Writer) finish() error {
	var errs []error
	if w.f != nil && !w.dirty && w.needCheckpoint() {
		if err := w.writeCheckpoint(w.layout.ActiveName()); err != nil {
			errs = append(errs, fmt.Errorf("writing the shutdown checkpoint: %w", err))
		}
	}
	if w.f != nil {
		if w.unsynced {
			if err := w.f.Sync(); err != nil {
				errs = append(errs, err)
			} else {
				w.tapSynced()
			}
		}
		if !w.dirty {
			w.updateHead()
		}
		if err := w.f.Close(); err != nil {
			errs = append(errs, err)
		}
		w.f = nil
	}
	// Nothing more comes from this writer: readers read whatever the taps
	// were still waiting for.
	for _, t := range w.taps() {
		t.failed(w.size, false)
	}
	w.maint.close()
	return errors.Join(errs...)
}

// startMaintenance queues what a previous run left undone: compressing
// rotated files, and retention (its settings may have changed).
func (w *Writer) startMaintenance() {
	if w.opts.Compress {
		if files, err := w.layout.Files(); err == nil {
			for _, f := range files {
				if !f.Active && !f.Compressed {
					w.maint.add(task{compress: f.Name})
				}
			}
		}
	}
	w.applyRetention(w.now())
}

// recover opens the active file and restores the chain state.
func (w *Writer) recover() error {
	if err := ensureDir(w.layout.Dir, w.opts.DirMode); err != nil {
		return err
	}
	w.removeTemps()
	f, err := openAppend(w.layout.ActivePath(), w.opts.FileMode)
	if err != nil {
		return err
	}
	if err := w.setFile(f); err != nil {
		w.f = f
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	// The active file may be new: make its directory entry durable.
	if err := syncDir(w.layout.Dir); err != nil {
		w.log.Warn("Syncing the archive directory failed", zap.Error(err))
	}
	if w.size > 0 {
		w.day = dayOf(st.ModTime())
	}

	var markers []marker
	if w.size > 0 {
		partial, err := w.cutPartialLine()
		if err != nil {
			return err
		}
		if partial != nil {
			markers = append(markers, marker{MarkerPartialLineRemoved, partial})
		}
	}

	files, err := w.layout.Files()
	if err != nil {
		return err
	}
	for _, fl := range files {
		if !fl.Active && fl.Rotated.After(w.lastRotated) {
			w.lastRotated = fl.Rotated
		}
	}
	w.seq, w.prev = 0, [sha256.Size]byte{}
	if s, ok := w.findTail(files); ok {
		w.seq, w.prev = s.Seq, s.Hash
	}

	head, herr := ReadHead(w.layout.HeadPath())
	if herr == nil && len(w.opts.HMACKey) > 0 && !checkHeadMAC(head, w.opts.HMACKey) {
		herr = errors.New("its HMAC does not match")
	}
	switch {
	case herr != nil && w.seq == 0 && errors.Is(herr, fs.ErrNotExist):
		// A new archive.
	case herr != nil:
		w.log.Error("The archive's head is missing or unreadable: a cut tail cannot be ruled out; recording this in the archive",
			zap.String("head", w.layout.HeadPath()), zap.Error(herr))
		markers = append(markers, marker{MarkerHeadUnreadable, map[string]any{"last_seq": w.seq, "error": herr.Error()}})
	case head.Seq > w.seq:
		w.log.Error("The archive ends before the line its head records: lines were removed from its end; recording this and continuing after the head's line",
			zap.Uint64("last_seq", w.seq), zap.Uint64("head_seq", head.Seq))
		markers = append(markers, marker{MarkerTailMissing, map[string]any{"head_seq": head.Seq, "head_hash": head.Hash, "last_seq": w.seq}})
		prev, _ := hex.DecodeString(head.Hash)
		w.seq = head.Seq
		copy(w.prev[:], prev)
	case head.Seq == w.seq && head.Hash != hex.EncodeToString(w.prev[:]):
		w.log.Error("The archive's last line has another hash than its head records: the archive was changed; recording this in the archive",
			zap.Uint64("seq", head.Seq))
		markers = append(markers, marker{MarkerHeadMismatch, map[string]any{"head_seq": head.Seq, "head_hash": head.Hash, "line_hash": hex.EncodeToString(w.prev[:])}})
	}
	w.findCheckpoint(head, herr, files)
	w.pending = markers
	if err := w.writePending(); err != nil {
		// A full disk must not stop the collector: the markers go in
		// before the next batch.
		w.log.Error("Recording what recovery found failed; retrying before the next write", zap.Error(err))
	}
	w.updateHead()
	return nil
}

// writePending writes the markers recovery could not write yet.
func (w *Writer) writePending() error {
	for len(w.pending) > 0 {
		m := w.pending[0]
		if err := w.writeMarker(m.kind, m.detail); err != nil {
			return fmt.Errorf("recording %s: %w", m.kind, err)
		}
		w.pending = w.pending[1:]
	}
	return nil
}

// cutPartialLine removes a partial last line (the active file does not end
// in a newline), saving its bytes beside the archive as evidence.
func (w *Writer) cutPartialLine() (map[string]any, error) {
	last := make([]byte, 1)
	if _, err := w.f.ReadAt(last, w.size-1); err != nil {
		return nil, err
	}
	if last[0] == '\n' {
		return nil, nil
	}
	cut, err := lineStart(w.f, w.size)
	if err != nil {
		return nil, err
	}
	partial := make([]byte, w.size-cut)
	if _, err := w.f.ReadAt(partial, cut); err != nil {
		return nil, err
	}
	saved := w.layout.partialName(w.now())
	detail := map[string]any{"file": w.layout.ActiveName(), "offset": cut, "length": len(partial), "saved_as": saved}
	if err := writeFileDurably(filepath.Join(w.layout.Dir, saved), partial, w.opts.FileMode); err != nil {
		// The partial line was never acknowledged, so cutting it loses no
		// event; only the copy kept as evidence is missing.
		w.log.Error("Saving the partial last line failed; cutting it anyway", zap.Error(err))
		os.Remove(filepath.Join(w.layout.Dir, saved))
		detail["saved_as"], detail["save_error"] = "", err.Error()
	}
	if err := w.f.Truncate(cut); err != nil {
		return nil, err
	}
	if err := w.f.Sync(); err != nil {
		return nil, err
	}
	w.log.Warn("The archive ended in a partial line (a crash mid-write); cut it away and saved it",
		zap.String("file", w.layout.ActivePath()), zap.Int64("offset", cut), zap.Int("length", len(partial)), zap.String("saved_as", saved))
	w.size = cut
	return detail, nil
}

// findTail returns the chain fields of the archive's last line: the active
// file's last line, or else the newest file's that has one.
func (w *Writer) findTail(files []File) (Seal, bool) {
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		if f.Active {
			if w.size == 0 {
				continue
			}
			if line, err := lastLine(w.f, w.size); err == nil {
				if s, err := parseSeal(line); err == nil {
					return s, true
				}
			}
			w.log.Error("The archive's last line is not an archive line (changed or damaged); continuing the chain from the last line that is",
				zap.String("file", f.Path))
		}
		s, ok, err := lastSealIn(f)
		if err != nil {
			w.log.Error("Reading an archive file at start failed", zap.String("file", f.Path), zap.Error(err))
		}
		if ok {
			return s, true
		}
	}
	return Seal{}, false
}

// removeTemps removes temporary files a crash left behind.
func (w *Writer) removeTemps() {
	entries, err := os.ReadDir(w.layout.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), tmpSuffix)
		if !ok {
			continue
		}
		_, _, rotated := w.layout.parseRotated(name)
		if rotated || name == filepath.Base(w.layout.HeadPath()) {
			os.Remove(filepath.Join(w.layout.Dir, e.Name()))
		}
	}
}

func writeFileDurably(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The file's name, too: a key pair whose name a power loss took would
	// be made again, and the lines signed with the lost one would no
	// longer verify.
	return syncDir(filepath.Dir(path))
}

// findCheckpoint restores the checkpoint chain at start: the newest
// checkpoint line in the newest two files (lines after it are at most a
// checkpoint's worth), else the one the head names.
func (w *Writer) findCheckpoint(head Head, herr error, files []File) {
	tok := ""
	if w.opts.Signer != nil {
		tok = w.scanForCheckpoint(files)
	}
	if tok == "" && herr == nil && head.Checkpoint != "" {
		tok = head.Checkpoint
	}
	if tok == "" {
		return
	}
	c, err := ParseToken(tok)
	if err != nil || c.LastSeq >= w.seq {
		w.log.Warn("The archive's last checkpoint is unusable; the next checkpoint starts a new chain", zap.Error(err))
		return
	}
	w.cpToken, w.cpHash, w.cpLastSeq, w.cpAt, w.startCP = tok, c.Hash(), c.LastSeq, c.LastSeq+1, tok
}

// scanForCheckpoint reads the newest two files backward for the newest
// checkpoint line.
func (w *Writer) scanForCheckpoint(files []File) string {
	if len(files) > 2 {
		files = files[len(files)-2:]
	}
	keep := map[string]bool{}
	for _, f := range files {
		keep[f.Name] = true
	}
	a := &Archive{Layout: w.layout}
	for e, err := range a.EntriesBackward() {
		if err != nil || !keep[e.File] {
			return ""
		}
		if e.Status != StatusOK && e.Status != StatusUnlinked || !e.IsMarker() {
			continue
		}
		ev, err := e.Decode()
		if err != nil || ev.Marker != MarkerCheckpoint {
			continue
		}
		if tok, _ := ev.Detail["checkpoint"].(string); tok != "" {
			return tok
		}
	}
	return ""
}
