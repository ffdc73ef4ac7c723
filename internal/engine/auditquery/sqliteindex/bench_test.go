package sqliteindex_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
)

// benchArchiveEnv names an archive to measure (genarchive's); unset, the
// benchmarks generate 50 000 events.
const benchArchiveEnv = "AUDITQUERY_BENCH_ARCHIVE"

func benchArchive(b *testing.B) string {
	if p := os.Getenv(benchArchiveEnv); p != "" {
		return p
	}
	return genArchive(b, b.TempDir(), 50_000, 8<<20, true)
}

// BenchmarkBuild measures building the index from nothing: lines/s is the
// ingest rate (the viewer follows the archive at this rate at most).
func BenchmarkBuild(b *testing.B) {
	path := benchArchive(b)
	ctx := context.Background()
	var lines int
	for b.Loop() {
		indexPath := filepath.Join(b.TempDir(), "index")
		ix, err := auditquery.OpenDisk(ctx, path, newDB(indexPath), auditquery.DiskOptions{})
		require.NoError(b, err)
		require.NoError(b, ix.Refresh(ctx))
		lines = ix.Stats().Lines
		require.NoError(b, ix.Close())
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
