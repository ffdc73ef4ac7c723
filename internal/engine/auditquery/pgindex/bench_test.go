package pgindex_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/pgindex"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
)

// benchEvents is the size of each generated archive.
const benchEvents = 100_000

// ingest indexes each archive, concurrently, into one database as a
// collector of its own (new each round: the table grows as in use), from
// nothing, and returns the lines indexed.
func ingest(b *testing.B, dsn string, unlogged bool, paths []string, round int) int {
	ctx := context.Background()
	var wg sync.WaitGroup
	counts := make([]int, len(paths))
	for i, path := range paths {
		wg.Go(func() {
			ix, err := auditquery.OpenDisk(ctx, path, func() *pgindex.DB {
				db, err := pgindex.New(pgindex.Options{DSN: dsn, Unlogged: unlogged})
				require.NoError(b, err)
				return db
			}(), auditquery.DiskOptions{Collector: fmt.Sprintf("c%d-%d", round, i)})
			require.NoError(b, err)
			require.NoError(b, ix.Refresh(ctx))
			counts[i] = ix.Stats().Lines
			require.NoError(b, ix.Close())
		})
	}
	wg.Wait()
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// BenchmarkIngest measures the shared index's ingest rate (events/s, all
// collectors together) from one and from two collectors indexing at once.
// The PostgreSQL is pgtest's (fsync off; the index commits every 20 000
// rows, so fsync adds little).
func BenchmarkIngest(b *testing.B) {
	pg := pgtest.Start(b)
	paths := []string{genArchive(b, b.TempDir(), 7, benchEvents, 32<<20, true), genArchive(b, b.TempDir(), 8, benchEvents, 32<<20, true)}
	if os.Getenv("PGINDEX_BENCH_DSN") != "" {
		// Another server (tuned, on its own machine).
		pg = nil
	}
	dsn, port := os.Getenv("PGINDEX_BENCH_DSN"), 0
	if pg != nil {
		dsn, port = pg.DSN(), pg.Port()
	}
	admin, err := sql.Open("pgx", dsn)
	require.NoError(b, err)
	defer admin.Close()
	for _, mode := range []struct {
		n        int
		unlogged bool
	}{{1, false}, {2, false}, {1, true}, {2, true}} {
		name := map[int]string{1: "one-collector", 2: "two-collectors"}[mode.n]
		db := "bench_logged"
		if mode.unlogged {
			name += "-unlogged"
			db = "bench_unlogged"
		}
		admin.Exec("CREATE DATABASE " + db)
		u, err := url.Parse(dsn)
		require.NoError(b, err)
		u.Path = "/" + db
		dsn, n := u.String(), mode.n
		b.Run(name, func(b *testing.B) {
			lines := 0
			var server, client time.Duration
			round := 0
			for b.Loop() {
				round++
				s0, c0 := serverCPU(port), selfCPU()
				lines += ingest(b, dsn, mode.unlogged, paths[:n], n*1000+round)
				server, client = server+serverCPU(port)-s0, client+selfCPU()-c0
			}
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "events/s")
			if server > 0 {
				// What the machine's load leaves out: the rate per CPU
				// second of the server, and of server and indexer.
				b.ReportMetric(float64(lines)/server.Seconds(), "events/server-cpu-s")
				b.ReportMetric(float64(lines)/(server+client).Seconds(), "events/cpu-s")
			}
		})
	}
}

// BenchmarkFollow measures what indexing costs the collector while its
// archive grows, as in the auditfile exporter and the viewer of one
// process: batches of 100 events go through the auditlog processor into
// the archive writer, and the index refreshes every 50 batches (5 000
// events, the viewer's batch). It reports the process's CPU per event
// spent writing and spent refreshing, and the server's, with the writer
// handing the index its lines (handoff) and with the index reading them
// back from the file (read-back).
func BenchmarkFollow(b *testing.B) {
	pg := pgtest.Start(b)
	const events, perBatch, every = 50_000, 100, 50
	g := auditquerytest.NewGenerator(11, time.Millisecond)
	batches := make([]plog.Logs, events/perBatch)
	for i := range batches {
		batches[i] = g.Next(perBatch)
	}
	for _, mode := range []struct {
		name    string
		index   bool
		handoff int
	}{{"write-only", false, 0}, {"handoff", true, 0}, {"read-back", true, -1}} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			var write, refresh, server time.Duration
			lines, round := 0, 0
			for b.Loop() {
				round++
				path := filepath.Join(b.TempDir(), "audit.jsonl")
				p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path})
				require.NoError(b, err)
				var ix *auditquery.DiskIndex
				if mode.index {
					var db *pgindex.DB
					db, err = pgindex.New(pgindex.Options{DSN: pg.DSN()})
					require.NoError(b, err)
					ix, err = auditquery.OpenDisk(ctx, path, db, auditquery.DiskOptions{
						Collector: fmt.Sprintf("%s-%d", mode.name, round), BatchRows: 5000, HandoffBytes: mode.handoff})
					require.NoError(b, err)
				}
				s0 := serverCPU(pg.Port())
				for i, ld := range batches {
					c0 := selfCPU()
					require.NoError(b, p.Write(ctx, ld))
					c1 := selfCPU()
					write += c1 - c0
					if ix != nil && ((i+1)%every == 0 || i == len(batches)-1) {
						require.NoError(b, ix.Refresh(ctx))
						refresh += selfCPU() - c1
					}
				}
				server += serverCPU(pg.Port()) - s0
				require.NoError(b, p.Close())
				if ix != nil {
					require.Equal(b, events, ix.Stats().Events)
					if mode.handoff >= 0 {
						require.Positive(b, ix.HandedOver(), "lines handed over")
					} else {
						require.Zero(b, ix.HandedOver())
					}
					require.NoError(b, ix.Close())
				}
				lines += events
			}
			per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(lines) }
			b.ReportMetric(per(write), "write-us/event")
			b.ReportMetric(per(refresh), "index-us/event")
			b.ReportMetric(per(server), "server-us/event")
		})
	}
}
