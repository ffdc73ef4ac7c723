package auditquery

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// genArchive writes n generated events into dir/audit.jsonl, rotating
// every rotate bytes with gzip, and returns the active file's path.
func genArchive(t testing.TB, dir string, n int, rotate int64) string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	opts := archive.WriterOptions{Path: path, MaxSize: rotate, Compress: true}
	require.NoError(t, auditquerytest.WriteArchive(context.Background(), opts, auditquerytest.NewGenerator(7, time.Second), n, 100))
	// The writer compresses rotated files in the background and leaves
	// what it had not done at Close to its next start: on a loaded machine
	// that can be every file. Finish the job as it would, so the tests
	// always see gzipped rotated files.
	files, err := (&archive.Archive{Layout: archive.LayoutFor(path)}).Files()
	require.NoError(t, err)
	for _, f := range files {
		if f.Active || f.Compressed {
			continue
		}
		data, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		gzipLines(t, f.Path+".gz", strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"))
		require.NoError(t, os.Remove(f.Path))
	}
	return path
}

func openIndex(t testing.TB, path string) (*Index, *Snapshot) {
	t.Helper()
	ix, err := Open(path, Options{})
	require.NoError(t, err)
	sn, err := ix.Refresh(context.Background())
	require.NoError(t, err)
	return ix, sn
}

func mustQuery(t testing.TB, raw string) (Query, PageRequest) {
	t.Helper()
	v, err := url.ParseQuery(raw)
	require.NoError(t, err)
	q, p, err := ParseQuery(v, ParseOptions{MaxLimit: 100000})
	require.NoError(t, err, raw)
	return q, p
}

// oracleLine is one archive line decoded the slow, independent way:
// archive.Entries and Entry.Decode.
type oracleLine struct {
	place                                    string // file:line
	key                                      cursor
	status                                   archive.Status
	marker                                   bool
	decoded                                  bool
	ev                                       archive.Event
	source, resource, action, actor, address string
}

func attrString(m map[string]any, k string) string {
	v, ok := m[k]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// oracle reads every line of the archive at path with the archive reader.
func oracle(t testing.TB, path string) []oracleLine {
	t.Helper()
	a, err := archive.Open(path)
	require.NoError(t, err)
	var out []oracleLine
	var prev cursor
	sub := uint32(0)
	for e, err := range a.Entries() {
		require.NoError(t, err)
		l := oracleLine{place: fmt.Sprintf("%s:%d", e.File, e.Line), status: e.Status}
		ev, derr := e.Decode()
		l.decoded = derr == nil
		if l.decoded {
			l.ev = ev
			l.marker = ev.IsMarker()
			ts := ev.Time
			if ts.IsZero() {
				ts = ev.Observed
			}
			if !ts.IsZero() {
				l.key.time = ts.UnixNano()
			}
			at := ev.Attributes
			l.source = ev.Source
			l.action = ev.Name
			if l.action == "" {
				l.action = attrString(at, "audit.action")
			}
			if l.marker {
				l.source, l.action = "", ev.Marker
			}
			l.resource, l.actor = attrString(at, "audit.target"), attrString(at, "audit.actor")
			if ev.Source == "sippy" {
				l.resource, l.actor = cmp.Or(attrString(at, "resource"), l.resource), cmp.Or(attrString(at, "action_by"), l.actor)
			}
			l.address = attrString(at, "audit.client_address")
		}
		if l.key.time == 0 {
			l.key.time = prev.time
		}
		if e.HasSeal {
			l.key.seq, sub = e.Seal.Seq, 0
		} else {
			sub++
			l.key.seq, l.key.sub = prev.seq, sub
		}
		prev = l.key
		out = append(out, l)
	}
	return out
}

// expect filters and orders the oracle's lines as q should.
func expect(lines []oracleLine, q Query) []string {
	var hits []oracleLine
	for _, l := range lines {
		if oracleMatch(l, q) {
			hits = append(hits, l)
		}
	}
	slices.SortStableFunc(hits, func(a, b oracleLine) int {
		switch {
		case b.key.less(a.key):
			return -1
		case a.key.less(b.key):
			return 1
		}
		return 0
	})
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.place
	}
	return out
}

func containsFold(h, n string) bool { return strings.Contains(strings.ToLower(h), strings.ToLower(n)) }

func oracleMatch(l oracleLine, q Query) bool {
	t := l.key.time
	if !q.Since.IsZero() && t < q.Since.UnixNano() || !q.Until.IsZero() && t > q.Until.UnixNano() {
		return false
	}
	if len(q.Sources) > 0 && !slices.ContainsFunc(q.Sources, func(s string) bool { return strings.EqualFold(s, l.source) }) {
		return false
	}
	if len(q.Actions) > 0 && !matchAction(q.Actions, l.action) {
		return false
	}
	if q.Resource != "" && !containsFold(l.resource, q.Resource) {
		return false
	}
	if q.Actor != "" && !containsFold(l.actor, q.Actor) {
		return false
	}
	if q.HasSeverity {
		if !l.decoded || l.marker {
			return false
		}
		lv := severity.FromOTel(severityNumber(l.ev.SeverityNumber))
		if q.SeverityExact && lv != q.Severity || !q.SeverityExact && lv > q.Severity {
			return false
		}
	}
	if q.Integrity != "" {
		bad := l.status != archive.StatusOK || l.marker && alarmMarkers[l.ev.Marker]
		if bad != (q.Integrity == IntegrityProblems) {
			return false
		}
	}
	if q.Text != "" {
		msg := l.ev.Message
		if l.marker {
			msg = ""
		}
		if !slices.ContainsFunc([]string{l.source, l.resource, l.action, l.actor, l.address, msg}, func(s string) bool { return containsFold(s, q.Text) }) {
			return false
		}
	}
	return true
}

// places lists the rows of a result as file:line.
func places(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%s:%d", r.File, r.Line)
	}
	return out
}

// all returns every matching row of sn, in order.
func all(sn *Snapshot, q Query) []Row {
	var rows []Row
	sn.Each(q, func(r Row) bool { rows = append(rows, r); return true })
	return rows
}

func gunzipLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	data, err := io.ReadAll(zr)
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func gzipLines(t testing.TB, path string, lines []string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
}
