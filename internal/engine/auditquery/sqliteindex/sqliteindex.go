// Package sqliteindex keeps the audit archive's index (auditquery's
// DiskIndex) in an SQLite file beside the archive, through the pure-Go
// driver modernc.org/sqlite: the collector stays free of cgo.
//
// The file is a cache of the archive: delete it and it is built again.
// It is written in WAL mode (queries read while the index grows), with one
// writer (the index's refresh) and a few readers. The text filter is
// served by an FTS5 trigram index (detail=none: only which lines hold a
// trigram, about a quarter of the size of a full one) whose candidates the
// query checks exactly. Files of an older layout are built again
// (layoutVersion).
package sqliteindex // import "github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/sqliteindex"

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
)

// Suffix is appended to the archive's active file name to name its index
// by default: audit.jsonl's index is audit.jsonl.index.
const Suffix = ".index"

// DefaultPath is where the index of the archive whose active file is
// activePath lives by default.
func DefaultPath(activePath string) string { return activePath + Suffix }

// Options configure the database.
type Options struct {
	// CacheMiB is SQLite's page cache per connection (default 16).
	CacheMiB int
}

// DB is an SQLite database file for auditquery.OpenDisk.
type DB struct {
	path string
	opts Options
}

var _ auditquery.Database = (*DB)(nil)

// New returns the database at path (created when missing).
func New(path string, opts Options) *DB {
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 16
	}
	return &DB{path: path, opts: opts}
}

// Path is the database file.
func (d *DB) Path() string { return d.path }

// containsFunc is the case-insensitive substring test for needles that are
// not ASCII (SQLite's lower() folds ASCII only): exactly the in-memory
// index's test.
const containsFunc = "audit_contains"

var registerOnce sync.Once

func register() {
	registerOnce.Do(func() {
		sqlite.MustRegisterDeterministicScalarFunction(containsFunc, 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			h, _ := args[0].(string)
			n, _ := args[1].(string)
			return strings.Contains(strings.ToLower(h), n), nil
		})
	})
}

// Open opens (reset: deletes and creates) the file.
func (d *DB) Open(ctx context.Context, reset bool) (*sql.DB, error) {
	register()
	if reset {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if err := os.Remove(d.path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	// Audit data: readable by the collector's user only, as the archive.
	// Created here with that mode before SQLite opens it (SQLite gives its
	// -wal and -shm files the database file's mode).
	f, err := os.OpenFile(d.path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	if err := os.Chmod(d.path, 0o600); err != nil {
		return nil, err
	}
	v := url.Values{}
	for _, p := range []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		// No fsync at all: the file is a cache of the archive. A crash of
		// the process loses nothing (the WAL is in the OS's page cache); a
		// power loss may lose or damage the last writes, and a damaged
		// index is rebuilt (IsCorrupt), a short one reads the lines again.
		// The collector's own fsyncs (its queues) no longer wait behind
		// the index's.
		"synchronous(OFF)",
		"cache_size(-" + strconv.Itoa(d.opts.CacheMiB<<10) + ")",
		"temp_store(FILE)",
	} {
		v.Add("_pragma", p)
	}
	dsn := "file:" + d.path + "?" + v.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One writer and a few readers; each connection has its own cache.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// A file of another layout (an older version of this package) is a
	// cache to build again: the tables' definitions, not only their rows,
	// differ, and CREATE ... IF NOT EXISTS would keep the old ones.
	var version, tables int
	err = db.QueryRowContext(ctx, "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)").Scan(&version, &tables)
	if err == nil && version != layoutVersion && tables > 0 && !reset {
		db.Close()
		return d.Open(ctx, true)
	}
	if err == nil && version != layoutVersion {
		_, err = db.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(layoutVersion))
	}
	// An error here (a damaged file) fails the caller's schema statements
	// the same way, which then starts the file again or reports it.
	return db, nil
}

// layoutVersion is the tables' layout (the file's PRAGMA user_version;
// files written before it have 0). Change it whenever Schema changes.
//
//	1: lines without NOT NULL (no statement journal per INSERT); the
//	   text index's content is lines (was contentless, with deletes).
const layoutVersion = 1

// Name implements auditquery.Dialect.
func (d *DB) Name() string { return "sqlite" }

// Schema implements auditquery.Dialect.
func (d *DB) Schema() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY, collector TEXT NOT NULL, archive TEXT NOT NULL, stem TEXT NOT NULL, state TEXT NOT NULL, UNIQUE (collector, stem))`,
		`CREATE TABLE IF NOT EXISTS dict (id INTEGER PRIMARY KEY, col INTEGER NOT NULL, value TEXT NOT NULL, UNIQUE (col, value))`,
		// No NOT NULL on lines: a constraint that can fail half-way
		// through a 500-row INSERT makes SQLite keep a statement journal
		// (a copy of every page the statement changes that the
		// transaction had already changed, written to a temporary file),
		// which took 5% of the build. The index writes every column of
		// every row; nothing else writes this table.
		`CREATE TABLE IF NOT EXISTS lines (
			id INTEGER PRIMARY KEY,
			file_id INTEGER, line INTEGER,
			ts INTEGER, seq INTEGER, sub INTEGER,
			off INTEGER, size INTEGER, fp INTEGER,
			source_id INTEGER, action_id INTEGER, actor_id INTEGER, address_id INTEGER,
			resource TEXT, message TEXT,
			sev INTEGER, status INTEGER, kind INTEGER, flags INTEGER, err TEXT, perr TEXT)`,
		`CREATE INDEX IF NOT EXISTS lines_order ON lines (ts, seq, sub)`,
		`CREATE INDEX IF NOT EXISTS lines_action ON lines (action_id, source_id, ts)`,
		`CREATE INDEX IF NOT EXISTS lines_actor ON lines (actor_id, ts)`,
		`CREATE INDEX IF NOT EXISTS lines_file ON lines (file_id, line)`,
		// The text index's content is the lines table's own text (the
		// view is what IndexText is given: the resource, and the message
		// after a newline when there is one), so FTS5 keeps none of its
		// own: no content copy, and no per-row size record (columnsize=0,
		// which a contentless table that can delete rows does not allow:
		// that record cost 4% of the build). A row leaves the text index
		// by DELETE FROM lines_text while it is still in lines: FTS5 reads
		// the text to remove from the view.
		`CREATE VIEW IF NOT EXISTS lines_text_content AS SELECT id, resource || coalesce(char(10) || message, '') AS t FROM lines`,
		`CREATE VIRTUAL TABLE IF NOT EXISTS lines_text USING fts5(t, content='lines_text_content', content_rowid='id', columnsize=0, tokenize='trigram', detail='none')`,
	}
}

// Bind implements auditquery.Dialect: positional placeholders (the query
// layer binds in textual order). Numbered ones (?NNN) cost SQLite a
// linear search per parameter, which made a 1900-parameter INSERT spend a
// third of the build looking up names.
func (d *DB) Bind(int) string { return "?" }

// Contains implements auditquery.Dialect.
func (d *DB) Contains(expr, arg string, ascii bool) string {
	if ascii {
		return "instr(lower(" + expr + "), " + arg + ") > 0"
	}
	return containsFunc + "(" + expr + ", " + arg + ")"
}

// maxTrigrams bounds the trigrams a text query asks the index for: a few
// spread over the needle narrow as well as all of them.
const maxTrigrams = 8

// TextCandidates implements auditquery.Dialect: the lines holding every
// trigram of the needle (the FTS5 trigram tokenizer folds case as the
// exact check does, for ASCII; a needle with other letters is checked
// exactly over every line instead).
func (d *DB) TextCandidates(needle string, bind func(any) string) (string, bool) {
	if utf8.RuneCountInString(needle) < 3 {
		return "", false
	}
	for i := 0; i < len(needle); i++ {
		if needle[i] >= utf8.RuneSelf {
			return "", false
		}
	}
	var grams []string
	for i := 0; i+3 <= len(needle); i++ {
		grams = append(grams, needle[i:i+3])
	}
	if len(grams) > maxTrigrams {
		picked := make([]string, 0, maxTrigrams)
		for k := range maxTrigrams {
			picked = append(picked, grams[k*(len(grams)-1)/(maxTrigrams-1)])
		}
		grams = picked
	}
	terms := make([]string, len(grams))
	for i, g := range grams {
		terms[i] = `"` + strings.ReplaceAll(g, `"`, `""`) + `"`
	}
	return "SELECT rowid FROM lines_text WHERE lines_text MATCH " + bind(strings.Join(terms, " AND ")), true
}

// IndexText implements auditquery.Dialect: the lines were just inserted,
// in this transaction, and the text index's content view gives each its
// text (resource, newline, message), so one statement indexes them all
// from the table, without passing the text a second time. One statement
// per batch also makes one new FTS5 segment per batch (FTS5 writes what it
// holds in memory at each statement's start): fewer segments to merge
// than one per 10 000 rows, 5% of the build. Every row in [first, last]
// was inserted by this batch: SQLite gives a new row the highest id plus
// one, and the transaction holds the database's write lock (another
// process indexing the same file, auditctl query, waits).
func (d *DB) IndexText(ctx context.Context, tx *sql.Tx, first, last int64) error {
	if last < first {
		return nil
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO lines_text (rowid, t) SELECT id, t FROM lines_text_content WHERE id BETWEEN ? AND ?", first, last)
	return err
}

// UnindexText implements auditquery.Dialect.
func (d *DB) UnindexText(ctx context.Context, tx *sql.Tx, fileID int64) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM lines_text WHERE rowid IN (SELECT id FROM lines WHERE file_id = ?)", fileID)
	return err
}

// IsCorrupt implements auditquery.Dialect.
func (d *DB) IsCorrupt(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
	}
	return false
}

// Optimize implements auditquery.Dialect.
func (d *DB) Optimize(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "PRAGMA optimize=0x10002")
	return err
}
