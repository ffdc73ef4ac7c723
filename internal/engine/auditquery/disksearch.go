package auditquery

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
)

var _ Searcher = (*DiskIndex)(nil)

// candidateLimit: when the text index finds fewer candidates than this,
// the query starts from them; with more, the needle is common and the
// query walks the rows newest first, testing each (it finds a page
// sooner).
const candidateLimit = 20_000

// where is a query's condition in SQL.
type where struct {
	d     Dialect
	conds []string
	args  []any
	none  bool // a filter matches no value at all: no row matches
	// sources, actions: the ids the source and action filters select (nil:
	// not filtered). Kept apart so that a page can be read pair by pair
	// (see pairs).
	sources, actions, actors []int64
	pair                     string // set: this pair (or actor) only, instead of the lists
}

func (w *where) bind(v any) string {
	w.args = append(w.args, v)
	return w.d.Bind(len(w.args))
}

func (w *where) sql() string {
	conds := w.conds
	if w.actors != nil && !strings.HasPrefix(w.pair, "actor_id") {
		conds = append([]string{inList("actor_id", w.actors)}, conds...)
	}
	switch {
	case strings.HasPrefix(w.pair, "actor_id"):
		conds = append([]string{w.pair}, conds...)
		if w.sources != nil {
			conds = append([]string{inList("source_id", w.sources)}, conds...)
		}
		if w.actions != nil {
			conds = append([]string{inList("action_id", w.actions)}, conds...)
		}
	case w.pair != "":
		conds = append([]string{w.pair}, conds...)
	default:
		if w.sources != nil {
			conds = append([]string{inList("source_id", w.sources)}, conds...)
		}
		if w.actions != nil {
			conds = append([]string{inList("action_id", w.actions)}, conds...)
		}
	}
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// maxPairs and maxPairRows bound reading a page pair by pair.
const (
	maxPairs    = 64
	maxPairRows = 50_000
)

// pairs returns the (action, source) pairs a filtered page is read by:
// the index on (action, source, time) gives each pair's rows newest first,
// so reading each pair's first rows and merging them costs a few index
// steps per pair, where one query over the lists would sort every match
// (a filter matching a week of logins: 1.4 s against 4 ms on a million
// events). nil when it does not pay or would read too much.
func (w *where) pairs(ix *DiskIndex, rows int) []string {
	if w.actions == nil && w.sources == nil {
		// The actor filter alone: actor by actor, through the index on
		// (actor, time).
		if n := len(w.actors); w.actors == nil || n > maxPairs || n*rows > maxPairRows {
			return nil
		}
		out := make([]string, 0, len(w.actors))
		for _, a := range w.actors {
			out = append(out, "actor_id = "+strconv.FormatInt(a, 10))
		}
		return out
	}
	actions, sources := w.actions, w.sources
	if actions == nil {
		actions = ix.dict.match(colAction, func(string) bool { return true })
	}
	if sources == nil {
		sources = ix.dict.match(colSource, func(string) bool { return true })
	}
	n := len(actions) * len(sources)
	if n == 0 || n > maxPairs || n*rows > maxPairRows {
		return nil
	}
	out := make([]string, 0, n)
	for _, a := range actions {
		for _, s := range sources {
			out = append(out, "action_id = "+strconv.FormatInt(a, 10)+" AND source_id = "+strconv.FormatInt(s, 10))
		}
	}
	return out
}

func inList(col string, ids []int64) string {
	var sb strings.Builder
	sb.WriteString(col + " IN (")
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(id, 10))
	}
	sb.WriteByte(')')
	return sb.String()
}

// matchIDs adds "col IN (ids)", or marks the query empty when no value
// matches.
func (w *where) matchIDs(col string, ids []int64) {
	if len(ids) == 0 {
		w.none = true
		return
	}
	w.conds = append(w.conds, inList(col, ids))
}

func (w *where) contains(expr, needle string) string {
	n := newFoldNeedle(needle)
	return w.d.Contains(expr, w.bind(n.lower), n.ascii)
}

// build turns q into SQL. Dictionary columns are matched in Go against the
// distinct values, as the in-memory index does, then by id.
func (ix *DiskIndex) build(ctx context.Context, db queryer, q Query) (*where, error) {
	w := &where{d: ix.dbx}
	if !q.Since.IsZero() {
		w.conds = append(w.conds, "ts >= "+w.bind(q.Since.UnixNano()))
	}
	if !q.Until.IsZero() {
		w.conds = append(w.conds, "ts <= "+w.bind(q.Until.UnixNano()))
	}
	if len(q.Sources) > 0 {
		w.sources = ix.dict.match(colSource, func(v string) bool {
			return slices.ContainsFunc(q.Sources, func(s string) bool { return strings.EqualFold(s, v) })
		})
		w.none = w.none || len(w.sources) == 0
	}
	if len(q.Actions) > 0 {
		w.actions = ix.dict.match(colAction, func(v string) bool { return matchAction(q.Actions, v) })
		w.none = w.none || len(w.actions) == 0
	}
	if q.Actor != "" {
		w.actors = ix.dict.match(colActor, newFoldNeedle(q.Actor).in)
		w.none = w.none || len(w.actors) == 0
	}
	if q.Resource != "" {
		narrow, err := ix.narrow(ctx, db, w, q.Resource)
		if err != nil {
			return nil, err
		}
		w.conds = append(w.conds, "("+narrow+w.contains("resource", q.Resource)+")")
	}
	if q.HasSeverity {
		var sevs []int64
		for n := range 256 {
			l := severity.FromOTel(plog.SeverityNumber(n))
			if (q.SeverityExact && l == q.Severity) || (!q.SeverityExact && l <= q.Severity) {
				sevs = append(sevs, int64(n))
			}
		}
		w.conds = append(w.conds, fmt.Sprintf("kind = %d", kindEvent))
		w.matchIDs("sev", sevs)
	}
	switch q.Integrity {
	case IntegrityOK:
		w.conds = append(w.conds, fmt.Sprintf("status = 0 AND (flags & %d) = 0", flagAlarm))
	case IntegrityProblems:
		w.conds = append(w.conds, fmt.Sprintf("(status <> 0 OR (flags & %d) <> 0)", flagAlarm))
	}
	switch q.Parse {
	case ParseFailed:
		w.conds = append(w.conds, fmt.Sprintf("(flags & %d) <> 0", flagParseError))
	case ParseOK:
		w.conds = append(w.conds, fmt.Sprintf("(flags & %d) = 0", flagParseError))
	}
	if q.Text != "" {
		n := newFoldNeedle(q.Text)
		var alts []string
		dictHit := false
		for _, c := range []struct {
			col  int
			name string
		}{{colSource, "source_id"}, {colAction, "action_id"}, {colActor, "actor_id"}, {colAddress, "address_id"}} {
			if ids := ix.dict.match(c.col, n.in); len(ids) > 0 {
				alts = append(alts, inList(c.name, ids))
				dictHit = true
			}
		}
		narrow := ""
		if !dictHit {
			// Only the resource and the message can hold it.
			var err error
			if narrow, err = ix.narrow(ctx, db, w, q.Text); err != nil {
				return nil, err
			}
		}
		exact := "(" + narrow + "(" + w.contains("resource", q.Text) + " OR " + w.contains("COALESCE(message, '')", q.Text) + "))"
		alts = append(alts, exact)
		w.conds = append(w.conds, "("+strings.Join(alts, " OR ")+")")
	}
	return w, nil
}

// narrow returns "id IN (candidates) AND " when the text index finds fewer
// than candidateLimit lines whose resource or message may hold needle (the
// query then starts from them), else "" (the needle is common: walking the
// rows newest first finds a page sooner). Placeholders are bound in the
// order they appear in the text (SQLite's are positional).
func (ix *DiskIndex) narrow(ctx context.Context, db queryer, w *where, needle string) (string, error) {
	var probeArgs []any
	probe, ok := ix.dbx.TextCandidates(needle, func(v any) string {
		probeArgs = append(probeArgs, v)
		return ix.dbx.Bind(len(probeArgs))
	})
	if !ok {
		return "", nil
	}
	few, err := fewerThan(ctx, db, probe, probeArgs, candidateLimit)
	if err != nil || !few {
		return "", err
	}
	cand, _ := ix.dbx.TextCandidates(needle, w.bind)
	return "id IN (" + cand + ") AND ", nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// fewerThan reports whether query (ids) yields fewer than n rows.
func fewerThan(ctx context.Context, db queryer, query string, args []any, n int) (bool, error) {
	var c int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+query+" LIMIT "+strconv.Itoa(n)+") c", args...).Scan(&c)
	return c < n, err
}

// rowColumns are what a result row reads, in scanRow's order.
const rowColumns = "id, file_id, line, ts, seq, sub, off, size, fp, source_id, action_id, actor_id, address_id, resource, message, sev, status, kind, flags, err, perr"

// order is the result order: newest first, as the in-memory index orders.
const orderBy = " ORDER BY ts DESC, seq DESC, sub DESC, id DESC"

// orderByOldest is the reverse, to read the last page from its end.
const orderByOldest = " ORDER BY ts, seq, sub, id"

// readRows appends the rows of "SELECT ... FROM lines <tail> LIMIT
// limit OFFSET offset" to found.
func (ix *DiskIndex) readRows(ctx context.Context, tx *sql.Tx, found *[]storedRow, tail string, args []any, limit, offset int) error {
	if limit <= 0 {
		return nil
	}
	query := "SELECT " + rowColumns + " FROM lines" + tail + " LIMIT " + strconv.Itoa(limit)
	if offset > 0 {
		query += " OFFSET " + strconv.Itoa(offset)
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		s, err := scanRow(rows)
		if err != nil {
			return err
		}
		*found = append(*found, s)
	}
	return rows.Err()
}

type storedRow struct {
	id, fileID                     int64
	line                           int
	ts, seq, sub, off              int64
	size                           int
	fp                             int64
	source, action, actor, address int64
	resource                       string
	message, errText, perr         sql.NullString
	sev, status, kind, flags       int
}

func scanRow(rows *sql.Rows) (storedRow, error) {
	var r storedRow
	err := rows.Scan(&r.id, &r.fileID, &r.line, &r.ts, &r.seq, &r.sub, &r.off, &r.size, &r.fp,
		&r.source, &r.action, &r.actor, &r.address, &r.resource, &r.message, &r.sev, &r.status, &r.kind, &r.flags, &r.errText, &r.perr)
	return r, err
}

// newerFirst orders rows as orderBy does.
func newerFirst(a, b storedRow) int {
	switch {
	case a.ts != b.ts:
		return cmp.Compare(b.ts, a.ts)
	case a.seq != b.seq:
		return cmp.Compare(b.seq, a.seq)
	case a.sub != b.sub:
		return cmp.Compare(b.sub, a.sub)
	}
	return cmp.Compare(b.id, a.id)
}

func (r *storedRow) key() cursor { return cursor{time: r.ts, seq: uint64(r.seq), sub: uint32(r.sub)} }

// render makes a Row as Snapshot.row does.
func (ix *DiskIndex) render(v *diskView, s *storedRow) Row {
	r := Row{
		Source:        ix.dict.value(s.source),
		Resource:      s.resource,
		Action:        ix.dict.value(s.action),
		Actor:         ix.dict.value(s.actor),
		ClientAddress: ix.dict.value(s.address),
		Truncated:     uint8(s.flags)&flagTruncated != 0,
		TimeReceived:  uint8(s.flags)&flagTimeReceived != 0,
		ParseError:    s.perr.String,
		Kind:          kindNames[min(s.kind, len(kindNames)-1)],
		Alarm:         uint8(s.flags)&flagAlarm != 0,
		Line:          s.line,
	}
	if s.message.Valid {
		r.Message = s.message.String
	} else {
		r.Message = r.Action
	}
	if f := v.files[s.fileID]; f != nil {
		r.File, r.Collector, r.Archive = f.name, f.collector, f.archive
	}
	if s.ts != 0 {
		r.Time = time.Unix(0, s.ts).UTC().Format(archive.TimeLayout)
	}
	if uint8(s.flags)&flagSealed != 0 {
		r.Seq = uint64(s.seq)
	}
	if uint8(s.kind) == kindEvent {
		r.SeverityNumber = s.sev
		r.Severity = severity.FromOTel(plog.SeverityNumber(s.sev)).String()
	}
	r.Integrity, r.IntegrityError = archive.Status(s.status).String(), s.errText.String
	if r.Alarm && r.IntegrityError == "" {
		r.IntegrityError = "the writer recorded damage to the archive: " + r.Action
	}
	return r
}

// reader returns the database to query and the view to render with.
func (ix *DiskIndex) reader() (*sql.DB, *diskView, error) {
	db := ix.dbp.Load()
	if db == nil {
		return nil, nil, errors.New("the index is closed")
	}
	return db, ix.view.Load(), nil
}

// readTx runs fn in a read transaction: its queries see one state of the
// index, whatever a refresh commits meanwhile.
func (ix *DiskIndex) readTx(ctx context.Context, fn func(tx *sql.Tx, v *diskView) error) error {
	db, v, err := ix.reader()
	if err != nil {
		return err
	}
	if err := ix.dict.load(ctx, db, ix.dbx); err != nil {
		return ix.noteCorrupt(err)
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ix.noteCorrupt(err)
	}
	defer tx.Rollback()
	if ix.shared() {
		if v, err = ix.withOthers(ctx, tx, v); err != nil {
			return err
		}
	}
	return ix.noteCorrupt(fn(tx, v))
}

// withOthers returns v with the files of the other collectors sharing the
// database (read in tx, so that they match the rows the queries see), and
// the totals over all of them; it reloads the dictionary when another
// collector added values this one has not seen (ids are not committed in
// their order, so a load from the highest id known can miss some).
func (ix *DiskIndex) withOthers(ctx context.Context, tx *sql.Tx, v *diskView) (*diskView, error) {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM dict").Scan(&n); err != nil {
		return nil, err
	}
	if n != ix.dict.size() {
		ix.dict.reset()
		if err := ix.dict.load(ctx, tx, ix.dbx); err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, collector, archive, stem, state FROM files WHERE collector <> "+ix.dbx.Bind(1), ix.opts.Collector)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &diskView{files: make(map[int64]*fileRef, len(v.files)), stats: v.stats}
	for id, f := range v.files {
		out.files[id] = f
	}
	out.stats.Warnings = slices.Clone(v.stats.Warnings)
	for rows.Next() {
		var st fileState
		var collector, arch, state string
		if err := rows.Scan(&st.ID, &collector, &arch, &st.Stem, &state); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(state), &st); err != nil {
			return nil, fmt.Errorf("index file state of %s's %s: %w", collector, st.Stem, err)
		}
		out.files[st.ID] = &fileRef{id: st.ID, stem: st.Stem, name: st.Name, compressed: st.Compressed,
			collector: collector, archive: arch, remote: true}
		out.stats.Files++
		out.stats.Lines += st.Lines
		out.stats.Markers += st.Markers
		out.stats.Events += st.Lines - st.Markers
		out.stats.Problems += st.Problems
		if st.Warning != "" {
			out.stats.Warnings = append(out.stats.Warnings, collector+": "+st.Warning)
		}
	}
	return out, rows.Err()
}

// noteCorrupt marks the index for a rebuild when err says the database is
// damaged.
func (ix *DiskIndex) noteCorrupt(err error) error {
	if err != nil && ix.dbx.IsCorrupt(err) {
		ix.brokenFlag.Store(true)
		return fmt.Errorf("the index is damaged and is being rebuilt from the archive: %w", err)
	}
	return err
}

// Search implements Searcher. The total is exact up to CountLimit; beyond
// it Page.TotalMore is set, except for the last page (p.Last), which
// counts every match to know where it starts.
func (ix *DiskIndex) Search(ctx context.Context, q Query, p PageRequest) (Page, error) {
	start := time.Now()
	if p.Limit <= 0 {
		p.Limit = 50
	}
	out := Page{Limit: p.Limit, Rows: []Row{}}
	err := ix.readTx(ctx, func(tx *sql.Tx, v *diskView) error {
		w, err := ix.build(ctx, tx, q)
		if err != nil {
			return err
		}
		out.Archive = ix.withFailure(v.stats)
		out.Archive.Indexing = ix.indexing.Load()
		if w.none {
			if p.Cursor == "" {
				out.Page = 1
			}
			return nil
		}
		cond := w.sql()
		countSQL := "SELECT count(*) FROM (SELECT 1 FROM lines" + cond + " LIMIT " + strconv.Itoa(CountLimit+1) + ") c"
		if p.Last {
			countSQL = "SELECT count(*) FROM lines" + cond
		}
		if err := tx.QueryRowContext(ctx, countSQL, w.args...).Scan(&out.Total); err != nil {
			return err
		}
		if !p.Last && out.Total > CountLimit {
			out.Total, out.TotalMore = CountLimit, true
		}
		args := slices.Clone(w.args)
		skip := 0
		if p.Cursor != "" {
			c, _ := decodeCursor(p.Cursor)
			w.conds = append(w.conds, fmt.Sprintf("(ts, seq, sub) < (%s, %s, %s)", w.bind(c.time), w.bind(int64(c.seq)), w.bind(int64(c.sub))))
			args = w.args
		} else {
			out.Page = max(p.Page, 1)
			if p.Last {
				out.Page = lastPage(out.Total, p.Limit)
			}
			skip = (out.Page - 1) * p.Limit
		}
		var found []storedRow
		read := func(cond string, limit, offset int) error {
			return ix.readRows(ctx, tx, &found, cond+orderBy, args, limit, offset)
		}
		if p.Last && p.Cursor == "" {
			// The oldest rows: read from the other end rather than skip
			// every row before them.
			if err := ix.readRows(ctx, tx, &found, w.sql()+orderByOldest, args, out.Total-skip, 0); err != nil {
				return err
			}
			slices.Reverse(found)
		} else if pairs := w.pairs(ix, skip+p.Limit+1); pairs != nil && (out.TotalMore || ix.opts.PairsAlways) {
			// Many matches: sorting them all would cost more than reading
			// each pair's first rows. With at most CountLimit, one query
			// sorting them is cheaper.
			for _, pair := range pairs {
				w.pair = pair
				if err := read(w.sql(), skip+p.Limit+1, 0); err != nil {
					return err
				}
			}
			w.pair = ""
			slices.SortFunc(found, newerFirst)
			found = found[min(skip, len(found)):]
			found = found[:min(p.Limit+1, len(found))]
		} else if err := read(w.sql(), p.Limit+1, skip); err != nil {
			return err
		}
		var last cursor
		for i := range found {
			if len(out.Rows) == p.Limit {
				out.NextCursor = last.encode()
				break
			}
			out.Rows = append(out.Rows, ix.render(v, &found[i]))
			last = found[i].key()
		}
		return nil
	})
	out.Took = time.Since(start)
	return out, err
}

// Count implements Searcher: exact, however many.
func (ix *DiskIndex) Count(ctx context.Context, q Query) (int, error) {
	n := 0
	err := ix.readTx(ctx, func(tx *sql.Tx, _ *diskView) error {
		w, err := ix.build(ctx, tx, q)
		if err != nil || w.none {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM lines"+w.sql(), w.args...).Scan(&n)
	})
	return n, err
}

// exportChunk is how many rows an export reads per query.
const exportChunk = 5000

// Export implements Searcher, as Snapshot.Export: the rows in chunks
// newest first, lines read back from their files (plain files by offset,
// gzipped ones decompressed once per chunk) and checked against their
// fingerprints.
func (ix *DiskIndex) Export(ctx context.Context, q Query, raw bool, fn func(*Row, []byte) error) error {
	var after *storedRow
	for {
		var chunk []storedRow
		var view *diskView
		err := ix.readTx(ctx, func(tx *sql.Tx, v *diskView) error {
			view = v
			w, err := ix.build(ctx, tx, q)
			if err != nil || w.none {
				return err
			}
			if after != nil {
				w.conds = append(w.conds, fmt.Sprintf("(ts, seq, sub, id) < (%s, %s, %s, %s)", w.bind(after.ts), w.bind(after.seq), w.bind(after.sub), w.bind(after.id)))
			}
			rows, err := tx.QueryContext(ctx, "SELECT "+rowColumns+" FROM lines"+w.sql()+orderBy+" LIMIT "+strconv.Itoa(exportChunk), w.args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				s, err := scanRow(rows)
				if err != nil {
					return err
				}
				chunk = append(chunk, s)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			return ctx.Err()
		}
		lr := newDiskLines(ix, view)
		for i := range chunk {
			s := &chunk[i]
			f := view.files[s.fileID]
			row := ix.render(view, s)
			if (f == nil || !f.remote) && (raw || row.Truncated || (f != nil && !f.compressed)) {
				lr.want(s)
			}
		}
		for i := range chunk {
			if i%1024 == 0 && ctx.Err() != nil {
				lr.close()
				return ctx.Err()
			}
			s := &chunk[i]
			row := ix.render(view, s)
			line, err, read := lr.get(s)
			if read {
				switch {
				case err != nil:
					row.Integrity, row.IntegrityError = archive.StatusUnreadable.String(), err.Error()
				case len(line) != s.size || int64(xxhash.Sum64(line)) != s.fp:
					row.Integrity, row.IntegrityError = archive.StatusModified.String(), changedSinceIndexed
				}
				if line != nil {
					full(&row, line)
				}
			}
			if err := fn(&row, line); err != nil {
				lr.close()
				return err
			}
		}
		lr.close()
		if len(chunk) < exportChunk {
			return ctx.Err()
		}
		after = &chunk[len(chunk)-1]
	}
}

// Line implements Searcher.
func (ix *DiskIndex) Line(ctx context.Context, file string, line int) (Row, []byte, error) {
	var (
		s     storedRow
		view  *diskView
		found *fileRef
	)
	err := ix.readTx(ctx, func(tx *sql.Tx, v *diskView) error {
		view = v
		// A file of this collector first; another collector's by its
		// name alone when no other has it, or as collector/name.
		for _, f := range v.files {
			own := f.name == file || f.stem == file || (f.collector != "" && (f.collector+"/"+f.name == file || f.collector+"/"+f.stem == file))
			if own && !f.remote {
				found = f
			}
		}
		if found == nil {
			for _, f := range v.files {
				if f.remote && (f.name == file || f.stem == file || f.collector+"/"+f.name == file || f.collector+"/"+f.stem == file) {
					found = f
				}
			}
		}
		if found == nil {
			return fmt.Errorf("no file %q in the archive", file)
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+rowColumns+" FROM lines WHERE file_id = "+ix.dbx.Bind(1)+" AND line = "+ix.dbx.Bind(2), found.id, line)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM lines WHERE file_id = "+ix.dbx.Bind(1), found.id).Scan(&n); err != nil {
				return err
			}
			return fmt.Errorf("%s has %d lines, no line %d", file, n, line)
		}
		s, err = scanRow(rows)
		return err
	})
	if err != nil {
		return Row{}, nil, err
	}
	row := ix.render(view, &s)
	if found.remote {
		// In another collector's archive, on its machine: the row as
		// indexed (that collector's viewer reads the line back).
		return row, nil, nil
	}
	lr := newDiskLines(ix, view)
	defer lr.close()
	lr.want(&s)
	raw, rerr, _ := lr.get(&s)
	switch {
	case rerr != nil:
		row.Integrity, row.IntegrityError = archive.StatusUnreadable.String(), rerr.Error()
	case len(raw) != s.size || int64(xxhash.Sum64(raw)) != s.fp:
		row.Integrity, row.IntegrityError = archive.StatusModified.String(), changedSinceIndexed
	}
	if raw != nil {
		full(&row, raw)
	}
	return row, raw, nil
}

// diskLines reads lines back from the archive's files: plain files by
// offset through a handle opened once, gzipped files decompressed once
// for all the lines wanted from them.
type diskLines struct {
	ix       *DiskIndex
	v        *diskView
	wants    map[int64][]*storedRow // per file: rows wanted
	isWanted map[int64]bool         // by row id
	plain    map[int64]*os.File
	gz       map[int64]map[int64][]byte // file -> row id -> line
	gzErr    map[int64]error
}

func newDiskLines(ix *DiskIndex, v *diskView) *diskLines {
	return &diskLines{ix: ix, v: v, wants: map[int64][]*storedRow{}, isWanted: map[int64]bool{}, plain: map[int64]*os.File{},
		gz: map[int64]map[int64][]byte{}, gzErr: map[int64]error{}}
}

func (lr *diskLines) want(s *storedRow) {
	lr.wants[s.fileID] = append(lr.wants[s.fileID], s)
	lr.isWanted[s.id] = true
}

func (lr *diskLines) close() {
	for _, f := range lr.plain {
		if f != nil {
			f.Close()
		}
	}
}

// get returns row s's line; read is false when s was not wanted.
func (lr *diskLines) get(s *storedRow) (line []byte, err error, read bool) {
	if !lr.isWanted[s.id] {
		return nil, nil, false
	}
	f := lr.v.files[s.fileID]
	if f == nil {
		return nil, errors.New("the line's file is no longer in the archive"), true
	}
	if !f.compressed {
		fh, ok := lr.plain[f.id]
		if !ok {
			fh = lr.openSame(f)
			lr.plain[f.id] = fh
		}
		if fh != nil {
			buf := make([]byte, s.size)
			if _, err := fh.ReadAt(buf, s.off); err != nil {
				return nil, fmt.Errorf("reading %s:%d: %w", f.name, s.line, err), true
			}
			return buf, nil, true
		}
	}
	if _, ok := lr.gz[f.id]; !ok {
		lr.loadGz(f)
	}
	if l, ok := lr.gz[f.id][s.id]; ok {
		return l, nil, true
	}
	if err := lr.gzErr[f.id]; err != nil {
		return nil, err, true
	}
	return nil, errors.New("the line is no longer in its file"), true
}

// openSame opens f's plain file, making sure it is the file indexed; it
// may have been renamed by rotation since (see openSame).
func (lr *diskLines) openSame(f *fileRef) *os.File {
	try := func(path string) *os.File {
		fh, err := os.Open(path)
		if err != nil {
			return nil
		}
		if info, err := fh.Stat(); err == nil {
			if dev, ino := fileID(info); ino == f.ino && dev == f.dev {
				return fh
			}
		}
		fh.Close()
		return nil
	}
	if fh := try(f.path); fh != nil {
		return fh
	}
	files, err := lr.ix.arch.Files()
	if err != nil {
		return nil
	}
	for _, other := range files {
		if !other.Compressed {
			if fh := try(other.Path); fh != nil {
				return fh
			}
		}
	}
	return nil
}

// loadGz decompresses f (or the .gz its plain file became) once, keeping
// the wanted lines.
func (lr *diskLines) loadGz(f *fileRef) {
	rows := slices.Clone(lr.wants[f.id])
	slices.SortFunc(rows, func(a, b *storedRow) int { return cmp.Compare(a.off, b.off) })
	got := map[int64][]byte{}
	lr.gz[f.id] = got
	af, _, ok := statFile(archive.File{Name: f.name, Path: f.path, Compressed: f.compressed})
	if !ok {
		lr.gzErr[f.id] = fmt.Errorf("%s: %w", f.name, os.ErrNotExist)
		return
	}
	fh, err := os.Open(af.Path)
	if err != nil {
		lr.gzErr[f.id] = err
		return
	}
	defer fh.Close()
	var r io.Reader = bufio.NewReaderSize(fh, 256<<10)
	if af.Compressed {
		zr, err := gzip.NewReader(r)
		if err != nil {
			lr.gzErr[f.id] = fmt.Errorf("%s: %w", af.Name, err)
			return
		}
		r = zr
	}
	pos := int64(0)
	for _, s := range rows {
		if s.off < pos {
			continue
		}
		if _, err := io.CopyN(io.Discard, r, s.off-pos); err != nil {
			lr.gzErr[f.id] = fmt.Errorf("%s:%d: %w", f.name, s.line, err)
			return
		}
		line := make([]byte, s.size)
		if _, err := io.ReadFull(r, line); err != nil {
			lr.gzErr[f.id] = fmt.Errorf("%s:%d: %w", f.name, s.line, err)
			return
		}
		got[s.id] = line
		pos = s.off + int64(len(line))
	}
}
