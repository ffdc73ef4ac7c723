package auditpullreceiver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/sippyapitest"
)

// BenchmarkSippyBackfill measures a backfill against the simulator on
// loopback: records/s from the first call to the last record accepted by
// a pipeline that does nothing, with the checkpoint in a real
// file_storage. b.N is ignored beyond choosing how many runs: each run
// backfills the same history.
//
//	go test -run '^$' -bench SippyBackfill -benchtime 3x ./receiver/auditpullreceiver/
func BenchmarkSippyBackfill(b *testing.B) {
	const history = 20000
	t0 := time.Now().Add(-48 * time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(b, sippyapitest.Options{History: history, HistoryStart: t0, HistoryStep: 5 * time.Second})
	for _, pageSize := range []int{100, 50} {
		b.Run(map[int]string{100: "page100", 50: "page50"}[pageSize], func(b *testing.B) {
			var total time.Duration
			for range b.N {
				h, sets := newHost(b, b.TempDir())
				var got atomic.Int64
				done := make(chan struct{})
				next, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
					if got.Add(int64(ld.LogRecordCount())) == history {
						close(done)
					}
					return nil
				})
				require.NoError(b, err)
				cfg := sippyCfg(sim.URL, t0, true)
				cfg.Sippy.Get().PageSize = pageSize
				calls := sim.Stats(b).Answered
				began := time.Now()
				run := start(b, cfg, h, next)
				<-done
				total += time.Since(began)
				run.stop(b)
				// Every answered call is a page, short ones included.
				b.ReportMetric(float64(sets.Load())/float64(sim.Stats(b).Answered-calls), "writes/page")
			}
			b.ReportMetric(float64(history*b.N)/total.Seconds(), "records/s")
		})
	}
}
