package auditquery

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
)

// Options configure an Index.
type Options struct {
	// HMACKey makes the index check every line's HMAC, as `auditctl verify`
	// does with a key.
	HMACKey []byte
	// Workers bounds how many rotated files are indexed at once (default
	// GOMAXPROCS).
	Workers int
	// RecheckActive, when positive, reads the whole active file again (not
	// only what was appended) when it was last read in full longer ago than
	// this, so a line changed in place is found even when the file also
	// grew. Rotated files are read again whenever their size or
	// modification time changes.
	RecheckActive time.Duration
	// MemoryLimit, when positive, bounds the index's memory in bytes: the
	// active file and the newest rotated files that fit are indexed, older
	// ones are left out (and counted in Stats.ExcludedFiles). An index
	// takes about a tenth of the size of the JSON lines it covers.
	MemoryLimit int64
}

// Index answers queries over one archive. It is safe for concurrent use:
// Refresh calls are serialized, and queries run on immutable snapshots.
type Index struct {
	arch     *archive.Archive
	seed     maphash.Seed
	workers  int
	recheck  time.Duration
	memLimit int64

	mu     sync.Mutex // serializes Refresh; guards the fields below
	segs   map[string]*segment
	active *segment

	snap atomic.Pointer[Snapshot]
}

// Open finds the archive at path (the exporter's `path`, or its directory)
// and returns an empty index over it: the first Refresh builds it.
func Open(path string, opts Options) (*Index, error) {
	a, err := archive.Open(path)
	if err != nil {
		return nil, err
	}
	if len(opts.HMACKey) > 0 {
		a.SetHMACKey(opts.HMACKey)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	ix := &Index{arch: a, seed: maphash.MakeSeed(), workers: opts.Workers, recheck: opts.RecheckActive, memLimit: opts.MemoryLimit, segs: map[string]*segment{}}
	ix.snap.Store(&Snapshot{seed: ix.seed})
	return ix, nil
}

// Layout is the archive's layout.
func (ix *Index) Layout() archive.Layout { return ix.arch.Layout }

// Snapshot returns the last refreshed state without reading anything.
func (ix *Index) Snapshot() *Snapshot { return ix.snap.Load() }

// Stats describe a snapshot.
type Stats struct {
	Files    int `json:"files"`
	Lines    int `json:"lines"`
	Events   int `json:"events"`
	Markers  int `json:"markers"`
	Problems int `json:"problems"` // lines whose integrity check failed, and writer alarms
	// IndexBytes estimates the index's memory.
	IndexBytes int `json:"index_bytes"`
	// Refreshed is when the snapshot was taken; RefreshTook how long it took
	// to bring the index up to date then.
	Refreshed   time.Time     `json:"refreshed"`
	RefreshTook time.Duration `json:"refresh_took_ns"`
	// ExcludedFiles counts the oldest rotated files left out of the index
	// by Options.MemoryLimit.
	ExcludedFiles int `json:"excluded_files,omitempty"`
	// LinesRead: lines the last refresh of a disk index read from the
	// archive (0 when nothing was new).
	LinesRead int `json:"lines_read"`
	// Indexing: a refresh of the disk index is running (a first build
	// shows its progress: what is committed is searchable).
	Indexing bool `json:"indexing,omitempty"`
	// Warnings: files that could not be read completely just now, files
	// left out by the memory limit.
	Warnings []string `json:"warnings,omitempty"`
}

// Snapshot is an immutable view of the index.
type Snapshot struct {
	segs []*segment
	// link holds, per segment, the status of its first sealed line once
	// checked against the previous file's last line.
	link []linkFix
	seed maphash.Seed
	arch *archive.Archive
	Stats
}

type linkFix struct {
	set    bool
	status archive.Status
	err    string
}

// Refresh brings the index up to date with the archive's files: new and
// changed rotated files are indexed (in parallel), removed ones dropped,
// and the active file's new lines read. It returns the new snapshot.
func (ix *Index) Refresh(ctx context.Context) (*Snapshot, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	start := time.Now()
	// The writer may rotate while the files are read: the file it rotated
	// was not listed, and the new active file would seem to follow a gap.
	// Reading again then costs little (only what changed is read).
	for attempt := 1; ; attempt++ {
		files, err := ix.arch.Files()
		if err != nil {
			return nil, err
		}
		snap, err := ix.refresh(ctx, files, start)
		if err != nil {
			return nil, err
		}
		after, err := ix.arch.Files()
		if err != nil {
			return nil, err
		}
		same := sameRotated(files, after)
		if same || attempt == 3 {
			if !same {
				snap.deferActiveLink()
			}
			ix.snap.Store(snap)
			return snap, nil
		}
	}
}

// deferActiveLink drops the check of the active file's first line against
// the last rotated file read, when the writer kept rotating during the
// refresh: the files between them were rotated after they were listed.
// The next refresh checks it.
func (sn *Snapshot) deferActiveLink() {
	k := len(sn.segs) - 1
	if k < 0 || !sn.segs[k].active || !sn.link[k].set {
		return
	}
	sn.link[k] = linkFix{}
	sn.Problems--
	sn.Warnings = append(sn.Warnings, "the archive was rotated while it was read; the active file's link to the files before it is checked at the next refresh")
}

// sameRotated reports whether two listings hold the same rotated files,
// counting a file and its gzipped copy as one.
func sameRotated(a, b []archive.File) bool {
	stems := func(files []archive.File) []string {
		var out []string
		for _, f := range files {
			if !f.Active {
				out = append(out, strings.TrimSuffix(f.Name, ".gz"))
			}
		}
		return out
	}
	return slices.Equal(stems(a), stems(b))
}

func (ix *Index) refresh(ctx context.Context, files []archive.File, start time.Time) (*Snapshot, error) {
	var warnings []string
	next := map[string]*segment{}
	var order []string // stems in archive order
	type job struct {
		f    archive.File
		info os.FileInfo
	}
	var jobs []job
	var activeSeg *segment
	promoted := false
	cut := ix.budgetCut(files)
	for i, f := range files {
		if f.Active || i < cut {
			continue
		}
		f, info, ok := statFile(f)
		if !ok {
			continue // removed by retention since it was listed
		}
		stem := strings.TrimSuffix(f.Name, ".gz")
		order = append(order, stem)
		if seg := ix.segs[stem]; seg != nil && unchanged(seg, f, info) {
			if seg.file != f {
				// Compressed since it was indexed: same lines, new file.
				c := *seg
				c.file, c.info = f, info
				seg = &c
			}
			next[stem] = seg
			continue
		}
		if a := ix.active; a != nil && !f.Compressed && os.SameFile(a.info, info) && a.tailIntact(f.Path, ix.seed) {
			// The writer rotated the file we were reading: finish it.
			seg := a.clone()
			seg.file, seg.info, seg.stem = f, info, stem
			if err := ix.read(ctx, seg, true); err != nil {
				return nil, err
			}
			seg.seal()
			next[stem] = seg
			promoted = true
			continue
		}
		jobs = append(jobs, job{f, info})
	}

	// Index new rotated files in parallel.
	built := make([]*segment, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, ix.workers)
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			seg := newSegment(j.f, j.info)
			if err := ix.read(ctx, seg, true); err != nil {
				errs[i] = err
				return
			}
			seg.seal()
			built[i] = seg
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, seg := range built {
		if gone(seg) {
			removeStem(&order, seg.stem)
			continue
		}
		next[seg.stem] = seg
	}

	// The active file: continue where the last refresh stopped, unless it
	// was replaced or cut.
	if len(files) > 0 && files[len(files)-1].Active {
		f := files[len(files)-1]
		if info, err := os.Stat(f.Path); err == nil {
			a := ix.active
			same := a != nil && !promoted && os.SameFile(a.info, info) &&
				(ix.recheck <= 0 || time.Since(a.checked) < ix.recheck)
			switch {
			case same && info.Size() == a.end && info.ModTime().Equal(a.info.ModTime()) && a.tailIntact(f.Path, ix.seed):
				activeSeg = a // nothing new
			case same && info.Size() > a.end && a.tailIntact(f.Path, ix.seed):
				// The writer only appends: read what it appended.
				seg := a.clone()
				seg.info = info
				if err := ix.read(ctx, seg, false); err != nil {
					return nil, err
				}
				activeSeg = seg
			default:
				// New, replaced, cut, changed in place, or due for a full
				// check: read it all again.
				seg := newSegment(f, info)
				seg.checked = time.Now()
				if err := ix.read(ctx, seg, false); err != nil {
					return nil, err
				}
				activeSeg = seg
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			warnings = append(warnings, err.Error())
		}
	}
	if ix.memLimit > 0 {
		// Estimates were made before building: keep within the limit by
		// leaving out the oldest files built beyond it.
		total := 0
		for _, seg := range next {
			total += seg.memory()
		}
		if activeSeg != nil {
			total += activeSeg.memory()
		}
		for len(order) > 0 && int64(total) > ix.memLimit {
			if seg := next[order[0]]; seg != nil {
				total -= seg.memory()
				delete(next, order[0])
			}
			order = order[1:]
			cut++
		}
	}
	ix.segs, ix.active = next, activeSeg

	snap := &Snapshot{seed: ix.seed, arch: ix.arch}
	for _, stem := range order {
		if seg := next[stem]; seg != nil {
			snap.segs = append(snap.segs, seg)
		}
	}
	if activeSeg != nil {
		snap.segs = append(snap.segs, activeSeg)
	}
	snap.link = make([]linkFix, len(snap.segs))
	var pred *archive.Seal
	for i, seg := range snap.segs {
		if seg.firstSeal >= 0 && pred != nil {
			e := seg.first
			archive.Link(&e, pred)
			if e.Status != seg.first.Status {
				snap.link[i] = linkFix{set: true, status: e.Status, err: errText(&e)}
				snap.Problems++
			}
		}
		if seg.last != nil {
			pred = seg.last
		}
		snap.Files++
		snap.Lines += seg.rows()
		snap.Problems += seg.problems
		snap.IndexBytes += seg.memory()
		for _, k := range seg.kind {
			if k == kindMarker {
				snap.Markers++
			}
		}
		for _, w := range seg.warnings() {
			warnings = append(warnings, w)
		}
	}
	snap.Events = snap.Lines - snap.Markers
	snap.Refreshed = time.Now()
	snap.RefreshTook = time.Since(start)
	if cut > 0 {
		warnings = append(warnings, fmt.Sprintf("the %d oldest rotated files are not indexed: the index is limited to %d MiB", cut, ix.memLimit>>20))
	}
	snap.Warnings = warnings
	snap.ExcludedFiles = cut
	return snap, nil
}

// indexPerLineByte estimates the index's size from the size of the lines it
// covers (measured: 0.09, see the README).
const indexPerLineByte = 0.1

// budgetCut returns how many of the oldest rotated files to leave out so
// that the index fits in the memory limit, by estimate. The active file is
// always indexed; rotated files are taken newest first while they fit.
func (ix *Index) budgetCut(files []archive.File) (cut int) {
	if ix.memLimit <= 0 {
		return 0
	}
	// The ratio measured on what is indexed, so that estimates match what
	// building costs and a file left out is not built again at the next
	// refresh only to be dropped.
	ratio := indexPerLineByte
	var mem, lines int64
	for _, seg := range ix.segs {
		mem, lines = mem+int64(seg.memory()), lines+seg.end
	}
	if ix.active != nil {
		mem, lines = mem+int64(ix.active.memory()), lines+ix.active.end
	}
	if lines > 1<<20 {
		ratio = float64(mem) / float64(lines)
	}
	var used int64
	cut = -1
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		size := lineBytes(f)
		est := int64(float64(size) * ratio)
		if seg := ix.segs[strings.TrimSuffix(f.Name, ".gz")]; seg != nil {
			est = int64(seg.memory())
		} else if f.Active && ix.active != nil {
			est = int64(ix.active.memory())
		}
		if used+est > ix.memLimit && !f.Active && cut < 0 {
			cut = i + 1
		}
		if cut >= 0 {
			break
		}
		used += est
	}
	return max(cut, 0)
}

// lineBytes is how many bytes of lines a data file holds: its size, or for
// a gzipped file the size gzip records in its trailer (modulo 4 GiB).
func lineBytes(f archive.File) int64 {
	info, err := os.Stat(f.Path)
	if err != nil {
		return 0
	}
	if !f.Compressed || info.Size() < 18 {
		return info.Size()
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return info.Size()
	}
	defer fh.Close()
	var trailer [4]byte
	if _, err := fh.ReadAt(trailer[:], info.Size()-4); err != nil {
		return info.Size()
	}
	n := int64(binary.LittleEndian.Uint32(trailer[:]))
	return max(n, info.Size())
}

// statFile stats a listed rotated file, following it to its .gz when it
// was compressed since it was listed.
func statFile(f archive.File) (archive.File, os.FileInfo, bool) {
	info, err := os.Stat(f.Path)
	if err == nil {
		return f, info, true
	}
	if f.Compressed || !errors.Is(err, fs.ErrNotExist) {
		return f, nil, false
	}
	gz := f
	gz.Name, gz.Path, gz.Compressed = f.Name+".gz", f.Path+".gz", true
	if info, err = os.Stat(gz.Path); err != nil {
		return f, nil, false
	}
	return gz, info, true
}

// unchanged reports whether seg still describes file f.
func unchanged(seg *segment, f archive.File, info os.FileInfo) bool {
	if seg.file.Compressed == f.Compressed {
		return info.Size() == seg.info.Size() && info.ModTime().Equal(seg.info.ModTime())
	}
	// Compression turns a plain rotated file into its .gz, with the same lines.
	return !seg.file.Compressed && f.Compressed
}

// gone reports whether a segment's file vanished while it was read
// (retention): such a file is not part of the archive any more.
func gone(seg *segment) bool {
	if seg.rows() != 1 || archive.Status(seg.status[0]) != archive.StatusUnreadable {
		return false
	}
	_, _, ok := statFile(seg.file)
	return !ok
}

func removeStem(order *[]string, stem string) {
	for i, s := range *order {
		if s == stem {
			*order = append((*order)[:i], (*order)[i+1:]...)
			return
		}
	}
}

// read adds the lines of seg's file from seg.end on. In the active file
// (whole=false) an incomplete last line is a write in progress: it is left
// for the next refresh, as is the rest of a file that cannot be read just
// now.
func (ix *Index) read(ctx context.Context, seg *segment, whole bool) error {
	n := 0
	seg.warning = ""
	var pred *archive.Seal
	if seg.last != nil {
		pred = seg.last
	}
	for e := range ix.arch.FileEntries(seg.file, seg.end, seg.lines, pred) {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if !whole && (e.Status == archive.StatusIncomplete || e.Status == archive.StatusUnreadable) {
			if e.Status == archive.StatusUnreadable {
				seg.warning = e.Err.Error()
			}
			break
		}
		seg.add(&e, ix.seed)
		if e.Status != archive.StatusUnreadable {
			seg.end = e.Offset + int64(len(e.Raw)) + 1
		}
	}
	seg.sortRows()
	return ctx.Err()
}

func (s *segment) warnings() []string {
	if s.warning == "" {
		return nil
	}
	return []string{s.warning}
}

// tailIntact reports whether the last line read from the active file is
// still in the file at path as it was, followed by its newline: the file
// was appended to (or renamed by rotation), not changed before the end it
// was read to. It also tells the same file from a new one that was given
// the same inode number after the old one was removed.
func (s *segment) tailIntact(path string, seed maphash.Seed) bool {
	n := s.rows()
	if n == 0 {
		return s.end == 0
	}
	i := uint32(n - 1)
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, int(s.size[i])+1)
	if _, err := f.ReadAt(buf, s.off[i]); err != nil {
		return false
	}
	return s.off[i]+int64(len(buf)) == s.end && buf[len(buf)-1] == '\n' && s.fingerprintMatches(i, seed, buf[:len(buf)-1])
}
