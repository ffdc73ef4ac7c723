package sqliteindex_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
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

// BenchmarkFollow measures the index following a growing archive in the
// same process, as the viewer does beside the auditfile exporter: batches
// of 100 events go through the auditlog processor into the archive
// writer, which hands its lines to the index (the tap), and the index
// refreshes every 40 batches (4 000 lines, about the quarter of the tap's
// 16 MiB at which the writer wakes the viewer's refresh). index-us/event
// is the refresh's wall time per line (reading and inserting run on two
// goroutines), lines/s its inverse: how fast one index can follow.
func BenchmarkFollow(b *testing.B) {
	const events, perBatch, every = 100_000, 100, 40
	g := auditquerytest.NewGenerator(11, time.Millisecond)
	batches := make([]plog.Logs, events/perBatch)
	for i := range batches {
		batches[i] = g.Next(perBatch)
	}
	ctx := context.Background()
	var refresh time.Duration
	lines := 0
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "audit.jsonl")
		p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path})
		require.NoError(b, err)
		ix, err := auditquery.OpenDisk(ctx, path, newDB(filepath.Join(b.TempDir(), "index")), auditquery.DiskOptions{})
		require.NoError(b, err)
		for i, ld := range batches {
			require.NoError(b, p.Write(ctx, ld))
			if (i+1)%every == 0 {
				start := time.Now()
				require.NoError(b, ix.Refresh(ctx))
				refresh += time.Since(start)
			}
		}
		require.NoError(b, p.Close())
		require.Equal(b, events, ix.Stats().Events)
		require.Equal(b, int64(events), ix.HandedOver(), "every line handed over, none read back")
		require.NoError(b, ix.Close())
		lines += events
	}
	b.ReportMetric(float64(refresh.Nanoseconds())/1000/float64(lines), "index-us/event")
	b.ReportMetric(float64(lines)/refresh.Seconds(), "lines/s")
}
