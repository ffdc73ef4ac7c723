package pgindex_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/pgindex"
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
