package auditquery

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
)

// Database is a database the disk index can live in: its Dialect, and how
// to open it. The index is a cache of the archive: reset empties it (for
// SQLite, deletes its files), and the index is rebuilt from the archive.
type Database interface {
	Dialect
	Open(ctx context.Context, reset bool) (*sql.DB, error)
}

// TextCleaner is implemented by a Database whose text type cannot hold
// every valid string (PostgreSQL's cannot hold NUL): the index stores
// CleanText of each text value.
type TextCleaner interface{ CleanText(string) string }

func cleanText(d Dialect, s string) string {
	if c, ok := d.(TextCleaner); ok {
		return c.CleanText(s)
	}
	return s
}

// schemaVersion changes whenever what the index stores changes: an index
// of another version is rebuilt.
const schemaVersion = "4"

// DiskOptions configure a DiskIndex.
type DiskOptions struct {
	// HMACKey makes the index check every line's HMAC. An index built with
	// another key (or none) is rebuilt.
	HMACKey []byte
	// RecheckActive, when positive, reads the whole active file again
	// when it was last read in full longer ago than this, so that a line
	// changed in place is found (see Options.RecheckActive).
	RecheckActive time.Duration
	// PairsAlways reads every filtered page pair by pair (see
	// where.pairs), not only when more than CountLimit rows match: for
	// tests, which cover that path on small archives.
	PairsAlways bool
	// BatchRows is how many lines one transaction adds at most (default
	// 20 000): a long build commits as it goes, so a restart continues it
	// and queries see it grow.
	BatchRows int
	// Collector names this collector in a database that several
	// collectors share (PostgreSQL): each indexes its own archive into
	// it, under its name, and every collector's queries see every
	// collector's rows, each naming the collector and archive it lives
	// in. Empty: the database is this archive's alone (SQLite beside it).
	Collector string
	// HandoffBytes bounds the lines an archive writer in this process
	// (the auditfile exporter's) hands the index directly, so that it need
	// not read back, decompress, hash and check what was just written
	// (see archive.Tap): default 16 MiB; negative: no handoff, read the
	// file. What the handoff misses is read from the file.
	HandoffBytes int
}

// DiskIndex is the archive's index in a database: it follows the archive
// incrementally (Refresh reads only what was appended, rotated, gzipped or
// removed since the last one, and remembers it across restarts) and
// answers queries with SQL. It implements Searcher.
type DiskIndex struct {
	arch *archive.Archive
	db   *sql.DB // written under mu; readers load dbp
	dbp  atomic.Pointer[sql.DB]
	dbx  Database
	opts DiskOptions

	// sem serializes Refresh, rebuilds and Close (a one-slot semaphore,
	// so that a request can wait for it a bounded time); it guards the
	// fields below.
	sem    chan struct{}
	files  map[string]*fileState // rotated files by stem
	active *fileState
	// brokenFlag is set when a query found the database damaged: the next
	// Refresh rebuilds it.
	brokenFlag atomic.Bool
	// reload is set when a refresh failed (a shared database went away
	// mid-transaction): what is in memory may be ahead of what was
	// committed, so the next refresh reads the files' states again.
	reload bool
	// failing is set while refreshes fail (a shared database down): the
	// index is behind the archive, and Stats says so.
	failing atomic.Pointer[refreshFailure]
	// txConns: the connection of each write transaction open for a
	// BulkInserter (*sql.Tx -> *sql.Conn).
	txConns  sync.Map
	indexing atomic.Bool // a refresh is running
	closed   bool
	added    int // rows added by the running refresh

	dict dictCache

	view atomic.Pointer[diskView]

	// lineRows is insertBulk's scratch (the refresh's writing goroutine's).
	lineRows []LineRow
	// spare is a batch written and emptied, for the next refresh's
	// rows: following a growing archive, each refresh would otherwise
	// grow a new batch of thousands of rows.
	spare atomic.Pointer[batch]

	// tap: the lines this process's writer hands over (nil: none).
	tap *archive.Tap
	// handedOver counts the lines taken from the tap (HandedOver).
	handedOver atomic.Int64
}

// diskView is what queries need besides the database, replaced whole at
// each refresh.
type diskView struct {
	files map[int64]*fileRef
	stats Stats
}

// shared reports whether the database is shared by several collectors.
func (ix *DiskIndex) shared() bool { return ix.opts.Collector != "" || ix.arch == nil }

// errReader: an index opened by OpenSharedReader has no archive to read.
var errReader = errors.New("a reader of a shared index has no archive to index")

// OpenSharedReader opens a database that collectors share (see
// DiskOptions.Collector) to query it, as `auditctl query -db` does from
// any machine: every row is another collector's (Line and Export give the
// rows as indexed, not the lines, which are on their collectors'
// machines), and it never writes (Refresh and Rebuild fail).
func OpenSharedReader(ctx context.Context, db Database) (*DiskIndex, error) {
	sdb, err := db.Open(ctx, false)
	if err != nil {
		return nil, err
	}
	ix := &DiskIndex{dbx: db, db: sdb, sem: make(chan struct{}, 1)}
	ix.view.Store(&diskView{files: map[int64]*fileRef{}})
	ix.dict.reset()
	if err := ix.dict.load(ctx, sdb, db); err != nil {
		sdb.Close()
		return nil, err
	}
	ix.dbp.Store(sdb)
	return ix, nil
}

// fileRef is what reading a line back needs.
type fileRef struct {
	id         int64
	stem, name string
	path       string
	compressed bool
	dev, ino   uint64
	// collector and archive name where the file lives; remote: another
	// collector's (in a shared database), not readable here.
	collector, archive string
	remote             bool
}

// fileState is what the index knows about one data file, kept in the
// files table as JSON (portable, and read once at open).
type fileState struct {
	ID         int64  `json:"-"`
	Stem       string `json:"-"`
	Name       string `json:"name"`
	Compressed bool   `json:"compressed,omitempty"`
	Active     bool   `json:"active,omitempty"`
	Done       bool   `json:"done,omitempty"` // a rotated file read to its end
	Dev        uint64 `json:"dev"`
	Ino        uint64 `json:"ino"`
	Size       int64  `json:"size"`  // as last read
	MTime      int64  `json:"mtime"` // ns
	End        int64  `json:"end"`   // offset after the last complete line read
	Lines      int    `json:"lines"`
	// The key of the last row, which the next line may continue.
	LastTime int64  `json:"last_time"`
	LastSeq  uint64 `json:"last_seq"`
	Run      uint32 `json:"run"` // unsealed lines since the last sealed one
	// The last sealed line: the next line must follow it.
	PredSeq  uint64 `json:"pred_seq,omitempty"`
	PredHash string `json:"pred_hash,omitempty"`
	// predHash is PredHash not yet spelled out (predPending): batch.add
	// sets it for each sealed line, and only the last one's text is
	// needed (pred and saveState spell it out).
	predHash    [32]byte
	predPending bool
	// The first sealed line, as read alone (before its link to the file
	// before), and the status its row shows now.
	FirstLine   int    `json:"first_line,omitempty"`
	FirstSeq    uint64 `json:"first_seq,omitempty"`
	FirstPrev   string `json:"first_prev,omitempty"`
	FirstStatus int    `json:"first_status,omitempty"`
	FirstErr    string `json:"first_err,omitempty"`
	ShownStatus int    `json:"shown_status,omitempty"`
	ShownErr    string `json:"shown_err,omitempty"`
	// The last row, to check that the file was only appended to.
	TailOff  int64  `json:"tail_off"`
	TailSize int    `json:"tail_size"`
	TailFP   uint64 `json:"tail_fp"`
	Problems int    `json:"problems"`
	Markers  int    `json:"markers"`
	Warning  string `json:"warning,omitempty"`
	Checked  int64  `json:"checked,omitempty"` // when last read from its start, ns
}

func (st *fileState) ref(dir string) *fileRef {
	return &fileRef{id: st.ID, stem: st.Stem, name: st.Name, path: dir + string(os.PathSeparator) + st.Name,
		compressed: st.Compressed, dev: st.Dev, ino: st.Ino}
}

// metaKey is meta's key k of this index: in a shared database the
// archive and key are each collector's own.
func (ix *DiskIndex) metaKey(k string) string {
	if !ix.shared() || k == "schema" {
		return k
	}
	return k + "@" + ix.opts.Collector
}

// flushPred spells out PredHash.
func (st *fileState) flushPred() {
	if st.predPending {
		st.PredHash, st.predPending = hex.EncodeToString(st.predHash[:]), false
	}
}

func (st *fileState) pred() *archive.Seal {
	st.flushPred()
	if st.PredHash == "" {
		return nil
	}
	s := archive.Seal{Seq: st.PredSeq}
	hex.Decode(s.Hash[:], []byte(st.PredHash))
	return &s
}

func fileID(info os.FileInfo) (dev, ino uint64) {
	if s, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev), uint64(s.Ino) //nolint:unconvert // Dev is int32 on some systems
	}
	return 0, 0
}

func (st *fileState) sameFile(info os.FileInfo) bool {
	dev, ino := fileID(info)
	return ino != 0 && dev == st.Dev && ino == st.Ino
}

func (st *fileState) setInfo(info os.FileInfo) {
	st.Dev, st.Ino = fileID(info)
	st.Size, st.MTime = info.Size(), info.ModTime().UnixNano()
}

// OpenDisk opens (creating or rebuilding when needed) the disk index of the
// archive at path in db. Nothing is read from the archive until Refresh.
func OpenDisk(ctx context.Context, path string, db Database, opts DiskOptions) (*DiskIndex, error) {
	a, err := archive.Open(path)
	if err != nil {
		return nil, err
	}
	if len(opts.HMACKey) > 0 {
		a.SetHMACKey(opts.HMACKey)
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = 20_000
	}
	ix := &DiskIndex{arch: a, dbx: db, opts: opts, sem: make(chan struct{}, 1)}
	ix.view.Store(&diskView{files: map[int64]*fileRef{}})
	if err := ix.open(ctx, false); err != nil {
		if !db.IsCorrupt(err) {
			return nil, err
		}
		// A damaged index is a cache lost: build it again.
		if err := ix.open(ctx, true); err != nil {
			return nil, err
		}
	}
	if opts.HandoffBytes >= 0 {
		ix.tap = archive.SubscribeTap(a.Layout.ActivePath(), archive.TapOptions{MaxBytes: opts.HandoffBytes, HMACKey: opts.HMACKey})
	}
	return ix, nil
}

// Close closes the database.
func (ix *DiskIndex) Close() error {
	ix.sem <- struct{}{}
	defer func() { <-ix.sem }()
	ix.closed = true
	if ix.tap != nil {
		ix.tap.Close()
	}
	if ix.db == nil {
		return nil
	}
	err := ix.db.Close()
	ix.db = nil
	ix.dbp.Store(nil)
	return err
}

// Layout is the archive's layout.
func (ix *DiskIndex) Layout() archive.Layout { return ix.arch.Layout }

// keyID names the HMAC key without revealing it.
func (ix *DiskIndex) keyID() string {
	if len(ix.opts.HMACKey) == 0 {
		return "none"
	}
	sum := sha256.Sum256(append([]byte("auditquery index key "), ix.opts.HMACKey...))
	return hex.EncodeToString(sum[:8])
}

// open opens the database, creates the schema, checks that the index is
// of this archive, version and key (or empties it), and loads the files'
// states and the dictionary. Called with mu held (or before use).
func (ix *DiskIndex) open(ctx context.Context, reset bool) error {
	if ix.db != nil {
		ix.db.Close()
		ix.db = nil
		ix.dbp.Store(nil)
	}
	db, err := ix.dbx.Open(ctx, reset)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		db.Close()
		return err
	}
	for _, s := range ix.dbx.Schema() {
		if _, err := db.ExecContext(ctx, s); err != nil {
			if !reset && !ix.shared() {
				// A file of an older version whose tables differ: it is a
				// cache, start it again.
				db.Close()
				return ix.open(ctx, true)
			}
			return fail(fmt.Errorf("creating the index's schema: %w", err))
		}
	}
	want := map[string]string{
		"schema":              schemaVersion,
		ix.metaKey("archive"): absPath(ix.arch.Layout.ActivePath()),
		ix.metaKey("key"):     ix.keyID(),
	}
	have := map[string]string{}
	rows, err := db.QueryContext(ctx, "SELECT k, v FROM meta")
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return fail(err)
		}
		have[k] = v
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fail(err)
	}
	if v := have["schema"]; v != "" && v != schemaVersion && !reset && !ix.shared() {
		// Tables of another version: a cache, start it again.
		db.Close()
		return ix.open(ctx, true)
	}
	stale := false
	for k, v := range want {
		if k == "archive" {
			// The same archive however it was named (relative to the
			// working directory, through the directory or the file).
			if absPath(have[k]) != v {
				stale = true
			}
		} else if have[k] != v {
			stale = true
		}
	}
	if stale && !reset && len(have) > 0 {
		// Another version, archive or key: start again from an empty
		// database (emptying a large one row by row would take longer
		// than building it).
		db.Close()
		return ix.open(ctx, true)
	}
	if stale {
		// Another version, archive or key: start again (in a shared
		// database, this collector's rows only).
		if err := emptyIndex(ctx, db, ix.dbx, ix.opts.Collector); err != nil {
			return fail(err)
		}
		for k, v := range want {
			if _, err := db.ExecContext(ctx, fmt.Sprintf("INSERT INTO meta (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
				ix.dbx.Bind(1), ix.dbx.Bind(2)), k, v); err != nil {
				return fail(err)
			}
		}
	}
	ix.db = db
	ix.files, ix.active = map[string]*fileState{}, nil
	ix.brokenFlag.Store(false)
	ix.reload = false
	if err := ix.loadFiles(ctx); err != nil {
		ix.db = nil
		return fail(err)
	}
	ix.dict.reset()
	if err := ix.dict.load(ctx, db, ix.dbx); err != nil {
		ix.db = nil
		return fail(err)
	}
	ix.dbp.Store(db)
	ix.publish(nil)
	return nil
}

// absPath is p made absolute (as it is when that fails).
func absPath(p string) string {
	if p == "" {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// emptyIndex deletes every row (another archive, version or key); in a
// database shared by collectors (collector set), that collector's rows.
func emptyIndex(ctx context.Context, db *sql.DB, d Dialect, collector string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if collector != "" {
		if _, err := tx.ExecContext(ctx, "DELETE FROM lines WHERE file_id IN (SELECT id FROM files WHERE collector = "+d.Bind(1)+")", collector); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM files WHERE collector = "+d.Bind(1), collector); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM meta WHERE k LIKE "+d.Bind(1), "%@"+collector); err != nil {
			return err
		}
		return tx.Commit()
	}
	rows, err := tx.QueryContext(ctx, "SELECT id FROM files")
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if err := d.UnindexText(ctx, tx, id); err != nil {
			return err
		}
	}
	for _, s := range []string{"DELETE FROM lines", "DELETE FROM files", "DELETE FROM dict", "DELETE FROM meta"} {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (ix *DiskIndex) loadFiles(ctx context.Context) error {
	rows, err := ix.db.QueryContext(ctx, "SELECT id, stem, state FROM files WHERE collector = "+ix.dbx.Bind(1), ix.opts.Collector)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		st := &fileState{}
		var state string
		if err := rows.Scan(&st.ID, &st.Stem, &state); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(state), st); err != nil {
			return fmt.Errorf("index file state of %s: %w", st.Stem, err)
		}
		if st.Active {
			ix.active = st
		} else {
			ix.files[st.Stem] = st
		}
	}
	return rows.Err()
}

// Refresh brings the index up to date with the archive: new lines of the
// active file, rotated files (the active file's rows become the rotated
// file's), gzipped ones (the same rows), files removed by retention, files
// changed in place (read again). Each file's new rows are committed with
// its state, so queries never see a line twice or a file half replaced. A
// damaged database is rebuilt from the archive.
func (ix *DiskIndex) Refresh(ctx context.Context) error {
	select {
	case ix.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-ix.sem }()
	return ix.refreshLocked(ctx)
}

// RefreshWithin refreshes, waiting at most wait for a refresh already
// running (a long build): then it returns at once, and queries answer from
// what is committed (Stats.Indexing says a refresh is running).
func (ix *DiskIndex) RefreshWithin(ctx context.Context, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ix.sem <- struct{}{}:
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-ix.sem }()
	return ix.refreshLocked(ctx)
}

// refreshFailure: refreshes have failed since.
type refreshFailure struct {
	since time.Time
	err   string
}

// noteRefresh records whether a refresh failed.
func (ix *DiskIndex) noteRefresh(ctx context.Context, err error) {
	switch {
	case err == nil:
		ix.failing.Store(nil)
	case ctx.Err() == nil:
		f := &refreshFailure{since: time.Now(), err: err.Error()}
		if old := ix.failing.Load(); old != nil {
			f.since = old.since
		}
		ix.failing.Store(f)
	}
}

// withFailure adds to st the warning that the index is behind, if it is.
func (ix *DiskIndex) withFailure(st Stats) Stats {
	if f := ix.failing.Load(); f != nil {
		st.Warnings = append(slices.Clone(st.Warnings), fmt.Sprintf("the index is behind the archive: bringing it up to date has failed since %s (%s); retrying",
			f.since.UTC().Format(time.RFC3339), f.err))
	}
	return st
}

// Rebuild deletes the index's rows (in a shared database, this
// collector's only) and reads the archive again.
func (ix *DiskIndex) Rebuild(ctx context.Context) error {
	select {
	case ix.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-ix.sem }()
	if ix.closed {
		return errors.New("the index is closed")
	}
	if ix.arch == nil {
		return errReader
	}
	if ix.db == nil {
		if err := ix.open(ctx, false); err != nil {
			return err
		}
	}
	if err := emptyIndex(ctx, ix.db, ix.dbx, ix.opts.Collector); err != nil {
		return err
	}
	if err := ix.open(ctx, false); err != nil {
		return err
	}
	return ix.refreshOnce(ctx, true)
}

func (ix *DiskIndex) refreshLocked(ctx context.Context) error {
	err := ix.refreshLocked1(ctx)
	ix.noteRefresh(ctx, err)
	return err
}

func (ix *DiskIndex) refreshLocked1(ctx context.Context) error {
	if ix.closed {
		return errors.New("the index is closed")
	}
	if ix.arch == nil {
		return errReader
	}
	if broken := ix.brokenFlag.Load(); ix.db == nil || broken || ix.reload {
		// Damaged (found by a query), or not opened: start again.
		if err := ix.open(ctx, broken); err != nil {
			return err
		}
	}
	return ix.refreshOnce(ctx, true)
}

func (ix *DiskIndex) refreshOnce(ctx context.Context, retry bool) error {
	start := time.Now()
	ix.added = 0
	ix.indexing.Store(true)
	defer ix.indexing.Store(false)
	var err error
	for attempt := 1; ; attempt++ {
		var files []archive.File
		if files, err = ix.arch.Files(); err != nil {
			return err
		}
		if err = ix.refresh(ctx, files); err != nil {
			break
		}
		after, lerr := ix.arch.Files()
		if lerr != nil {
			return lerr
		}
		same := sameRotated(files, after)
		if same || attempt == 3 {
			err = ix.link(ctx, same)
			break
		}
	}
	if err != nil && ix.dbx.IsCorrupt(err) && retry {
		// The index is a cache: build it again from the archive.
		if oerr := ix.open(ctx, true); oerr != nil {
			return errors.Join(err, oerr)
		}
		return ix.refreshOnce(ctx, false)
	}
	if err != nil {
		// What is in memory may be ahead of what was committed.
		ix.reload = true
	}
	if err == nil && ix.added > 50_000 {
		// Many rows: let the planner know.
		err = ix.dbx.Optimize(ctx, ix.db)
	}
	ix.publish(&refreshInfo{at: time.Now(), took: time.Since(start), read: ix.added})
	return err
}

// refreshInfo describes the last refresh.
type refreshInfo struct {
	at   time.Time
	took time.Duration
	read int
}

// publish replaces the view queries use; r describes the refresh that
// made it (nil: the last one's).
func (ix *DiskIndex) publish(r *refreshInfo) {
	v := &diskView{files: map[int64]*fileRef{}}
	dir := ix.arch.Layout.Dir
	var warnings []string
	add := func(st *fileState) {
		ref := st.ref(dir)
		if ix.shared() {
			ref.collector, ref.archive = ix.opts.Collector, absPath(ix.arch.Layout.ActivePath())
		}
		v.files[st.ID] = ref
		v.stats.Files++
		v.stats.Lines += st.Lines
		v.stats.Markers += st.Markers
		v.stats.Problems += st.Problems
		if st.Warning != "" {
			warnings = append(warnings, st.Warning)
		}
	}
	for _, st := range ix.sortedFiles() {
		add(st)
	}
	if ix.active != nil {
		add(ix.active)
	}
	v.stats.Events = v.stats.Lines - v.stats.Markers
	v.stats.Warnings = warnings
	if r != nil {
		v.stats.Refreshed, v.stats.RefreshTook, v.stats.LinesRead = r.at, r.took, r.read
	} else if old := ix.view.Load(); old != nil {
		v.stats.Refreshed, v.stats.RefreshTook, v.stats.LinesRead = old.stats.Refreshed, old.stats.RefreshTook, old.stats.LinesRead
	}
	ix.view.Store(v)
}

func (ix *DiskIndex) sortedFiles() []*fileState {
	out := make([]*fileState, 0, len(ix.files))
	for _, st := range ix.files {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *fileState) int { return strings.Compare(a.Stem, b.Stem) })
	return out
}

// Stats implements Searcher.
func (ix *DiskIndex) Stats() Stats {
	st := ix.view.Load().stats
	st.Indexing = ix.indexing.Load()
	return ix.withFailure(st)
}

func (ix *DiskIndex) refresh(ctx context.Context, files []archive.File) error {
	seen := map[string]bool{}
	var activeFile *archive.File
	for i := range files {
		f := files[i]
		if f.Active {
			activeFile = &files[i]
			continue
		}
		f, info, ok := statFile(f)
		if !ok {
			continue // removed by retention since it was listed
		}
		stem := strings.TrimSuffix(f.Name, ".gz")
		seen[stem] = true
		st := ix.files[stem]
		switch {
		case st != nil && st.Done && st.unchanged(f, info):
			if st.Name != f.Name {
				// Compressed since it was indexed: the same lines.
				st.Name, st.Compressed = f.Name, f.Compressed
				st.setInfo(info)
				if err := ix.inTx(ctx, func(tx *sql.Tx) error { return ix.saveState(ctx, tx, st) }); err != nil {
					return err
				}
			}
			continue
		case st != nil && !st.Done && st.Compressed == f.Compressed && st.sameFile(info) && st.tailIntact(ix, f):
			// A build that stopped half-way (restart): go on.
			if err := ix.readFile(ctx, st, f, info, true, nil); err != nil {
				return err
			}
			continue
		case st == nil && ix.active != nil && ix.isActiveRotated(f, info):
			// The writer rotated the file we were reading: its rows are
			// this file's; read what was appended before the rotation.
			a := ix.active
			ix.active = nil
			a.Active, a.Stem = false, stem
			ix.files[stem] = a
			if err := ix.readFile(ctx, a, f, info, true, nil); err != nil {
				ix.files[stem] = nil
				delete(ix.files, stem)
				return err
			}
			continue
		}
		// New, or changed: (re)index it whole, replacing what was there.
		var drop []*fileState
		if st != nil {
			drop = append(drop, st)
			delete(ix.files, stem)
		}
		if a := ix.active; a != nil && (activeFile == nil || !ix.activeStillThere(activeFile)) {
			// The file we were reading is gone from under its name and
			// was not recognized among the rotated files: these rows are
			// replaced by whatever file holds its lines now.
			drop = append(drop, a)
			ix.active = nil
		}
		nst := &fileState{Stem: stem, Name: f.Name, Compressed: f.Compressed}
		if err := ix.readFile(ctx, nst, f, info, true, drop); err != nil {
			return err
		}
		if nst.gone(f) {
			// Removed by retention while it was read.
			if err := ix.inTx(ctx, func(tx *sql.Tx) error { return ix.dropFile(ctx, tx, nst) }); err != nil {
				return err
			}
			delete(seen, stem)
			continue
		}
		ix.files[stem] = nst
	}
	// Files no longer in the archive (retention).
	for stem, st := range ix.files {
		if !seen[stem] {
			if err := ix.inTx(ctx, func(tx *sql.Tx) error { return ix.dropFile(ctx, tx, st) }); err != nil {
				return err
			}
			delete(ix.files, stem)
		}
	}
	return ix.refreshActive(ctx, activeFile)
}

// activeStillThere reports whether the active file is the one indexed as
// active.
func (ix *DiskIndex) activeStillThere(f *archive.File) bool {
	info, err := os.Stat(f.Path)
	return err == nil && ix.active.sameFile(info)
}

func (ix *DiskIndex) refreshActive(ctx context.Context, f *archive.File) error {
	a := ix.active
	if f == nil {
		if a != nil {
			// Gone (the archive was removed, or rotated without a new
			// active file yet and not found among the rotated files).
			if err := ix.inTx(ctx, func(tx *sql.Tx) error { return ix.dropFile(ctx, tx, a) }); err != nil {
				return err
			}
			ix.active = nil
		}
		return nil
	}
	info, err := os.Stat(f.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	recheckDue := ix.opts.RecheckActive > 0 && a != nil && time.Since(time.Unix(0, a.Checked)) >= ix.opts.RecheckActive
	if a != nil && a.sameFile(info) && !recheckDue && info.Size() >= a.End && a.tailIntact(ix, *f) {
		if info.Size() == a.End && info.ModTime().UnixNano() == a.MTime {
			return nil // nothing new
		}
		return ix.readFile(ctx, a, *f, info, false, nil)
	}
	if a != nil && recheckDue && a.sameFile(info) {
		// Read it all again; keep the rows when they are what they were.
		same, err := ix.activeUnchanged(ctx, a, *f)
		if err != nil {
			return err
		}
		if same {
			a.Checked = time.Now().UnixNano()
			if info.Size() > a.End {
				return ix.readFile(ctx, a, *f, info, false, nil)
			}
			return nil
		}
	}
	// New, replaced, cut or changed in place: read it all again.
	var drop []*fileState
	if a != nil {
		drop = append(drop, a)
	}
	nst := &fileState{Stem: f.Name, Name: f.Name, Active: true, Checked: time.Now().UnixNano()}
	ix.active = nil
	if err := ix.readFile(ctx, nst, *f, info, false, drop); err != nil {
		return err
	}
	ix.active = nst
	return nil
}

// unchanged reports whether a rotated file is still the file st indexed.
func (st *fileState) unchanged(f archive.File, info os.FileInfo) bool {
	if st.Compressed == f.Compressed {
		return info.Size() == st.Size && info.ModTime().UnixNano() == st.MTime
	}
	// Compression turns a plain rotated file into its .gz, with the same lines.
	return !st.Compressed && f.Compressed
}

// gone reports whether a file vanished while it was read (retention).
func (st *fileState) gone(f archive.File) bool {
	if st.Lines > 1 || st.Problems != 1 {
		return false
	}
	_, _, ok := statFile(f)
	return !ok
}

// isActiveRotated reports whether rotated file f is the file indexed as
// active: the same inode with the lines read still in place, or (already
// gzipped) the same first sealed line.
func (ix *DiskIndex) isActiveRotated(f archive.File, info os.FileInfo) bool {
	a := ix.active
	if !f.Compressed {
		return a.sameFile(info) && a.tailIntact(ix, f)
	}
	if a.FirstPrev == "" || a.FirstLine != 1 {
		return false
	}
	for e := range ix.arch.FileEntries(f, 0, 0, nil) {
		return e.HasSeal && e.Seal.Seq == a.FirstSeq && e.Seal.PrevHex() == a.FirstPrev && e.Offset == 0
	}
	return false
}

// tailIntact reports whether the last line read is still in the plain file
// as it was, followed by its newline (see segment.tailIntact).
func (st *fileState) tailIntact(_ *DiskIndex, f archive.File) bool {
	if f.Compressed {
		return true // gzipped files are checked by their size and time
	}
	if st.Lines == 0 {
		return st.End == 0
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return false
	}
	defer fh.Close()
	buf := make([]byte, st.TailSize+1)
	if _, err := fh.ReadAt(buf, st.TailOff); err != nil {
		return false
	}
	return st.TailOff+int64(len(buf)) == st.End && buf[len(buf)-1] == '\n' && xxhash.Sum64(buf[:len(buf)-1]) == st.TailFP
}

// activeUnchanged reads the whole active file and reports whether the lines
// indexed are still what they were (same bytes, same status).
func (ix *DiskIndex) activeUnchanged(ctx context.Context, st *fileState, f archive.File) (bool, error) {
	rows, err := ix.db.QueryContext(ctx, "SELECT line, fp, size, status FROM lines WHERE file_id = "+ix.dbx.Bind(1)+" ORDER BY line", st.ID)
	if err != nil {
		return false, err
	}
	type rec struct {
		fp          int64
		size, state int
	}
	have := make(map[int]rec, st.Lines)
	for rows.Next() {
		var line int
		var r rec
		if err := rows.Scan(&line, &r.fp, &r.size, &r.state); err != nil {
			rows.Close()
			return false, err
		}
		have[line] = r
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return false, err
	}
	n := 0
	for e := range ix.arch.FileEntries(f, 0, 0, nil) {
		if e.Offset >= st.End {
			break
		}
		r, ok := have[e.Line]
		status := int(e.Status)
		if e.Line == st.FirstLine {
			status = st.FirstStatus
		}
		if !ok || r.fp != int64(xxhash.Sum64(e.Raw)) || r.size != len(e.Raw) || (r.state != status && e.Line != st.FirstLine) {
			return false, nil
		}
		n++
	}
	return n == st.Lines, ctx.Err()
}

// inTx runs fn in a transaction.
func (ix *DiskIndex) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if _, ok := ix.dbx.(BulkInserter); ok {
		// On a connection of its own, which the bulk load uses too.
		conn, err := ix.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ix.txConns.Store(tx, conn)
		defer ix.txConns.Delete(tx)
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// BulkInserter is implemented by a Database that loads many rows faster
// through a bulk path than by INSERT (PostgreSQL's COPY) and keeps no
// text index of its own (IndexText does nothing: the rows' ids are not
// needed back). InsertLines adds rows to the lines table within the
// transaction open on conn. rows is the caller's scratch: it is not kept
// after InsertLines returns.
type BulkInserter interface {
	InsertLines(ctx context.Context, conn *sql.Conn, rows []LineRow) error
}

// LineRow is one row of the lines table for a BulkInserter, its fields in
// LineColumns' order, its text already cleaned (TextCleaner). A NULL is
// an empty Err or PErr, and a Message with HasMessage false.
type LineRow struct {
	FileID                         int64
	Line                           int32
	TS, Seq, Sub, Off              int64
	Size                           int32
	FP                             int64
	Source, Action, Actor, Address int64
	Resource, Message              string
	HasMessage                     bool
	Sev, Status, Kind, Flags       int32
	Err, PErr                      string
}

func (ix *DiskIndex) saveState(ctx context.Context, tx *sql.Tx, st *fileState) error {
	st.flushPred()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	d := ix.dbx
	if st.ID == 0 {
		return tx.QueryRowContext(ctx, fmt.Sprintf("INSERT INTO files (collector, archive, stem, state) VALUES (%s, %s, %s, %s) RETURNING id",
			d.Bind(1), d.Bind(2), d.Bind(3), d.Bind(4)),
			ix.opts.Collector, absPath(ix.arch.Layout.ActivePath()), st.Stem, string(b)).Scan(&st.ID)
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE files SET stem = %s, state = %s WHERE id = %s", d.Bind(1), d.Bind(2), d.Bind(3)),
		st.Stem, string(b), st.ID)
	return err
}

func (ix *DiskIndex) dropFile(ctx context.Context, tx *sql.Tx, st *fileState) error {
	if st.ID == 0 {
		return nil
	}
	if err := ix.dbx.UnindexText(ctx, tx, st.ID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM lines WHERE file_id = "+ix.dbx.Bind(1), st.ID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM files WHERE id = "+ix.dbx.Bind(1), st.ID)
	return err
}

// readFile adds the lines of f from st.End on, committing every BatchRows
// lines with st's state. drop lists files whose rows the new ones replace:
// they are deleted in the first transaction, so no line shows twice. In
// the active file (whole=false) an incomplete last line is a write in
// progress, left for the next refresh, as is the rest of a file that
// cannot be read just now.
func (ix *DiskIndex) readFile(ctx context.Context, st *fileState, f archive.File, info os.FileInfo, whole bool, drop []*fileState) error {
	st.Name, st.Compressed = f.Name, f.Compressed
	st.setInfo(info)
	st.Warning = ""
	// Reading (decompressing, checking hashes, decoding) and writing to the
	// database run side by side: one batch is written while the next is
	// read. Each batch carries a copy of the file's state as of its last
	// line, saved with its rows.
	type work struct {
		b     *batch
		state fileState
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan work, 1)
	done := make(chan error, 1)
	id := st.ID
	go func() {
		var failed error
		for w := range ch {
			if failed != nil {
				continue // drain
			}
			w.state.ID = id
			err := ix.inTx(ctx, func(tx *sql.Tx) error {
				for _, d := range drop {
					if err := ix.dropFile(ctx, tx, d); err != nil {
						return err
					}
				}
				if w.state.ID == 0 {
					if err := ix.saveState(ctx, tx, &w.state); err != nil {
						return err
					}
				}
				if err := w.b.insert(ctx, tx, w.state.ID); err != nil {
					return err
				}
				return ix.saveState(ctx, tx, &w.state)
			})
			if err != nil {
				ix.dict.reset() // ids assigned in a rolled back transaction
				failed = err
				cancel()
				continue
			}
			id = w.state.ID
			drop = nil
			ix.added += len(w.b.rows)
			// Keep the roomiest batch (a refresh's last one may hold a
			// few rows: it must not take the place of a full one).
			w.b.reset()
			if old := ix.spare.Load(); old == nil || cap(old.rows) < cap(w.b.rows) {
				ix.spare.Store(w.b)
			}
		}
		done <- failed
	}()
	defer st.flushPred()
	send := func(b *batch) bool {
		st.flushPred()
		select {
		case ch <- work{b: b, state: *st}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	newBatch := func() *batch {
		if b := ix.spare.Swap(nil); b != nil {
			b.st = st
			return b
		}
		return &batch{ix: ix, st: st}
	}
	b := newBatch()
	n := 0
	for e := range ix.entries(f, st, info, whole) {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			break
		}
		if !whole && (e.Status == archive.StatusIncomplete || e.Status == archive.StatusUnreadable) {
			if e.Status == archive.StatusUnreadable {
				st.Warning = e.Err.Error()
			}
			break
		}
		b.add(&e)
		if len(b.rows) >= ix.opts.BatchRows {
			if !send(b) {
				break
			}
			b = newBatch()
		}
	}
	if ctx.Err() == nil {
		if whole {
			st.Done = true
		}
		send(b)
	}
	close(ch)
	err := <-done
	st.ID = id
	if err != nil {
		return err
	}
	return ctx.Err()
}

// entries yields the lines of f from st.End on: first those this
// process's archive writer handed over (see archive.Tap), then, for what
// the handoff does not hold, the file's. st advances as the caller adds
// each entry.
func (ix *DiskIndex) entries(f archive.File, st *fileState, info os.FileInfo, whole bool) iter.Seq[archive.Entry] {
	return func(yield func(archive.Entry) bool) {
		if ix.tap != nil && !f.Compressed {
			dev, ino := fileID(info)
			run, pending := ix.tap.Take(dev, ino, st.End, info.Size(), f.Active)
			// The run must be this file's (its first line where the run
			// says), and a rotated file must not have been changed after
			// the writer's last write to it: that would not be found later
			// (a rotated file is read once; the active file is read again
			// in full every RecheckActive).
			if !run.OnDisk(f.Path) || (whole && info.ModTime().After(run.Newest())) {
				run, pending = archive.TapRun{}, false
			}
			n := 0
			for e := range run.Entries(f.Name, st.Lines, st.pred()) {
				n++
				if !yield(e) {
					ix.handedOver.Add(int64(n))
					return
				}
			}
			ix.handedOver.Add(int64(n))
			if !whole && (pending || (n > 0 && run.End() >= info.Size())) {
				// The rest of the active file is the writer's, handed over
				// once durable, or was written after the file was looked
				// at: the next refresh takes it. (A rotated file is read
				// to its end.)
				return
			}
		}
		for e := range ix.arch.FileEntries(f, st.End, st.Lines, st.pred()) {
			if !yield(e) {
				return
			}
		}
	}
}

// Wake receives when lines handed over by the archive's writer in this
// process are waiting: a refresh now takes them before the handoff fills
// (nil without a handoff).
func (ix *DiskIndex) Wake() <-chan struct{} {
	if ix.tap == nil {
		return nil
	}
	return ix.tap.Wake()
}

// HandedOver is how many lines the index took from the archive's writer
// in this process rather than reading them from the file.
func (ix *DiskIndex) HandedOver() int64 { return ix.handedOver.Load() }

// link checks each file's first sealed line against the last sealed line
// of the file before it, as Entries would, and updates the rows whose
// status that changes. With stable false (the writer rotated during the
// refresh) the active file's link is left for the next refresh.
func (ix *DiskIndex) link(ctx context.Context, stable bool) error {
	order := ix.sortedFiles()
	if ix.active != nil {
		order = append(order, ix.active)
	}
	var pred *archive.Seal
	for i, st := range order {
		if st.FirstPrev != "" {
			status, msg := archive.Status(st.FirstStatus), st.FirstErr
			if pred != nil && (stable || i < len(order)-1 || !st.Active) {
				e := archive.Entry{HasSeal: true, Status: status, Err: errorOrNil(msg)}
				e.Seal.Seq = st.FirstSeq
				hex.Decode(e.Seal.Prev[:], []byte(st.FirstPrev))
				archive.Link(&e, pred)
				status = e.Status
				if e.Err != nil {
					msg = e.Err.Error()
				}
			}
			if int(status) != st.ShownStatus || msg != st.ShownErr {
				old := archive.Status(st.ShownStatus)
				err := ix.inTx(ctx, func(tx *sql.Tx) error {
					d := ix.dbx
					if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE lines SET status = %s, err = %s WHERE file_id = %s AND line = %s",
						d.Bind(1), d.Bind(2), d.Bind(3), d.Bind(4)), int(status), nullString(msg), st.ID, st.FirstLine); err != nil {
						return err
					}
					if (old == archive.StatusOK) != (status == archive.StatusOK) {
						if status == archive.StatusOK {
							st.Problems--
						} else {
							st.Problems++
						}
					}
					st.ShownStatus, st.ShownErr = int(status), msg
					return ix.saveState(ctx, tx, st)
				})
				if err != nil {
					return err
				}
			}
		}
		if p := st.pred(); p != nil {
			pred = p
			// A file retention removed since it was read is no
			// predecessor: the archive, as the in-memory engine reads it
			// afresh, now starts after it.
			if _, err := os.Stat(filepath.Join(ix.arch.Layout.Dir, st.Name)); errors.Is(err, fs.ErrNotExist) {
				pred = nil
			}
		}
	}
	return nil
}

func errorOrNil(msg string) error {
	if msg == "" {
		return nil
	}
	return errors.New(msg)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// batch collects rows to insert.
type batch struct {
	ix   *DiskIndex
	st   *fileState
	rows []diskRow
}

// diskRow is one row of the lines table.
type diskRow struct {
	line              int
	ts                int64
	seq               uint64
	sub               uint32
	off               int64
	size              int
	fp                uint64
	dict              [numCols]string // source, action, actor, address (resource is not a dict column)
	resource, message string
	hasMessage        bool
	sev, status, kind int
	flags             int
	err               string
	perr              string
}

// reset empties b, keeping its room but not its strings.
func (b *batch) reset() {
	clear(b.rows)
	b.rows = b.rows[:0]
}

// add turns one entry into a row, as segment.add does.
func (b *batch) add(e *archive.Entry) {
	st := b.st
	f := fields{kind: kindBroken}
	switch e.Status {
	case archive.StatusOK, archive.StatusModified, archive.StatusUnlinked:
		if e.Hint != nil {
			f = hintFields(e.Hint)
		} else {
			f = extract(e.Raw, true)
		}
	case archive.StatusMalformed, archive.StatusIncomplete:
		f = extract(e.Raw, false)
		f.kind, f.msg, f.alarm = kindBroken, string(e.Raw), false
	}
	first := st.Lines == 0
	r := diskRow{line: e.Line, off: e.Offset, size: len(e.Raw), fp: xxhash.Sum64(e.Raw), status: int(e.Status), kind: int(f.kind)}
	if e.HasSeal {
		r.seq, r.flags = e.Seal.Seq, int(flagSealed)
		st.Run = 0
		if st.FirstPrev == "" {
			st.FirstLine, st.FirstSeq, st.FirstPrev = e.Line, e.Seal.Seq, e.Seal.PrevHex()
			st.FirstStatus, st.FirstErr = int(e.Status), ""
			if e.Status != archive.StatusOK {
				st.FirstErr = errText(e)
			}
			st.ShownStatus, st.ShownErr = st.FirstStatus, st.FirstErr
		}
		st.PredSeq, st.predHash, st.predPending = e.Seal.Seq, e.Seal.Hash, true
	} else {
		st.Run++
		r.sub = st.Run
		if !first {
			r.seq = st.LastSeq
		}
	}
	if f.time == 0 && !first {
		f.time = st.LastTime
	}
	r.ts = f.time
	if f.alarm {
		r.flags |= int(flagAlarm)
	}
	if f.received {
		r.flags |= int(flagTimeReceived)
	}
	if f.parseErr != "" && f.kind == kindEvent {
		r.flags |= int(flagParseError)
		r.perr, _ = clipText(f.parseErr)
	}
	cutCols := false
	for c := range f.cols {
		v, cut := clipText(f.cols[c])
		cutCols = cutCols || cut
		if c == colResource {
			r.resource = v
		} else {
			r.dict[c] = v
		}
	}
	msg, cutMsg := clipText(f.msg)
	if cutCols || cutMsg {
		r.flags |= int(flagTruncated)
	}
	r.message = msg
	r.hasMessage = msg != r.dict[colAction] || f.kind != kindEvent
	if !r.hasMessage {
		r.flags |= int(flagMsgIsAction)
	}
	r.sev = f.sev
	if e.Status != archive.StatusOK {
		r.err = errText(e)
		st.Problems++
	} else if f.alarm {
		st.Problems++
	}
	if f.kind == kindMarker {
		st.Markers++
	}
	st.LastTime, st.LastSeq = r.ts, r.seq
	if e.Status != archive.StatusUnreadable {
		st.End = e.Offset + int64(len(e.Raw)) + 1
		st.TailOff, st.TailSize, st.TailFP = e.Offset, len(e.Raw), r.fp
	}
	st.Lines = e.Line
	b.rows = append(b.rows, r)
}

// lineColumns are the lines table's columns in the order batch.insert
// binds them.
const lineColumns = "file_id, line, ts, seq, sub, off, size, fp, source_id, action_id, actor_id, address_id, resource, message, sev, status, kind, flags, err, perr"

const lineColumnCount = 20

// insertRows is how many rows one INSERT carries (20 parameters each;
// SQLite allows 32 766).
const insertRows = 500

func (b *batch) insert(ctx context.Context, tx *sql.Tx, fileID int64) error {
	if len(b.rows) == 0 {
		return nil
	}
	ix := b.ix
	if err := ix.dict.addMissing(ctx, tx, ix.dbx, b.rows); err != nil {
		return err
	}
	if bi, ok := ix.dbx.(BulkInserter); ok {
		if conn, ok := ix.txConns.Load(tx); ok {
			return b.insertBulk(ctx, tx, bi, conn.(*sql.Conn), fileID)
		}
	}
	// No RETURNING: SQLite computes every row of an INSERT ... RETURNING
	// into a temporary table before the first comes back, and each one
	// then crosses database/sql. The rows of one INSERT get consecutive
	// ids ending at its LastInsertId (see Dialect.IndexText).
	var first, last int64
	var args []any
	// One statement prepared for the full chunks: parsing thousands of
	// placeholders once, not per chunk.
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	for start := 0; start < len(b.rows); start += insertRows {
		chunk := b.rows[start:min(start+insertRows, len(b.rows))]
		args = args[:0]
		for i := range chunk {
			r := &chunk[i]
			var dictIDs [numCols]int64
			for _, c := range dictColumns {
				id, err := ix.dict.id(ctx, tx, ix.dbx, c, r.dict[c])
				if err != nil {
					return err
				}
				dictIDs[c] = id
			}
			var msg any
			if r.hasMessage {
				msg = cleanText(ix.dbx, r.message)
			}
			args = append(args, fileID, r.line, r.ts, int64(r.seq), int64(r.sub), r.off, r.size, int64(r.fp),
				dictIDs[colSource], dictIDs[colAction], dictIDs[colActor], dictIDs[colAddress],
				cleanText(ix.dbx, r.resource), msg, r.sev, r.status, r.kind, r.flags, nullString(cleanText(ix.dbx, r.err)), nullString(cleanText(ix.dbx, r.perr)))
		}
		var res sql.Result
		var err error
		if len(chunk) == insertRows {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, insertSQL(ix.dbx, insertRows)); err != nil {
					return err
				}
			}
			res, err = full.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, insertSQL(ix.dbx, len(chunk)), args...)
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("index: the %s database gives no row ids: %w", ix.dbx.Name(), err)
		}
		if start == 0 {
			first = id - int64(len(chunk)) + 1
		}
		last = id
	}
	if last-first+1 != int64(len(b.rows)) {
		return fmt.Errorf("index: %d lines were given ids %d to %d", len(b.rows), first, last)
	}
	return ix.dbx.IndexText(ctx, tx, first, last)
}

// insertBulk adds the batch's rows through the database's bulk path,
// converted in ix.lineRows (reused from batch to batch: batches are
// inserted one at a time).
func (b *batch) insertBulk(ctx context.Context, tx *sql.Tx, bi BulkInserter, conn *sql.Conn, fileID int64) error {
	ix := b.ix
	rows := ix.lineRows[:0]
	if cap(rows) < len(b.rows) {
		rows = make([]LineRow, 0, len(b.rows))
	}
	for i := range b.rows {
		r := &b.rows[i]
		var dictIDs [numCols]int64
		for _, c := range dictColumns {
			id, err := ix.dict.id(ctx, tx, ix.dbx, c, r.dict[c])
			if err != nil {
				return err
			}
			dictIDs[c] = id
		}
		lr := LineRow{FileID: fileID, Line: int32(r.line), TS: r.ts, Seq: int64(r.seq), Sub: int64(r.sub), Off: r.off,
			Size: int32(r.size), FP: int64(r.fp),
			Source: dictIDs[colSource], Action: dictIDs[colAction], Actor: dictIDs[colActor], Address: dictIDs[colAddress],
			Resource: cleanText(ix.dbx, r.resource), HasMessage: r.hasMessage,
			Sev: int32(r.sev), Status: int32(r.status), Kind: int32(r.kind), Flags: int32(r.flags),
			Err: cleanText(ix.dbx, r.err), PErr: cleanText(ix.dbx, r.perr)}
		if r.hasMessage {
			lr.Message = cleanText(ix.dbx, r.message)
		}
		rows = append(rows, lr)
	}
	err := bi.InsertLines(ctx, conn, rows)
	clear(rows) // the strings are the batch's: let them go with it
	ix.lineRows = rows[:0]
	return err
}

// LineColumns are the lines table's columns, in LineRow's order.
var LineColumns = strings.Split(strings.ReplaceAll(lineColumns, " ", ""), ",")

var insertSQLCache sync.Map // "dialect/n" -> string

func insertSQL(d Dialect, n int) string {
	key := d.Name() + "/" + strconv.Itoa(n)
	if s, ok := insertSQLCache.Load(key); ok {
		return s.(string)
	}
	var sb strings.Builder
	sb.WriteString("INSERT INTO lines (" + lineColumns + ") VALUES ")
	k := 1
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		for j := range lineColumnCount {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(d.Bind(k))
			k++
		}
		sb.WriteByte(')')
	}
	s := sb.String()
	insertSQLCache.Store(key, s)
	return s
}

// dictColumns are the columns kept in the dictionary: few distinct values
// (sources, actions, actors, addresses), matched by their values.
var dictColumns = []int{colSource, colAction, colActor, colAddress}

// dictCache holds the dictionary in memory: filters are matched against
// its values in Go (as the in-memory index matches its dictionaries), and
// rows are rendered from it.
type dictCache struct {
	mu   sync.RWMutex
	ids  [numCols]map[string]int64
	vals map[int64]string
	max  int64 // the highest id loaded
}

func (c *dictCache) reset() {
	c.mu.Lock()
	c.ids, c.vals, c.max = [numCols]map[string]int64{}, nil, 0
	c.mu.Unlock()
}

// load reads the entries added since the last load (by this index, or by
// another writer of a shared database).
func (c *dictCache) load(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, d Dialect) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vals == nil {
		c.vals = map[int64]string{}
		for _, col := range dictColumns {
			c.ids[col] = map[string]int64{}
		}
	}
	rows, err := db.QueryContext(ctx, "SELECT id, col, value FROM dict WHERE id > "+d.Bind(1), c.max)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var col int
		var v string
		if err := rows.Scan(&id, &col, &v); err != nil {
			return err
		}
		if col < 0 || col >= numCols || c.ids[col] == nil {
			continue
		}
		c.ids[col][v] = id
		c.vals[id] = v
		c.max = max(c.max, id)
	}
	return rows.Err()
}

// id returns the id of value v of column col, adding it when new.
func (c *dictCache) id(ctx context.Context, tx *sql.Tx, d Dialect, col int, v string) (int64, error) {
	c.mu.RLock()
	id, ok := c.ids[col][v]
	loaded := c.vals != nil
	c.mu.RUnlock()
	if ok {
		return id, nil
	}
	if !loaded {
		if err := c.load(ctx, tx, d); err != nil {
			return 0, err
		}
		return c.id(ctx, tx, d, col, v)
	}
	// Scanned into a variable of its own: taking id's address would move
	// it to the heap on every call, the hit above included.
	var added int64
	err := tx.QueryRowContext(ctx, fmt.Sprintf("INSERT INTO dict (col, value) VALUES (%s, %s) ON CONFLICT (col, value) DO UPDATE SET value = excluded.value RETURNING id",
		d.Bind(1), d.Bind(2)), col, cleanText(d, v)).Scan(&added)
	if err != nil {
		return 0, err
	}
	id = added
	c.mu.Lock()
	c.ids[col][v] = id
	c.vals[id] = v
	c.max = max(c.max, id)
	c.mu.Unlock()
	return id, nil
}

func (c *dictCache) size() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.vals)
}

// addMissing adds the values of rows not yet in the dictionary, many per
// statement.
func (c *dictCache) addMissing(ctx context.Context, tx *sql.Tx, d Dialect, rows []diskRow) error {
	c.mu.RLock()
	loaded := c.vals != nil
	c.mu.RUnlock()
	if !loaded {
		if err := c.load(ctx, tx, d); err != nil {
			return err
		}
	}
	type key struct {
		col int
		v   string
	}
	seen := map[key]bool{}
	var missing []key
	c.mu.RLock()
	for i := range rows {
		for _, col := range dictColumns {
			// Values are sent as the database stores them (see
			// TextCleaner); one that cleaning changed is looked up by id
			// after, under its own value.
			k := key{col, cleanText(d, rows[i].dict[col])}
			if _, ok := c.ids[col][k.v]; !ok && !seen[k] {
				seen[k] = true
				missing = append(missing, k)
			}
		}
	}
	c.mu.RUnlock()
	const perInsert = 1000
	for start := 0; start < len(missing); start += perInsert {
		chunk := missing[start:min(start+perInsert, len(missing))]
		var sb strings.Builder
		args := make([]any, 0, 2*len(chunk))
		sb.WriteString("INSERT INTO dict (col, value) VALUES ")
		for i, k := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(" + d.Bind(2*i+1) + "," + d.Bind(2*i+2) + ")")
			args = append(args, k.col, k.v)
		}
		sb.WriteString(" ON CONFLICT (col, value) DO UPDATE SET value = excluded.value RETURNING id, col, value")
		res, err := tx.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return err
		}
		c.mu.Lock()
		for res.Next() {
			var id int64
			var col int
			var v string
			if err := res.Scan(&id, &col, &v); err != nil {
				c.mu.Unlock()
				res.Close()
				return err
			}
			c.ids[col][v] = id
			c.vals[id] = v
			c.max = max(c.max, id)
		}
		c.mu.Unlock()
		if err := errors.Join(res.Err(), res.Close()); err != nil {
			return err
		}
	}
	return nil
}

func (c *dictCache) value(id int64) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.vals[id]
}

// match returns the ids of column col whose value satisfies pred.
func (c *dictCache) match(col int, pred func(string) bool) []int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []int64
	for v, id := range c.ids[col] {
		if pred(v) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
