package auditviewerextension

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchArchiveEnv names an archive to measure (see the README's
// Performance section); unset, a 20 000-event archive is generated.
const benchArchiveEnv = "AUDITQUERY_BENCH_ARCHIVE"

// BenchmarkAPI measures requests over real HTTP on 127.0.0.1 once the
// index is built: a filtered page of 50 rows, and the CSV download of a
// filtered result.
func BenchmarkAPI(b *testing.B) {
	path := os.Getenv(benchArchiveEnv)
	if path == "" {
		path = writeArchive(b, b.TempDir(), 20_000)
	}
	tv := startViewer(b, filepath.Clean(path), "")
	tv.get(b, "/api/status") // the cold index build, outside the timings
	for _, bm := range []struct{ name, path string }{
		{"page", "/api/events?source=sippy&action=AUTH_FAIL,MFA_FAIL&since=2025-03-03T00:00:00Z"},
		{"page-text", "/api/events?text=DELETE+Recording&severity=notice"},
		{"csv", "/api/events.csv?source=sippy&action=AUTH_FAIL"},
		{"jsonl", "/api/events.jsonl?source=sippy&action=AUTH_FAIL"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				resp, err := http.Get(tv.base + bm.path)
				require.NoError(b, err)
				n, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.Equal(b, http.StatusOK, resp.StatusCode)
			}
			b.ReportMetric(float64(n), "response-bytes")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/request")
		})
	}
}
