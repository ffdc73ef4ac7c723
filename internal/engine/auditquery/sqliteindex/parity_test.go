package sqliteindex_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/sqliteindex"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// genArchive writes n generated events into dir/audit.jsonl, rotating
// every rotate bytes (gzipped when compress), and returns the active
// file's path.
func genArchive(t testing.TB, dir string, n int, rotate int64, compress bool) string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	opts := archive.WriterOptions{Path: path, MaxSize: rotate, Compress: compress}
	require.NoError(t, auditquerytest.WriteArchive(context.Background(), opts, auditquerytest.NewGenerator(7, time.Second), n, 100))
	return path
}

// memory is the reference: the in-memory engine, built from nothing.
func memory(t testing.TB, path string, key []byte) auditquery.MemorySearcher {
	t.Helper()
	ix, err := auditquery.Open(path, auditquery.Options{HMACKey: key})
	require.NoError(t, err)
	sn, err := ix.Refresh(context.Background())
	require.NoError(t, err)
	return auditquery.MemorySearcher{Snap: sn}
}

func openDisk(t testing.TB, path, indexPath string, key []byte) *auditquery.DiskIndex {
	t.Helper()
	ix, err := auditquery.OpenDisk(context.Background(), path, sqliteindex.New(indexPath, sqliteindex.Options{}), auditquery.DiskOptions{HMACKey: key, BatchRows: 700})
	require.NoError(t, err)
	t.Cleanup(func() { ix.Close() })
	require.NoError(t, ix.Refresh(context.Background()))
	return ix
}

func parse(t testing.TB, raw string) (auditquery.Query, auditquery.PageRequest) {
	t.Helper()
	v, err := url.ParseQuery(raw)
	require.NoError(t, err)
	q, p, err := auditquery.ParseQuery(v, auditquery.ParseOptions{MaxLimit: 1_000_000})
	require.NoError(t, err, raw)
	return q, p
}

// every returns all rows matching q, in order, through pages of one
// request (as the viewer asks for them).
func every(t testing.TB, s auditquery.Searcher, q auditquery.Query) []auditquery.Row {
	t.Helper()
	pg, err := s.Search(context.Background(), q, auditquery.PageRequest{Limit: 1_000_000, Page: 1})
	require.NoError(t, err)
	return pg.Rows
}

// export returns what a download of q holds, in a format.
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
	require.NoError(t, s.Export(context.Background(), q, format == auditquery.FormatJSONL, w.Write))
	require.NoError(t, w.Close())
	return buf.String()
}

// parityQueries exercise every filter, alone and combined.
var parityQueries = []string{
	"",
	"source=sippy",
	"source=glassix,ctreplay",
	"source=sipp",
	"action=AUTH_FAIL",
	"action=auth_fail",
	"action=AUTH_FAIL,MFA_FAIL,LoginFailed",
	"action=DELETE*",
	"action=*Recording",
	"action=Login",
	"action=%3DU",
	"resource=accounts",
	"resource=ACCOUNTS:I_ACCOUNT",
	"resource=example.com",
	"actor=main_admin",
	"actor=u:1:3",
	"severity=warning",
	"severity==notice",
	"severity=err",
	"text=recording",
	"text=10.",
	"text=t:0:0",
	"text=sippy",
	"text=Login",
	"text=zz",
	"text=%C3%A9t%C3%A9",
	"text=no such text anywhere",
	"since=2025-03-01T08:20:00Z",
	"until=2025-03-01T08:20:00Z",
	"since=2025-03-01T09:10&until=2025-03-01T09:20&tz=Europe/Rome",
	"source=sippy&action=U,A&resource=accounts",
	"action=DELETE Recording&actor=admin&since=2025-03-01T08:10:00Z",
	"actor=giulia&severity=warning&text=fail",
	"source=sippy&action=U&resource=accounts&actor=u:1&severity=info&text=balance&since=2025-03-01T08:00:00Z&until=2025-03-01T09:00:00Z",
	"integrity=ok",
	"integrity=problems",
	"integrity=problems&text=inserted",
	"parse=failed",
	"parse=ok&source=ctreplay",
	"parse=failed&text=mallory",
}

// assertParity checks that the disk index answers every query as the
// in-memory engine: the same rows (every column, the integrity marks), in
// the same order, the same counts, the same pages by number and by cursor,
// the same downloads byte for byte.
func assertParity(t *testing.T, mem auditquery.MemorySearcher, disk *auditquery.DiskIndex) {
	t.Helper()
	assertParityOf(t, mem, disk, parityQueries)
}

// exported are the queries whose downloads are compared byte for byte
// (every row read back from its file, gzipped ones decompressed: the
// costliest check, kept to a few queries that cover each kind of row).
var exported = map[string]bool{"": true, "integrity=problems": true, "text=recording": true, "source=sippy&action=U,A&resource=accounts": true, "parse=failed": true}

// quickQueries are the few the lifecycle tests check after each step: every
// row, a dictionary filter, the text index, integrity and time.
var quickQueries = []string{"", "source=sippy&action=AUTH_FAIL,Login", "text=recording", "resource=accounts", "integrity=problems", "since=2025-03-01T08:20:00Z"}

func assertParityOf(t *testing.T, mem auditquery.MemorySearcher, disk *auditquery.DiskIndex, queries []string) {
	t.Helper()
	ctx := context.Background()
	ms, ds := mem.Stats(), disk.Stats()
	assert.Equal(t, ms.Files, ds.Files, "files")
	assert.Equal(t, ms.Lines, ds.Lines, "lines")
	assert.Equal(t, ms.Events, ds.Events, "events")
	assert.Equal(t, ms.Markers, ds.Markers, "markers")
	assert.Equal(t, ms.Problems, ds.Problems, "problems")
	for _, raw := range queries {
		t.Run(raw, func(t *testing.T) {
			q, _ := parse(t, raw)
			want := every(t, mem, q)
			got := every(t, disk, q)
			require.Equal(t, len(want), len(got), "rows")
			for i := range want {
				if !assert.Equal(t, want[i], got[i], "row %d", i) {
					break
				}
			}
			wn, err := mem.Count(ctx, q)
			require.NoError(t, err)
			dn, err := disk.Count(ctx, q)
			require.NoError(t, err)
			assert.Equal(t, wn, dn, "count")

			// Pages of 37 by number, then by cursor, and the last page.
			for _, page := range []int{1, 2, 5} {
				wp, _ := mem.Search(ctx, q, auditquery.PageRequest{Limit: 37, Page: page})
				dp, err := disk.Search(ctx, q, auditquery.PageRequest{Limit: 37, Page: page})
				require.NoError(t, err)
				assert.Equal(t, wp.Rows, dp.Rows, "page %d", page)
				assert.Equal(t, wp.Total, dp.Total, "total")
				assert.Equal(t, wp.NextCursor, dp.NextCursor, "next cursor of page %d", page)
			}
			cur := ""
			for range 3 {
				wp, _ := mem.Search(ctx, q, auditquery.PageRequest{Limit: 37, Cursor: cur})
				dp, err := disk.Search(ctx, q, auditquery.PageRequest{Limit: 37, Cursor: cur})
				require.NoError(t, err)
				assert.Equal(t, wp.Rows, dp.Rows, "page after cursor %q", cur)
				assert.Equal(t, wp.NextCursor, dp.NextCursor)
				if cur = dp.NextCursor; cur == "" {
					break
				}
			}
			wl, _ := mem.Search(ctx, q, auditquery.PageRequest{Limit: 37, Last: true})
			dl, err := disk.Search(ctx, q, auditquery.PageRequest{Limit: 37, Last: true})
			require.NoError(t, err)
			assert.Equal(t, wl.Page, dl.Page, "last page's number")
			assert.Equal(t, wl.Rows, dl.Rows, "last page")

			if exported[raw] {
				assert.Equal(t, export(t, mem, q, auditquery.FormatCSV), export(t, disk, q, auditquery.FormatCSV), "CSV download")
				assert.Equal(t, export(t, mem, q, auditquery.FormatJSONL), export(t, disk, q, auditquery.FormatJSONL), "JSONL download")
			}
		})
	}
	// Single lines, as the detail view asks for them.
	all := every(t, mem, auditquery.Query{})
	for i := 0; i < len(all); i += max(len(all)/25, 1) {
		r := all[i]
		wr, wl, werr := mem.Line(ctx, r.File, r.Line)
		dr, dl, derr := disk.Line(ctx, r.File, r.Line)
		assert.Equal(t, werr, derr)
		assert.Equal(t, wr, dr, "%s:%d", r.File, r.Line)
		assert.Equal(t, string(wl), string(dl))
	}
	_, _, werr := mem.Line(ctx, "audit.jsonl", 1_000_000)
	_, _, derr := disk.Line(ctx, "audit.jsonl", 1_000_000)
	assert.Equal(t, werr, derr, "no such line")
}

// A sound archive over rotated, gzipped and active files.
func TestParitySoundArchive(t *testing.T) {
	dir := t.TempDir()
	path := genArchive(t, dir, 2000, 128<<10, true)
	disk := openDisk(t, path, filepath.Join(t.TempDir(), "index"), nil)
	mem := memory(t, path, nil)
	require.Greater(t, mem.Stats().Files, 4)
	assertParity(t, mem, disk)

	// Pages read pair by pair (action, source) or actor by actor, as they
	// are when more than 10 000 rows match, give the same rows.
	require.NoError(t, disk.Close())
	pairs, err := auditquery.OpenDisk(context.Background(), path, newDB(filepath.Join(t.TempDir(), "index")), auditquery.DiskOptions{PairsAlways: true})
	require.NoError(t, err)
	defer pairs.Close()
	require.NoError(t, pairs.Refresh(context.Background()))
	assertParityOf(t, mem, pairs, pairQueries)
}

// pairQueries are the filters read pair by pair.
var pairQueries = []string{"source=sippy", "action=AUTH_FAIL,MFA_FAIL,LoginFailed", "source=glassix,ctreplay&action=Login,DELETE", "actor=main_admin",
	"actor=u:1:3&severity=warning", "source=sippy&action=%3DU&since=2025-03-01T08:20:00Z", "action=DELETE*&text=recording"}

// An archive with every kind of damage: a changed line, a removed line (its
// successor unlinked), a foreign line, a broken link between files, a
// changed line in a gzipped file, an incomplete last line; and an HMAC key.
func TestParityDamagedArchive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	key := []byte("0123456789abcdef0123")
	opts := archive.WriterOptions{Path: path, MaxSize: 128 << 10, Compress: false, HMACKey: key}
	require.NoError(t, auditquerytest.WriteArchive(context.Background(), opts, auditquerytest.NewGenerator(11, time.Second), 1500, 50))
	files, err := (&archive.Archive{Layout: archive.LayoutFor(path)}).Files()
	require.NoError(t, err)
	require.Greater(t, len(files), 4)

	lines := readLines(t, files[0].Path)
	lines[10] = strings.Replace(lines[10], `"severity_number":`, `"severity_number":1`, 1)
	lines = append(lines[:20], lines[21:]...)
	lines = append(lines[:50], append([]string{`{"note":"inserted by hand","source":"sippy"}`}, lines[50:]...)...)
	writeLines(t, files[0].Path, lines)

	lines = readLines(t, files[1].Path)
	writeLines(t, files[1].Path, lines[:len(lines)-1]) // files[2] starts unlinked

	lines = readLines(t, files[3].Path)
	lines[4] = strings.Replace(lines[4], `"message":"`, `"message":"forged `, 1)
	gzipLines(t, files[3].Path+".gz", lines)
	require.NoError(t, os.Remove(files[3].Path))

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"seq":99999,"prev":"cut short`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	disk := openDisk(t, path, filepath.Join(t.TempDir(), "index"), key)
	mem := memory(t, path, key)
	require.GreaterOrEqual(t, mem.Stats().Problems, 5)
	assertParity(t, mem, disk)

	// Without the key the index is built again: HMACs are not checked.
	disk.Close()
	again := openDisk(t, path, filepath.Join(t.TempDir(), "index"), nil)
	assertParityOf(t, memory(t, path, nil), again, quickQueries)
}

// Records flagged as not all readable: shown marked, with the time they
// were received, found by the parse filter, by both engines alike.
func TestParityParseFlagged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path, MaxSize: 96 << 10, Compress: true})
	require.NoError(t, err)
	g := auditquerytest.NewGenerator(3, time.Second)
	ctx := context.Background()
	require.NoError(t, p.Write(ctx, g.Next(400)))
	require.NoError(t, p.Write(ctx, auditquerytest.Unparsed(6, auditquerytest.Start.Add(100*time.Second))))
	require.NoError(t, p.Write(ctx, g.Next(400)))
	require.NoError(t, p.Close())

	disk := openDisk(t, path, filepath.Join(t.TempDir(), "index"), nil)
	mem := memory(t, path, nil)
	q, _ := parse(t, "parse=failed")
	flagged := every(t, disk, q)
	require.Len(t, flagged, 6)
	for _, r := range flagged {
		assert.NotEmpty(t, r.ParseError)
		assert.True(t, r.TimeReceived, "the Date is when it was received")
		assert.Equal(t, "ok", r.Integrity, "sound archive lines: the input was bad, not the archive")
	}
	assertParity(t, mem, disk)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
}

func gzipLines(t *testing.T, path string, lines []string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := io.WriteString(zw, strings.Join(lines, "\n")+"\n")
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
}

func newDB(path string) *sqliteindex.DB { return sqliteindex.New(path, sqliteindex.Options{}) }
