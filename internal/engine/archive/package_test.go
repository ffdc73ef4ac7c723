package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path) // never returns: the parent kills it
	}
	goleak.VerifyTestMain(m)
}

// openTestWriter opens a writer on dir/audit.jsonl and closes it at the end
// of the test (closing twice is harmless).
func openTestWriter(t *testing.T, dir string, opts WriterOptions) *Writer {
	t.Helper()
	opts.Path = filepath.Join(dir, "audit.jsonl")
	w, err := OpenWriter(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, w.Close()) })
	return w
}

// writeEvents writes sample events first..first+n-1 in batches of batch.
func writeEvents(t *testing.T, w *Writer, first, n, batch int) {
	t.Helper()
	for i := first; i < first+n; i += batch {
		k := min(batch, first+n-i)
		require.NoError(t, w.Write(context.Background(), EncodeLogs(archivetest.GlassixLogs(i, k))))
	}
}

// fileLines returns the lines of a data file (gunzipped when it ends in .gz).
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	data := readData(t, path)
	if len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func readData(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		r = zr
	}
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return data
}

// writeData replaces a data file's content (gzipping it for .gz).
func writeData(t *testing.T, path string, data []byte) {
	t.Helper()
	if strings.HasSuffix(path, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, err := zw.Write(data)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		data = b.Bytes()
	}
	require.NoError(t, os.WriteFile(path, data, 0o600))
}

// allSeqs reads every line of the archive in order and returns the seqs,
// requiring every line to be sound.
func allSeqs(t *testing.T, path string) []uint64 {
	t.Helper()
	a, err := Open(path)
	require.NoError(t, err)
	var seqs []uint64
	for e, err := range a.Entries() {
		require.NoError(t, err)
		require.Equal(t, StatusOK, e.Status, "%s:%d: %v", e.File, e.Line, e.Err)
		seqs = append(seqs, e.Seal.Seq)
	}
	return seqs
}

// eventMessages returns the messages of the archive's events (not markers), in order.
func eventMessages(t *testing.T, path string) []string {
	t.Helper()
	a, err := Open(path)
	require.NoError(t, err)
	var msgs []string
	for e, err := range a.Entries() {
		require.NoError(t, err)
		ev, err := e.Decode()
		require.NoError(t, err)
		if !ev.IsMarker() {
			msgs = append(msgs, ev.Message)
		}
	}
	return msgs
}

func requireIntact(t *testing.T, path string, opts VerifyOptions) *Report {
	t.Helper()
	r, err := Verify(path, opts)
	require.NoError(t, err)
	require.Empty(t, r.Problems, "notes: %v", r.Notes)
	return r
}

// glassix is archivetest.GlassixLogs, shorter.
var glassix = archivetest.GlassixLogs

// rehash recomputes a line's hash (and HMAC with key) after its content was
// changed, as an attacker who knows the format would.
func rehash(t *testing.T, line string, key []byte) string {
	t.Helper()
	s, err := parseSeal([]byte(line))
	require.NoError(t, err)
	body := line[s.bodyStart:len(s.hashed)]
	out, _ := newSealer(key).seal(nil, s.Seq, s.Prev, []byte(body))
	return string(out)
}
