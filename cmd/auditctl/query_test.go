package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

// mixedArchive writes n mixed-vendor events (real auditlog processor, real
// writer; rotated and gzipped) and returns the directory.
func mixedArchive(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	opts := archive.WriterOptions{Path: filepath.Join(dir, "audit.jsonl"), MaxSize: 128 << 10, Compress: true}
	require.NoError(t, auditquerytest.WriteArchive(context.Background(), opts, auditquerytest.NewGenerator(21, time.Second), n, 50))
	return dir
}

// allLines maps each archive line's text to its file:line.
func allLines(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.Contains(e.Name(), ".jsonl") || strings.HasSuffix(e.Name(), ".head") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		var r io.Reader = f
		if strings.HasSuffix(e.Name(), ".gz") {
			zr, err := gzip.NewReader(f)
			require.NoError(t, err)
			r = zr
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			out[sc.Text()] = fmt.Sprintf("%s:%d", e.Name(), n)
		}
		f.Close()
	}
	return out
}

// engine answers the same filter through the shared engine directly.
func engine(t *testing.T, dir string, v url.Values) []auditquery.Row {
	t.Helper()
	ix, err := auditquery.Open(dir, auditquery.Options{})
	require.NoError(t, err)
	sn, err := ix.Refresh(context.Background())
	require.NoError(t, err)
	q, _, err := auditquery.ParseQuery(v, auditquery.ParseOptions{Location: time.Local})
	require.NoError(t, err)
	var rows []auditquery.Row
	sn.Each(q, func(r auditquery.Row) bool { rows = append(rows, r); return true })
	return rows
}

// Each flag, and flags together, select what the engine selects for the
// same parameters, newest first; json prints the archive's own lines.
func TestQueryFilters(t *testing.T) {
	dir := mixedArchive(t, 1500)
	lines := allLines(t, dir)
	tests := []struct {
		name string
		args []string
		min  int
	}{
		{"everything", nil, 1500},
		{"source", []string{"--source", "sippy"}, 300},
		{"resource", []string{"--resource", "accounts"}, 20},
		{"action", []string{"--action", "DELETE*,AUTH_FAIL"}, 50},
		{"actor", []string{"--actor", "giulia"}, 100},
		{"severity", []string{"--severity", "warning"}, 20},
		{"exact severity", []string{"--severity", "=notice"}, 20},
		{"text", []string{"--text", "recording"}, 50},
		{"since and until in UTC", []string{"--since", "2025-03-01T08:05", "--until", "2025-03-01T08:15", "--tz", "UTC"}, 500},
		{"since and until with offsets", []string{"--since", "2025-03-01T09:05:00+01:00", "--until", "2025-03-01T08:15:00Z"}, 500},
		{"combined", []string{"--source", "sippy,glassix", "--actor", "main_admin", "--severity", "info", "--since", "2025-03-01T08:10:00Z"}, 20},
		{"integrity problems", []string{"--integrity", "problems"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"query", "--format", "json", "--limit", "0"}, tt.args...)
			code, out, errOut := runCLI(append(args, dir)...)
			require.Equal(t, exitOK, code, errOut)
			v := url.Values{}
			for i := 0; i < len(tt.args); i += 2 {
				v.Set(strings.TrimPrefix(tt.args[i], "--"), tt.args[i+1])
			}
			want := engine(t, dir, v)
			require.GreaterOrEqual(t, len(want), tt.min)
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if l != "" {
					require.Contains(t, lines, l, "an archive line, byte for byte")
					got = append(got, lines[l])
				}
			}
			var wantPlaces []string
			for _, r := range want {
				wantPlaces = append(wantPlaces, fmt.Sprintf("%s:%d", r.File, r.Line))
			}
			assert.Equal(t, wantPlaces, got)
			assert.Empty(t, errOut)
		})
	}
}

func TestQueryTableAndLimit(t *testing.T) {
	dir := mixedArchive(t, 300)
	code, out, errOut := runCLI("query", "--tz", "Asia/Kolkata", "--source", "sippy", dir)
	require.Equal(t, exitOK, code, errOut)
	rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Regexp(t, `^\s+DATE\s+SOURCE\s+RESOURCE\s+ACTION\s+ACTION BY\s+USER IP/NODE\s+SEVERITY\s+MESSAGE`, rows[0])
	want := engine(t, dir, url.Values{"source": {"sippy"}})
	require.Greater(t, len(want), 10)
	n := min(len(want), 100)
	require.Len(t, rows, n+1)
	ts, err := time.Parse(time.RFC3339Nano, want[0].Time)
	require.NoError(t, err)
	kolkata := time.FixedZone("IST", 5*3600+1800)
	assert.Contains(t, rows[1], ts.In(kolkata).Format("2006-01-02 15:04:05.000 -07:00"))
	assert.Contains(t, rows[1], want[0].Actor)
	if len(want) > 100 {
		assert.Contains(t, errOut, fmt.Sprintf("printed the newest 100 of %d matching events", len(want)))
	}

	code, out, errOut = runCLI("query", "--limit", "3", "--format", "csv", dir)
	require.Equal(t, exitOK, code)
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 4)
	assert.Equal(t, auditquery.CSVHeader, records[0])
	assert.Contains(t, errOut, "printed the newest 3 of 300 matching events")
}

// A tampered line is marked in every format, and the exit status says so.
func TestQueryMarksTamperedLines(t *testing.T) {
	dir := mixedArchive(t, 100)
	path := filepath.Join(dir, "audit.jsonl")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	lines[2] = strings.Replace(lines[2], `"message":"`, `"message":"forged `, 1)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	code, out, errOut := runCLI("query", "--text", "forged", dir)
	assert.Equal(t, exitProblem, code)
	assert.Regexp(t, `(?m)^!!\s.*forged.*\[INTEGRITY MODIFIED: content does not match its hash \(audit.jsonl:3\)\]`, out)
	assert.Contains(t, errOut, "1 of the events printed failed their integrity check")

	code, out, _ = runCLI("query", "--format", "json", "--text", "forged", dir)
	assert.Equal(t, exitProblem, code)
	var flagged map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &flagged))
	assert.Equal(t, "modified", flagged["integrity"])
	assert.Equal(t, lines[2], flagged["raw"])
	assert.EqualValues(t, 3, flagged["line"])

	code, out, _ = runCLI("query", "--format", "csv", "--integrity", "problems", dir)
	assert.Equal(t, exitProblem, code)
	records, err := csv.NewReader(bytes.NewReader([]byte(out))).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 2)
	assert.Equal(t, []string{"modified", "content does not match its hash"}, records[1][8:10])

	// The sound lines beside it print as before, exit 0.
	code, _, _ = runCLI("query", "--integrity", "ok", "--limit", "0", dir)
	assert.Equal(t, exitOK, code)
}

func TestQueryUsageErrors(t *testing.T) {
	dir := mixedArchive(t, 10)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no path", []string{"query"}, []string{"want exactly one PATH, got 0"}},
		{"no archive", []string{"query", t.TempDir()}, []string{"no archive in directory"}},
		{"bad filters, all at once", []string{"query", "--severity", "loud", "--since", "soon", "--integrity", "maybe", dir},
			[]string{`--severity: unknown severity "loud"`, `--since: "soon": want RFC 3339`, `--integrity: "maybe"`}},
		{"bad format", []string{"query", "--format", "xml", dir}, []string{`--format: "xml": want table, json or csv`}},
		{"bad zone", []string{"query", "--tz", "Mars/Base", dir}, []string{`--tz: unknown time zone "Mars/Base"`}},
		{"negative limit", []string{"query", "--limit", "-1", dir}, []string{"--limit: must not be negative"}},
		{"two key sources", []string{"query", "--hmac-key-file", "x", "--hmac-key-env", "Y", dir}, []string{"not both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(tt.args...)
			assert.Equal(t, exitUsage, code)
			for _, w := range tt.want {
				assert.Contains(t, errOut, w)
			}
		})
	}
	code, out, _ := runCLI("query", "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "Usage: auditctl query [flags] PATH")
	code, out, _ = runCLI("help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "query    list an archive's events")
}

// With the exporter's HMAC key, a line re-hashed without the key is marked.
func TestQueryWithKey(t *testing.T) {
	dir := t.TempDir()
	key := "0123456789abcdef0123456789abcdef"
	opts := archive.WriterOptions{Path: filepath.Join(dir, "audit.jsonl"), HMACKey: []byte(key)}
	require.NoError(t, auditquerytest.WriteArchive(context.Background(), opts, auditquerytest.NewGenerator(2, time.Second), 20, 10))
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))
	code, _, errOut := runCLI("query", "--hmac-key-file", keyFile, dir)
	assert.Equal(t, exitOK, code, errOut)
	require.NoError(t, os.WriteFile(keyFile, []byte("another key of sixteen bytes"), 0o600))
	code, out, _ := runCLI("query", "--hmac-key-file", keyFile, "--limit", "1", dir)
	assert.Equal(t, exitProblem, code)
	assert.Contains(t, out, "HMAC does not match")
}

// With an index (named, or the viewer's beside the archive) query answers
// from it, brought up to date first, exactly as from the whole archive;
// --no-index reads the archive; a named index that cannot be opened is an
// error, one found beside the archive falls back to the archive.
func TestQueryThroughTheIndex(t *testing.T) {
	dir := mixedArchive(t, 1200)
	args := []string{"query", "--format", "csv", "--limit", "0", "--tz", "UTC"}
	for _, filter := range [][]string{nil, {"--source", "sippy", "--action", "U,A"}, {"--text", "recording", "--since", "2025-03-01T08:05:00Z"}} {
		code, want, errOut := runCLI(append(append(append([]string{}, args...), filter...), "--no-index", dir)...)
		require.Equal(t, exitOK, code, errOut)

		named := filepath.Join(t.TempDir(), "named.index")
		code, got, errOut := runCLI(append(append(append([]string{}, args...), filter...), "--index", named, dir)...)
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, want, got, "through a named index")
		assert.FileExists(t, named, "built")

		// Again: the index is read, not built.
		code, got, errOut = runCLI(append(append(append([]string{}, args...), filter...), "--index", named, dir)...)
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, want, got)
	}

	// The viewer's index beside the archive is found and brought up to
	// date with what was written since.
	beside := filepath.Join(dir, "audit.jsonl.index")
	code, _, errOut := runCLI("query", "--index", beside, "--limit", "1", dir)
	require.Equal(t, exitOK, code, errOut)
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: filepath.Join(dir, "audit.jsonl"), MaxSize: 128 << 10, Compress: true})
	require.NoError(t, err)
	require.NoError(t, p.Write(context.Background(), auditquerytest.NewGenerator(99, time.Second).Next(40)))
	require.NoError(t, p.Close())
	code, want, errOut := runCLI(append(append([]string{}, args...), "--no-index", dir)...)
	require.Equal(t, exitOK, code, errOut)
	code, got, errOut := runCLI(append(append([]string{}, args...), dir)...)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, want, got, "the index beside the archive, up to date")
	assert.Empty(t, errOut)

	// A damaged index beside the archive is rebuilt (it is a cache).
	require.NoError(t, os.WriteFile(beside, []byte("not a database"), 0o600))
	code, got, errOut = runCLI(append(append([]string{}, args...), dir)...)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, want, got)

	// A named index in a place that cannot be written is an error.
	code, _, errOut = runCLI("query", "--index", filepath.Join(dir, "no-such-dir", "x.index"), dir)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "--index")
	code, _, errOut = runCLI("query", "--index", "x", "--no-index", dir)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "choose one")
}
