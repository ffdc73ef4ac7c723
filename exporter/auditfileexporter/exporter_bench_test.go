package auditfileexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// BenchmarkConsumeLogs measures events/s through the whole exporter
// (exporterhelper, encoding, chaining, write, fsync) with the default
// settings, without a sending queue so every ConsumeLogs waits for its
// batch to be durable.
func BenchmarkConsumeLogs(b *testing.B) {
	for _, fsync := range []string{FsyncBatch, FsyncInterval} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("fsync=%s/batch=%d", fsync, batch), func(b *testing.B) {
				cfg := testConfig(b.TempDir())
				cfg.Fsync = fsync
				cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
				exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
					b.Fatal(err)
				}
				defer exp.Shutdown(context.Background())
				ld := archivetest.GlassixLogs(1, batch)
				b.ReportAllocs()
				start := time.Now()
				for b.Loop() {
					if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkQueuedWebhooks is the webhook case: 8 senders hand over one
// event per ConsumeLogs, through the default sending queue (batching on) or
// with batching off, with fsync: batch. The clock stops when the queue is
// drained (shutdown), so events/s counts events made durable.
func BenchmarkQueuedWebhooks(b *testing.B) {
	for _, batching := range []bool{true, false} {
		b.Run(fmt.Sprintf("batching=%t", batching), func(b *testing.B) {
			cfg := testConfig(b.TempDir())
			if !batching {
				cfg.QueueConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
			}
			exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			one := archivetest.GlassixLogs(1, 1)
			b.ReportAllocs()
			b.SetParallelism(4) // 8 senders on 2 cores
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ld := plog.NewLogs() // the queue keeps and batches what it is given
					one.CopyTo(ld)
					if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if err := exp.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
