package auditquery

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

func severityNumber(n int) plog.SeverityNumber { return plog.SeverityNumber(n) }

// Every filter, alone and combined, gives exactly the lines an independent
// decode of the whole archive selects, newest first, over rotated, gzipped
// and active files.
func TestSearchMatchesAFullDecode(t *testing.T) {
	path := genArchive(t, t.TempDir(), 3000, 192<<10)
	files, err := (&archive.Archive{Layout: archive.LayoutFor(path)}).Files()
	require.NoError(t, err)
	require.Greater(t, len(files), 4, "several files")
	require.True(t, files[0].Compressed, "gzipped rotated files")
	_, sn := openIndex(t, path)
	lines := oracle(t, path)
	require.Len(t, lines, 3000)
	assert.Equal(t, 3000, sn.Lines)
	assert.Equal(t, 0, sn.Problems)

	mid := auditquerytest.Start.Add(1500 * time.Second)
	tests := []struct {
		name, query string
		atLeast     int // sanity: the filter is not trivially empty
	}{
		{"no filter", "", 3000},
		{"one source", "source=sippy", 300},
		{"two sources", "source=glassix,ctreplay", 1000},
		{"source is exact", "source=sipp", 0},
		{"action exact code", "action=AUTH_FAIL", 20},
		{"action ignores case", "action=auth_fail", 20},
		{"action list", "action=AUTH_FAIL,MFA_FAIL,LoginFailed", 40},
		{"action wildcard", "action=DELETE*", 50},
		{"action wildcard inside", "action=*Recording", 50},
		{"resource substring", "resource=accounts", 50},
		{"resource ignores case", "resource=ACCOUNTS:I_ACCOUNT", 20},
		{"glassix target as resource", "resource=example.com", 500},
		{"actor substring", "actor=main_admin", 100},
		{"sippy actor string", "actor=u:1:3", 100},
		{"severity at least warning", "severity=warning", 50},
		{"severity alias", "severity=warn", 50},
		{"severity exactly notice", "severity==notice", 50},
		{"severity at least err", "severity=err", 5},
		{"text in message", "text=recording", 100},
		{"text in address", "text=10.", 50},
		{"text in actor", "text=t:0:0", 20},
		{"since", "since=" + mid.Format(time.RFC3339Nano), 1000},
		{"until", "until=" + mid.Format(time.RFC3339Nano), 1000},
		{"since and until local with tz", "since=2025-03-01T09:10&until=2025-03-01T09:20&tz=Europe/Rome", 100},
		{"since and until as the page sends them in UTC", "since=2025-03-01T08:10&until=2025-03-01T08:20&tz=UTC", 100},
		{"sippy table edits of accounts", "source=sippy&action=U,A&resource=accounts", 10},
		{"who deleted recordings since", "action=DELETE Recording&actor=admin&since=" + mid.Format(time.RFC3339), 3},
		{"security failures of one user", "actor=giulia&severity=warning&text=fail", 3},
		{"everything at once", "source=sippy&action=U&resource=accounts&actor=u:1&severity=info&text=balance&since=2025-03-01T08:00:00Z&until=2025-03-01T09:00:00Z", 1},
		{"nothing matches", "actor=nobody-at-all", 0},
		{"integrity ok", "integrity=ok", 3000},
		{"integrity problems", "integrity=problems", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := mustQuery(t, tt.query)
			want := expect(lines, q)
			got := places(all(sn, q))
			assert.Equal(t, want, got)
			assert.GreaterOrEqual(t, len(got), tt.atLeast)
			assert.Equal(t, len(want), sn.Count(q))
		})
	}
}

// Pages by number and by cursor both walk the whole result once, in order.
func TestPagination(t *testing.T) {
	path := genArchive(t, t.TempDir(), 1000, 128<<10)
	_, sn := openIndex(t, path)
	q, _ := mustQuery(t, "source=sippy,glassix")
	want := places(all(sn, q))
	require.Greater(t, len(want), 500)

	var byPage []string
	for page := 1; ; page++ {
		p := sn.Search(q, PageRequest{Limit: 37, Page: page})
		assert.Equal(t, len(want), p.Total)
		if len(p.Rows) == 0 {
			break
		}
		assert.LessOrEqual(t, len(p.Rows), 37)
		byPage = append(byPage, places(p.Rows)...)
	}
	assert.Equal(t, want, byPage)

	var byCursor []string
	cur := ""
	for {
		p := sn.Search(q, PageRequest{Limit: 37, Cursor: cur})
		byCursor = append(byCursor, places(p.Rows)...)
		if p.NextCursor == "" {
			break
		}
		cur = p.NextCursor
	}
	assert.Equal(t, want, byCursor)

	last := sn.Search(q, PageRequest{Limit: 1000, Page: 1})
	assert.Empty(t, last.NextCursor, "no next cursor on the last page")
	beyond := sn.Search(q, PageRequest{Limit: 37, Page: 1000})
	assert.Empty(t, beyond.Rows)
	assert.Equal(t, len(want), beyond.Total)
}

// The index follows a live archive: new lines in the active file, rotation
// (the active file's segment becomes the rotated file's), compression, and
// a cursor taken before new events arrived continues where it was.
func TestRefreshFollowsALiveArchive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path, MaxSize: 64 << 10, Compress: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()
	g := auditquerytest.NewGenerator(3, time.Second)
	ctx := context.Background()
	require.NoError(t, p.Write(ctx, g.Next(40)))

	ix, err := Open(path, Options{})
	require.NoError(t, err)
	sn, err := ix.Refresh(ctx)
	require.NoError(t, err)
	assert.Equal(t, 40, sn.Lines)
	first := sn.Search(Query{}, PageRequest{Limit: 10})
	require.NotEmpty(t, first.NextCursor)
	wantAfter := seqs(all(sn, Query{}))[10:]

	for range 30 {
		require.NoError(t, p.Write(ctx, g.Next(25)))
		sn, err = ix.Refresh(ctx)
		require.NoError(t, err)
		assert.Equal(t, 0, sn.Problems, "no line is seen half-written or unlinked")
	}
	require.Greater(t, sn.Files, 3, "rotated meanwhile")
	// The writer may gzip a rotated file between the two reads.
	assert.Equal(t, stems(expect(oracle(t, path), Query{})), stems(places(all(sn, Query{}))))
	assert.Equal(t, 40+30*25, sn.Lines)

	// New events are newer (generated later): the old cursor's next page
	// is what followed it before.
	next := sn.Search(Query{}, PageRequest{Limit: 10, Cursor: first.NextCursor})
	assert.Equal(t, wantAfter[:10], seqs(next.Rows))

	// Nothing new: a refresh reads nothing and keeps the indexed rows
	// (a file compressed meanwhile keeps its rows too).
	again, err := ix.Refresh(ctx)
	require.NoError(t, err)
	require.Len(t, again.segs, len(sn.segs))
	for i := range sn.segs {
		assert.Same(t, &sn.segs[i].time[0], &again.segs[i].time[0], sn.segs[i].stem)
	}
}

func stems(places []string) []string {
	out := make([]string, len(places))
	for i, p := range places {
		out[i] = strings.Replace(p, ".gz:", ":", 1)
	}
	return out
}

func seqs(rows []Row) []uint64 {
	out := make([]uint64, len(rows))
	for i, r := range rows {
		out[i] = r.Seq
	}
	return out
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// A tampered line is never shown unmarked: changed content, a removed
// line (its successor is unlinked), an inserted foreign line, and a line
// changed after it was indexed.
func TestTamperedLinesAreMarked(t *testing.T) {
	dir := t.TempDir()
	path := genArchive(t, dir, 300, 0)
	lines := readLines(t, path)
	require.Len(t, lines, 300)
	lines[10] = strings.Replace(lines[10], `"severity_number":`, `"severity_number":1`, 1) // changed, hash kept
	lines = append(lines[:20], lines[21:]...)                                              // line 21 removed: the new line 21 is unlinked
	lines = append(lines[:50], append([]string{`{"note":"inserted by hand"}`}, lines[50:]...)...)
	writeLines(t, path, lines)

	ix, sn := openIndex(t, path)
	problems := all(sn, Query{Integrity: IntegrityProblems})
	got := map[string]string{}
	for _, r := range problems {
		got[places([]Row{r})[0]] = r.Integrity
		assert.NotEmpty(t, r.IntegrityError)
		assert.True(t, r.Flagged())
	}
	assert.Equal(t, map[string]string{
		"audit.jsonl:11": "modified",
		"audit.jsonl:21": "unlinked",
		"audit.jsonl:51": "malformed",
		// audit.jsonl:52 is checked against the sound line before the
		// inserted one, so it is fine.
	}, got)
	assert.Equal(t, sn.Problems, len(problems))

	// The inserted line sits where it is, beside its neighbour.
	broken := problems[slicesIndex(problems, "audit.jsonl:51")]
	assert.Equal(t, "broken", broken.Kind)
	assert.Contains(t, broken.Message, "inserted by hand")

	// Changed after indexing, without a refresh: the export marks it.
	lines = readLines(t, path)
	lines[99] = strings.Replace(lines[99], `"message":"`, `"message":"X`, 1)
	writeLines(t, path, lines)
	var changed []*Row
	require.NoError(t, sn.Export(context.Background(), Query{}, true, func(r *Row, _ []byte) error {
		if r.Integrity != "ok" {
			c := *r
			changed = append(changed, &c)
		}
		return nil
	}))
	var sawChange bool
	for _, r := range changed {
		if r.IntegrityError == changedSinceIndexed {
			sawChange = true
		}
	}
	assert.True(t, sawChange, "a line changed after indexing is marked in exports")
	// After a refresh the change is seen as modified by the hash check.
	sn, err := ix.Refresh(context.Background())
	require.NoError(t, err)
	row, _, err := sn.Line("audit.jsonl", 100)
	require.NoError(t, err)
	assert.Equal(t, "modified", row.Integrity)
}

func slicesIndex(rows []Row, place string) int {
	for i, r := range rows {
		if places([]Row{r})[0] == place {
			return i
		}
	}
	return -1
}

// A rotated, gzipped file rewritten with a changed line is indexed again
// and the line marked; the next file's first line is still linked.
func TestTamperedGzipFile(t *testing.T) {
	dir := t.TempDir()
	path := genArchive(t, dir, 600, 96<<10)
	ix, sn := openIndex(t, path)
	require.Zero(t, sn.Problems)
	var gz archive.File
	files, err := ix.arch.Files()
	require.NoError(t, err)
	for _, f := range files {
		if f.Compressed {
			gz = f
			break
		}
	}
	require.NotEmpty(t, gz.Name)
	lines := gunzipLines(t, gz.Path)
	lines[4] = strings.Replace(lines[4], `"message":"`, `"message":"forged `, 1)
	gzipLines(t, gz.Path, lines)

	sn, err = ix.Refresh(context.Background())
	require.NoError(t, err)
	problems := all(sn, Query{Integrity: IntegrityProblems})
	require.Len(t, problems, 1)
	assert.Equal(t, gz.Name, problems[0].File)
	assert.Equal(t, 5, problems[0].Line)
	assert.Equal(t, "modified", problems[0].Integrity)
	assert.Contains(t, problems[0].Message, "forged")
}

// A line that is not linked to the previous file is marked: the first line
// of a file whose predecessor lost its last line.
func TestBrokenLinkBetweenFiles(t *testing.T) {
	dir := t.TempDir()
	path := genArchive(t, dir, 400, 64<<10)
	ix, _ := openIndex(t, path)
	files, err := ix.arch.Files()
	require.NoError(t, err)
	require.Greater(t, len(files), 2)
	f := files[0] // gzipped, or plain when the writer closed before compressing it
	if f.Compressed {
		lines := gunzipLines(t, f.Path)
		gzipLines(t, f.Path, lines[:len(lines)-1])
	} else {
		lines := readLines(t, f.Path)
		writeLines(t, f.Path, lines[:len(lines)-1])
	}
	sn, err := ix.Refresh(context.Background())
	require.NoError(t, err)
	problems := all(sn, Query{Integrity: IntegrityProblems})
	require.Len(t, problems, 1)
	assert.Equal(t, files[1].Name, problems[0].File)
	assert.Equal(t, 1, problems[0].Line)
	assert.Equal(t, "unlinked", problems[0].Integrity)
	assert.Contains(t, problems[0].IntegrityError, "missing")
}

func TestParseQueryErrors(t *testing.T) {
	v := url.Values{}
	v.Set("severity", "loud")
	v.Set("since", "yesterday")
	v.Set("until", "2024-13-01")
	v.Set("tz", "Mars/Olympus")
	v.Set("limit", "0")
	v.Set("page", "x")
	v.Set("cursor", "%%%")
	v.Set("integrity", "maybe")
	_, _, err := ParseQuery(v, ParseOptions{})
	require.Error(t, err)
	for _, want := range []string{"severity: unknown severity \"loud\"", "since: \"yesterday\": want RFC 3339", "until: \"2024-13-01\"",
		"tz: unknown time zone \"Mars/Olympus\"", "limit: \"0\"", "page: \"x\"", "cursor: not a cursor", "integrity: \"maybe\""} {
		assert.ErrorContains(t, err, want)
	}

	v = url.Values{"limit": {"5000"}}
	_, _, err = ParseQuery(v, ParseOptions{MaxLimit: 1000})
	assert.EqualError(t, err, "limit: 5000 is more than the maximum page size 1000")

	v = url.Values{"since": {"2024-01-02"}, "until": {"2024-01-01"}}
	_, _, err = ParseQuery(v, ParseOptions{})
	assert.EqualError(t, err, "until is before since")
}

func TestParseQueryTimes(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	tests := []struct {
		name, since, until, tz string
		wantSince, wantUntil   time.Time
	}{
		{"RFC 3339 with offset", "2024-01-11T10:18:32+01:00", "2024-01-11T10:18:32.5+01:00", "",
			time.Date(2024, 1, 11, 9, 18, 32, 0, time.UTC), time.Date(2024, 1, 11, 9, 18, 32, 599999999, time.UTC)},
		{"date-time-local in UTC by default, until takes in its whole minute", "2024-01-11T09:18", "2024-01-11T09:19", "",
			time.Date(2024, 1, 11, 9, 18, 0, 0, time.UTC), time.Date(2024, 1, 11, 9, 19, 59, 999999999, time.UTC)},
		{"date-time-local in the browser's zone", "2024-07-01T10:00", "2024-07-01 10:00:30", "Europe/Rome",
			time.Date(2024, 7, 1, 10, 0, 0, 0, rome).UTC(), time.Date(2024, 7, 1, 10, 0, 30, 999999999, rome).UTC()},
		{"RFC 3339 without seconds", "2024-01-11T09:18Z", "2024-01-11T10:19+01:00", "",
			time.Date(2024, 1, 11, 9, 18, 0, 0, time.UTC), time.Date(2024, 1, 11, 9, 19, 59, 999999999, time.UTC)},
		{"a bare date until takes in the whole day", "2024-01-11", "2024-01-11", "+02:00",
			time.Date(2024, 1, 10, 22, 0, 0, 0, time.UTC), time.Date(2024, 1, 11, 21, 59, 59, 999999999, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"since": {tt.since}, "until": {tt.until}, "tz": {tt.tz}}
			q, _, err := ParseQuery(v, ParseOptions{})
			require.NoError(t, err)
			assert.Equal(t, tt.wantSince, q.Since)
			assert.Equal(t, tt.wantUntil, q.Until)
		})
	}
}

func TestGlobFold(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"U", "U", true}, {"u", "U", true}, {"U", "UserAdded", false},
		{"DELETE*", "DELETE Recording", true}, {"delete *", "DELETE Profile", true}, {"*Recording", "PLAY Recording", true},
		{"MFA_*", "MFA_FAIL", true}, {"MFA_*", "AUTH_FAIL", false}, {"*a*b*", "xaxbx", true}, {"*a*b*", "xbxax", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, globFold(tt.p, tt.s), "%s ~ %s", tt.p, tt.s)
	}
}

// The writer only appends to the active file. A line changed in place is
// found: at once when the change moved the lines after it, and at the next
// full check (RecheckActive) when it did not.
func TestActiveFileChangedInPlace(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		recheck time.Duration
	}{
		{"longer line: the tail moved", func(l string) string { return strings.Replace(l, `"message":"`, `"message":"more `, 1) }, 0},
		{"same length, found by the full check", func(l string) string {
			i := strings.Index(l, `"message":"`) + len(`"message":"`)
			c := "X"
			if l[i] == 'X' {
				c = "Y"
			}
			return l[:i] + c + l[i+1:]
		}, time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.jsonl")
			p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path})
			require.NoError(t, err)
			defer func() { require.NoError(t, p.Close()) }()
			g := auditquerytest.NewGenerator(5, time.Second)
			require.NoError(t, p.Write(context.Background(), g.Next(100)))
			ix, err := Open(path, Options{RecheckActive: tt.recheck})
			require.NoError(t, err)
			sn, err := ix.Refresh(context.Background())
			require.NoError(t, err)
			require.Zero(t, sn.Problems)

			lines := readLines(t, path)
			edited := tt.edit(lines[49])
			require.NotEqual(t, lines[49], edited)
			lines[49] = edited
			writeLines(t, path, lines)
			require.NoError(t, p.Write(context.Background(), g.Next(10)))

			sn, err = ix.Refresh(context.Background())
			require.NoError(t, err)
			assert.Equal(t, 110, sn.Lines)
			problems := all(sn, Query{Integrity: IntegrityProblems})
			require.Len(t, problems, 1)
			assert.Equal(t, 50, problems[0].Line)
			assert.Equal(t, "modified", problems[0].Integrity)
		})
	}
}

// Input the writer never produces is shown, marked, and never hides the
// sound lines beside it: a duplicated line, an over-long line, a rotated
// file cut mid-line; a line the writer is still writing is not shown until
// it is whole.
func TestDamagedAndPartialInput(t *testing.T) {
	dir := t.TempDir()
	path := genArchive(t, dir, 400, 64<<10)
	ix, sn := openIndex(t, path)
	require.Zero(t, sn.Problems)
	files, err := ix.arch.Files()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)

	// A rotated file cut in the middle of its last line.
	rotated := files[1]
	var lines []string
	if rotated.Compressed {
		lines = gunzipLines(t, rotated.Path)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, err := zw.Write([]byte(strings.Join(lines, "\n")[:len(strings.Join(lines, "\n"))-40]))
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		require.NoError(t, os.WriteFile(rotated.Path, buf.Bytes(), 0o600))
	} else {
		lines = readLines(t, rotated.Path)
		joined := strings.Join(lines, "\n")
		require.NoError(t, os.WriteFile(rotated.Path, []byte(joined[:len(joined)-40]), 0o600))
	}

	// In the active file: a duplicated line, an over-long line, and a last
	// line still being written.
	active := readLines(t, path)
	require.Greater(t, len(active), 5)
	dup := active[2]
	active = append(active[:3], append([]string{dup}, active[3:]...)...)
	long := `{"message":"` + strings.Repeat("x", archive.MaxLineSize) + `"}`
	active = append(active[:6], append([]string{long}, active[6:]...)...)
	partial := active[len(active)-1]
	data := strings.Join(active[:len(active)-1], "\n") + "\n" + partial[:len(partial)/2]
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))

	sn, err = ix.Refresh(context.Background())
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range all(sn, Query{Integrity: IntegrityProblems}) {
		got[places([]Row{r})[0]] = r.Integrity
		if r.Integrity == "malformed" {
			assert.Equal(t, "broken", r.Kind)
			assert.LessOrEqual(t, len(r.Message), MaxFieldBytes)
		}
	}
	assert.Equal(t, map[string]string{
		rotated.Name + ":" + fmt.Sprint(len(lines)): "incomplete",
		files[2].Name + ":1":                        "unlinked", // its predecessor is the cut line
		"audit.jsonl:4":                             "unlinked", // the duplicate: seq out of order
		"audit.jsonl:7":                             "malformed",
	}, got)
	assert.Equal(t, 400+2-1, sn.Lines, "the partial last line of the active file is not shown yet")

	// Once the writer finishes the line it is shown, sound.
	require.NoError(t, os.WriteFile(path, []byte(data+partial[len(partial)/2:]+"\n"), 0o600))
	sn, err = ix.Refresh(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 400+2, sn.Lines)
	assert.Len(t, all(sn, Query{Integrity: IntegrityProblems}), 4)
}

// With a memory limit, the newest files that fit are indexed and the rest
// are left out and counted, without false alarms at the cut.
func TestMemoryLimit(t *testing.T) {
	path := genArchive(t, t.TempDir(), 1500, 96<<10)
	_, full := openIndex(t, path)
	require.Greater(t, full.Files, 8)

	ix, err := Open(path, Options{MemoryLimit: int64(full.IndexBytes / 3)})
	require.NoError(t, err)
	sn, err := ix.Refresh(context.Background())
	require.NoError(t, err)
	assert.Positive(t, sn.ExcludedFiles)
	assert.Equal(t, full.Files, sn.Files+sn.ExcludedFiles)
	assert.LessOrEqual(t, sn.IndexBytes, full.IndexBytes/3+full.IndexBytes/full.Files, "within the limit, give or take a file's estimate")
	assert.Zero(t, sn.Problems)
	require.NotEmpty(t, sn.Warnings)
	assert.Contains(t, sn.Warnings[0], fmt.Sprintf("the %d oldest rotated files", sn.ExcludedFiles))
	// What is indexed is the newest part, the same rows as the full index.
	got := places(all(sn, Query{}))
	want := places(all(full, Query{}))
	require.Less(t, len(got), len(want))
	files := map[string]bool{}
	for _, p := range got {
		files[p[:strings.LastIndexByte(p, ':')]] = true
	}
	for _, s := range full.segs[:sn.ExcludedFiles] {
		assert.False(t, files[s.file.Name], "%s is left out", s.file.Name)
	}
	again, err := ix.Refresh(context.Background())
	require.NoError(t, err)
	assert.Equal(t, sn.ExcludedFiles, again.ExcludedFiles, "stable across refreshes")
}
