package pgindex_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/pgindex"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/sqliteindex"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(childWriterEnv); spec != "" {
		runChildWriter(spec) // exits
	}
	goleak.VerifyTestMain(m)
}

func genArchive(t testing.TB, dir string, seed uint64, n int, rotate int64, compress bool) string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	opts := archive.WriterOptions{Path: path, MaxSize: rotate, Compress: compress}
	require.NoError(t, auditquerytest.WriteArchive(context.Background(), opts, auditquerytest.NewGenerator(seed, time.Second), n, 100))
	return path
}

func newPG(t testing.TB, dsn string) *pgindex.DB {
	t.Helper()
	db, err := pgindex.New(pgindex.Options{DSN: dsn})
	require.NoError(t, err)
	return db
}

func openPG(t testing.TB, path, dsn, collector string, key []byte) *auditquery.DiskIndex {
	t.Helper()
	ix, err := auditquery.OpenDisk(context.Background(), path, newPG(t, dsn), auditquery.DiskOptions{HMACKey: key, BatchRows: 700, Collector: collector})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	require.NoError(t, ix.Refresh(context.Background()))
	return ix
}

func openSQLite(t testing.TB, path string, key []byte) *auditquery.DiskIndex {
	t.Helper()
	ix, err := auditquery.OpenDisk(context.Background(), path, sqliteindex.New(filepath.Join(t.TempDir(), "index"), sqliteindex.Options{}),
		auditquery.DiskOptions{HMACKey: key, BatchRows: 700})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	require.NoError(t, ix.Refresh(context.Background()))
	return ix
}

func parse(t testing.TB, raw string) auditquery.Query {
	t.Helper()
	v, err := url.ParseQuery(raw)
	require.NoError(t, err)
	q, _, err := auditquery.ParseQuery(v, auditquery.ParseOptions{MaxLimit: 1_000_000})
	require.NoError(t, err, raw)
	return q
}

func every(t testing.TB, s auditquery.Searcher, q auditquery.Query) []auditquery.Row {
	t.Helper()
	pg, err := s.Search(context.Background(), q, auditquery.PageRequest{Limit: 1_000_000, Page: 1})
	require.NoError(t, err)
	return pg.Rows
}

// local blanks what only a shared index says (the collector, the archive).
func local(rows []auditquery.Row) []auditquery.Row {
	out := make([]auditquery.Row, len(rows))
	for i, r := range rows {
		r.Collector, r.Archive = "", ""
		out[i] = r
	}
	return out
}

func export(t testing.TB, s auditquery.Searcher, q auditquery.Query, format string) string {
	t.Helper()
	var buf bytes.Buffer
	var w auditquery.Writer
	var err error
	if format == auditquery.FormatCSV {
		w, err = auditquery.NewCSVWriter(&buf)
		require.NoError(t, err)
	} else {
		w = auditquery.NewJSONLWriter(&buf)
	}
	require.NoError(t, s.Export(context.Background(), q, format == auditquery.FormatJSONL, func(r *auditquery.Row, raw []byte) error {
		c := *r
		c.Collector, c.Archive = "", ""
		return w.Write(&c, raw)
	}))
	require.NoError(t, w.Close())
	return buf.String()
}

var parityQueries = []string{
	"",
	"source=sippy",
	"source=glassix,ctreplay",
	"action=AUTH_FAIL,MFA_FAIL,LoginFailed",
	"action=DELETE*",
	"action=*Recording",
	"resource=ACCOUNTS:I_ACCOUNT",
	"actor=u:1:3",
	"severity=warning",
	"severity==notice",
	"text=recording",
	"text=10.",
	"text=Login",
	"text=%C3%A9t%C3%A9",
	"text=%C3%89T%C3%89",
	"text=no such text anywhere",
	"since=2025-03-01T08:20:00Z&until=2025-03-01T09:00:00Z",
	"source=sippy&action=U&resource=accounts&actor=u:1&severity=info&text=balance&since=2025-03-01T08:00:00Z&until=2025-03-01T09:00:00Z",
	"integrity=ok",
	"integrity=problems",
	"integrity=problems&text=inserted",
	"parse=failed",
}

// assertParity: the PostgreSQL index answers as the SQLite one: the same
// rows (every column, the integrity marks) in the same order, the same
// counts and pages, the same downloads.
func assertParity(t *testing.T, want, got *auditquery.DiskIndex) {
	t.Helper()
	ctx := context.Background()
	ws, gs := want.Stats(), got.Stats()
	assert.Equal(t, []int{ws.Files, ws.Lines, ws.Events, ws.Markers, ws.Problems}, []int{gs.Files, gs.Lines, gs.Events, gs.Markers, gs.Problems}, "files, lines, events, markers, problems")
	for _, raw := range parityQueries {
		t.Run(raw, func(t *testing.T) {
			q := parse(t, raw)
			w, g := every(t, want, q), local(every(t, got, q))
			require.Equal(t, len(w), len(g), "rows")
			for i := range w {
				if !assert.Equal(t, w[i], g[i], "row %d", i) {
					break
				}
			}
			wn, err := want.Count(ctx, q)
			require.NoError(t, err)
			gn, err := got.Count(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, wn, gn, "count")
			for _, page := range []int{1, 3} {
				wp, err := want.Search(ctx, q, auditquery.PageRequest{Limit: 37, Page: page})
				require.NoError(t, err)
				gp, err := got.Search(ctx, q, auditquery.PageRequest{Limit: 37, Page: page})
				require.NoError(t, err)
				assert.Equal(t, wp.Rows, local(gp.Rows), "page %d", page)
				assert.Equal(t, wp.Total, gp.Total, "total")
				assert.Equal(t, wp.NextCursor, gp.NextCursor)
				if gp.NextCursor != "" {
					wc, err := want.Search(ctx, q, auditquery.PageRequest{Limit: 37, Cursor: wp.NextCursor})
					require.NoError(t, err)
					gc, err := got.Search(ctx, q, auditquery.PageRequest{Limit: 37, Cursor: gp.NextCursor})
					require.NoError(t, err)
					assert.Equal(t, wc.Rows, local(gc.Rows), "page after cursor")
				}
			}
			assert.Equal(t, export(t, want, q, auditquery.FormatCSV), export(t, got, q, auditquery.FormatCSV), "CSV download")
			assert.Equal(t, export(t, want, q, auditquery.FormatJSONL), export(t, got, q, auditquery.FormatJSONL), "JSONL download")
		})
	}
	all := every(t, want, auditquery.Query{})
	for i := 0; i < len(all); i += max(len(all)/20, 1) {
		wr, wl, werr := want.Line(ctx, all[i].File, all[i].Line)
		gr, gl, gerr := got.Line(ctx, all[i].File, all[i].Line)
		assert.Equal(t, werr, gerr)
		gr.Collector, gr.Archive = "", ""
		assert.Equal(t, wr, gr)
		assert.Equal(t, string(wl), string(gl))
	}
}

// The same generated archive (rotated, gzipped, active files) indexed in
// SQLite and in PostgreSQL.
func TestParityWithSQLite(t *testing.T) {
	pg := pgtest.Start(t)
	path := genArchive(t, t.TempDir(), 7, 3000, 192<<10, true)
	sq := openSQLite(t, path, nil)
	require.Greater(t, sq.Stats().Files, 4)
	assertParity(t, sq, openPG(t, path, pg.DSN(), "c1", nil))
}

// Damage of every kind, an HMAC key, a NUL in a message (PostgreSQL's text
// cannot hold it), and records flagged unparsed.
func TestParityDamagedArchive(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	key := []byte("0123456789abcdef0123")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path, MaxSize: 96 << 10, HMACKey: key})
	require.NoError(t, err)
	g := auditquerytest.NewGenerator(11, time.Second)
	ctx := context.Background()
	require.NoError(t, p.Write(ctx, g.Next(500)))
	require.NoError(t, p.Write(ctx, auditquerytest.Unparsed(6, auditquerytest.Start.Add(100*time.Second))))
	require.NoError(t, p.Write(ctx, g.Next(500)))
	require.NoError(t, p.Close())
	files, err := (&archive.Archive{Layout: archive.LayoutFor(path)}).Files()
	require.NoError(t, err)
	require.Greater(t, len(files), 2)

	b, err := os.ReadFile(files[0].Path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	lines[10] = strings.Replace(lines[10], `"severity_number":`, `"severity_number":1`, 1)
	lines = append(lines[:20], lines[21:]...)
	lines = append(lines[:50], append([]string{`{"note":"inserted by hand \u0000 with a NUL","source":"sippy","message":"NUL\u0000here"}`}, lines[50:]...)...)
	require.NoError(t, os.WriteFile(files[0].Path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	assertParity(t, openSQLite(t, path, key), openPG(t, path, pg.DSN(), "c1", key))
}

// copyHostile are values that COPY's text format must escape, or that
// would read as its NULL (\N), its end of data (\.), or a row or column
// boundary if they were not.
var copyHostile = []string{
	"tab\there", "line\nbreak", "carriage\rreturn", `back\slash`, `\N`, `\.`, "\\.\n\\.",
	"\t\n\r\\", `ends with \`, "été \u2028 \U0001F600", `C:\new\table`,
}

// Values that COPY's text format escapes reach the PostgreSQL index
// unchanged: every column as the SQLite index has it, and the message and
// resource as the events carried them.
func TestParityCopyHostileText(t *testing.T) {
	pg := pgtest.Start(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path})
	require.NoError(t, err)
	ctx := context.Background()
	g := auditquerytest.NewGenerator(5, time.Second)
	require.NoError(t, p.Write(ctx, g.Next(50)))
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, auditrecord.SourceCTReplay)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, v := range copyHostile {
		r := lrs.AppendEmpty()
		r.SetObservedTimestamp(pcommon.NewTimestampFromTime(auditquerytest.Start.Add(time.Hour + time.Duration(i)*time.Second)))
		r.SetEventName("DELETE " + v)
		r.Body().SetStr("body " + v)
		a := r.Attributes()
		a.PutStr("action", "DELETE "+v)
		a.PutStr("userID", "user "+v)
		a.PutStr("ipAddress", "10.0.0.1")
		a.PutStr(auditrecord.AttrParseError, "perr "+v)
	}
	require.NoError(t, p.Write(ctx, ld))
	require.NoError(t, p.Write(ctx, g.Next(50)))
	require.NoError(t, p.Close())

	sq, got := openSQLite(t, path, nil), openPG(t, path, pg.DSN(), "c1", nil)
	assertParity(t, sq, got)
	rows := every(t, got, parse(t, "text=body"))
	var messages []string
	for _, r := range rows {
		messages = append(messages, r.Message)
	}
	for _, v := range copyHostile {
		assert.Contains(t, messages, "body "+v)
	}
}

// Two collectors index their own archives into one database: each one's
// queries see both archives' rows, each naming its collector and archive;
// a line of the other collector is shown as indexed (its file is on the
// other machine); rebuilding one collector's rows leaves the other's.
func TestTwoCollectorsOneDatabase(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	pathA := genArchive(t, t.TempDir(), 7, 1500, 96<<10, true)
	pathB := genArchive(t, t.TempDir(), 8, 1200, 0, false)
	a := openPG(t, pathA, pg.DSN(), "collector-a", nil)
	b := openPG(t, pathB, pg.DSN(), "collector-b", nil)
	require.NoError(t, a.Refresh(ctx))
	sqA, sqB := openSQLite(t, pathA, nil), openSQLite(t, pathB, nil)
	wantA, wantB := every(t, sqA, auditquery.Query{}), every(t, sqB, auditquery.Query{})
	for _, ix := range []*auditquery.DiskIndex{a, b} {
		rows := every(t, ix, auditquery.Query{})
		require.Len(t, rows, len(wantA)+len(wantB))
		var gotA, gotB []auditquery.Row
		for _, r := range rows {
			switch r.Collector {
			case "collector-a":
				assert.Equal(t, pathA, r.Archive)
				gotA = append(gotA, r)
			case "collector-b":
				assert.Equal(t, pathB, r.Archive)
				gotB = append(gotB, r)
			default:
				t.Fatalf("row of no collector: %+v", r)
			}
		}
		assert.Equal(t, wantA, local(gotA))
		assert.Equal(t, wantB, local(gotB))
		n, err := ix.Count(ctx, parse(t, "source=sippy"))
		require.NoError(t, err)
		na, _ := sqA.Count(ctx, parse(t, "source=sippy"))
		nb, _ := sqB.Count(ctx, parse(t, "source=sippy"))
		assert.Equal(t, na+nb, n)
		assert.Equal(t, sqA.Stats().Lines+sqB.Stats().Lines, func() int {
			pg, err := ix.Search(ctx, auditquery.Query{}, auditquery.PageRequest{Limit: 1})
			require.NoError(t, err)
			return pg.Archive.Lines
		}())
	}
	// A line of the other collector: as indexed, without its text.
	r := wantB[3]
	row, raw, err := a.Line(ctx, "collector-b/"+r.File, r.Line)
	require.NoError(t, err)
	assert.Nil(t, raw)
	assert.Equal(t, "collector-b", row.Collector)
	assert.Equal(t, r, local([]auditquery.Row{row})[0])

	// Rebuild B's rows from its archive: A's are untouched, B's the same.
	require.NoError(t, b.Rebuild(ctx))
	assert.Equal(t, wantB, local(filter(every(t, a, auditquery.Query{}), "collector-b")))
	assert.Equal(t, wantA, local(filter(every(t, b, auditquery.Query{}), "collector-a")))
}

func filter(rows []auditquery.Row, collector string) []auditquery.Row {
	var out []auditquery.Row
	for _, r := range rows {
		if r.Collector == collector {
			out = append(out, r)
		}
	}
	return out
}

// PostgreSQL stopped and killed while a live archive grows and its index
// follows it: refreshes fail meanwhile, then catch up; every line is
// indexed once.
func TestDatabaseDownWhileIndexing(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path, MaxSize: 64 << 10, Compress: true})
	require.NoError(t, err)
	g := auditquerytest.NewGenerator(5, time.Second)
	require.NoError(t, p.Write(ctx, g.Next(200)))
	ix := openPG(t, path, pg.DSN(), "c1", nil)
	failures := 0
	for round := range 12 {
		require.NoError(t, p.Write(ctx, g.Next(150)))
		switch round {
		case 2:
			pg.Stop()
		case 5:
			pg.Start()
		case 7:
			pg.Kill()
		case 9:
			pg.Start()
		}
		if err := ix.Refresh(ctx); err != nil {
			failures++
			assert.NotEmpty(t, ix.Stats().Warnings, "the index says it is behind")
		}
	}
	require.NoError(t, p.Close())
	assert.GreaterOrEqual(t, failures, 4, "refreshes while the database was down")
	require.NoError(t, ix.Refresh(ctx))
	assert.Empty(t, ix.Stats().Warnings)
	want := every(t, openSQLite(t, path, nil), auditquery.Query{})
	got := every(t, ix, auditquery.Query{})
	require.Len(t, got, len(want), "every line once")
	assert.Equal(t, want, local(got))
}
