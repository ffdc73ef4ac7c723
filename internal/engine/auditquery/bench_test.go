package auditquery

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchArchiveEnv names an archive to measure (made by genarchive, see the
// README). Unset, the benchmarks generate a 50 000-event archive.
const benchArchiveEnv = "AUDITQUERY_BENCH_ARCHIVE"

var (
	benchOnce sync.Once
	benchPath string
	benchDir  string // removed by TestMain
)

func benchArchive(b *testing.B) string {
	if p := os.Getenv(benchArchiveEnv); p != "" {
		return p
	}
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "auditquery-bench")
		require.NoError(b, err)
		benchDir = dir
		benchPath = genArchive(b, dir, 50_000, 8<<20)
	})
	return benchPath
}

// BenchmarkIndexBuild measures a cold index: every file read, checked and
// indexed, by one worker (as the auditviewer extension builds, leaving the
// other core to the pipeline) and by two (auditctl query).
// MB-index/1M-lines is the index's memory scaled to a million lines.
func BenchmarkIndexBuild(b *testing.B) {
	path := benchArchive(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			var sn *Snapshot
			for b.Loop() {
				ix, err := Open(path, Options{Workers: workers})
				require.NoError(b, err)
				sn, err = ix.Refresh(context.Background())
				require.NoError(b, err)
			}
			b.ReportMetric(float64(sn.Lines), "lines")
			b.ReportMetric(float64(sn.IndexBytes)/float64(sn.Lines)*1e6/(1<<20), "MB-index/1M-lines")
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "MB-heap-after")
			runtime.KeepAlive(sn)
		})
	}
}

// BenchmarkQuery measures warm queries (index built, nothing new): the
// time to answer one page of 50 rows, newest first, with the total count.
func BenchmarkQuery(b *testing.B) {
	path := benchArchive(b)
	ix, err := Open(path, Options{})
	require.NoError(b, err)
	sn, err := ix.Refresh(context.Background())
	require.NoError(b, err)
	queries := []struct{ name, query string }{
		{"no-filter", ""},
		{"source+action", "source=sippy&action=AUTH_FAIL,MFA_FAIL"},
		{"actor+severity+since", "actor=main_admin&severity=warning&since=2025-03-05T00:00:00Z"},
		{"resource-substring", "resource=accounts:i_account=4"},
		{"text", "text=DELETE Recording"},
		{"time-window", "since=2025-03-02T10:00&until=2025-03-02T12:00"},
		{"page-100", "source=glassix&page=100"},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			query, p := mustQuery(b, q.query)
			b.ReportAllocs()
			var pg Page
			for b.Loop() {
				// As the extension does per request: refresh (nothing new),
				// then search.
				sn, err = ix.Refresh(context.Background())
				require.NoError(b, err)
				pg = sn.Search(query, p)
			}
			b.ReportMetric(float64(pg.Total), "matches")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
		})
	}
}

// BenchmarkRefresh measures bringing a built index up to date when nothing
// changed: listing and stat-ing the files, checking the active file's tail.
func BenchmarkRefresh(b *testing.B) {
	ix, err := Open(benchArchive(b), Options{})
	require.NoError(b, err)
	_, err = ix.Refresh(context.Background())
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		_, err = ix.Refresh(context.Background())
		require.NoError(b, err)
	}
}
