package auditquery

import (
	"context"
	"database/sql"
)

// Searcher answers queries over an archive. Two implement it: the disk
// index (DiskIndex, over a database through a Dialect), which the viewer
// and `auditctl query` use, and the in-memory Snapshot (MemorySearcher),
// which reads the whole archive at every start and serves `auditctl query`
// on an archive without an index and the tests as the reference.
type Searcher interface {
	// Search returns one page of the rows matching q, newest first.
	Search(ctx context.Context, q Query, p PageRequest) (Page, error)
	// Count returns how many rows match q.
	Count(ctx context.Context, q Query) (int, error)
	// Export calls fn for every matching row, newest first, with the row's
	// columns in full and the line read back from its file (see
	// Snapshot.Export for what is read back and how a changed line is
	// marked).
	Export(ctx context.Context, q Query, raw bool, fn func(r *Row, raw []byte) error) error
	// Line returns the line at file:line as the file holds it now.
	Line(ctx context.Context, file string, line int) (Row, []byte, error)
	// Stats describe what the searcher covers.
	Stats() Stats
}

// CountLimit is how far a page's total is counted exactly: beyond it the
// page says "more than CountLimit" (Page.TotalMore), so that a filter
// matching millions of rows costs no more than one matching thousands.
const CountLimit = 10_000

// MemorySearcher serves a snapshot of the in-memory index as a Searcher.
type MemorySearcher struct{ Snap *Snapshot }

var _ Searcher = MemorySearcher{}

// Search implements Searcher. Totals are exact.
func (m MemorySearcher) Search(_ context.Context, q Query, p PageRequest) (Page, error) {
	if p.Last {
		total := m.Snap.Count(q)
		p.Page, p.Last = lastPage(total, p.Limit), false
	}
	return m.Snap.Search(q, p), nil
}

// Count implements Searcher.
func (m MemorySearcher) Count(_ context.Context, q Query) (int, error) { return m.Snap.Count(q), nil }

// Export implements Searcher.
func (m MemorySearcher) Export(ctx context.Context, q Query, raw bool, fn func(*Row, []byte) error) error {
	return m.Snap.Export(ctx, q, raw, fn)
}

// Line implements Searcher.
func (m MemorySearcher) Line(_ context.Context, file string, line int) (Row, []byte, error) {
	return m.Snap.Line(file, line)
}

// Stats implements Searcher.
func (m MemorySearcher) Stats() Stats { return m.Snap.Stats }

// lastPage is the number of the last page of total rows.
func lastPage(total, limit int) int {
	if limit <= 0 {
		limit = 50
	}
	return max((total+limit-1)/limit, 1)
}

// Dialect is what differs between the databases the disk index can live
// in. The index's queries are plain SQL (row values, IN lists, LIMIT and
// OFFSET, INSERT ... RETURNING, ON CONFLICT DO UPDATE), which SQLite and
// PostgreSQL both run; a dialect supplies the rest: the placeholders, the
// schema's types, a case-insensitive substring test and the full-text
// index that finds candidate lines for the text filter.
type Dialect interface {
	// Name names the database in messages ("sqlite").
	Name() string
	// Schema returns the statements that create the tables and indexes
	// when they do not exist (see schema.go for what they must hold).
	Schema() []string
	// Bind returns the placeholder of the n-th argument (1-based). The
	// query layer writes placeholders in the order of their arguments, so
	// a dialect may use positional ones.
	Bind(n int) string
	// Contains returns a boolean SQL expression: the text expr contains
	// the needle bound at placeholder arg, which is already lower-case.
	// ascii says the needle is ASCII, so ASCII case folding suffices.
	Contains(expr, arg string, ascii bool) string
	// TextCandidates returns a query selecting the ids of the lines whose
	// text (IndexText) may contain needle (a superset: each candidate is
	// checked exactly after), with its arguments bound through bind; ok is
	// false when the text index cannot narrow this needle (too short).
	TextCandidates(needle string, bind func(any) string) (query string, ok bool)
	// IndexText adds the lines with ids first to last, just inserted in
	// tx, to the text index (a line's text: its resource and message
	// joined by a newline). A Database without a BulkInserter gives the
	// rows of one INSERT consecutive ids, the last one the statement's
	// LastInsertId (SQLite's rowids, under its write lock), and the
	// batches of one call are consecutive.
	IndexText(ctx context.Context, tx *sql.Tx, first, last int64) error
	// UnindexText removes the lines of one file from the text index; it
	// runs before the lines themselves are deleted.
	UnindexText(ctx context.Context, tx *sql.Tx, fileID int64) error
	// IsCorrupt reports whether err says the database is damaged (the
	// index is then rebuilt from the archive).
	IsCorrupt(err error) bool
	// Optimize runs after large writes (statistics for the planner).
	Optimize(ctx context.Context, db *sql.DB) error
}
