package auditfileexporter

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
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

// BenchmarkSigningCost is the CPU signing adds: batches of 500 events (the
// sending queue's smallest batch) through the whole exporter with fsync:
// interval (so the disk does not decide), with signing off and on (a
// checkpoint every 10 000 lines, the head signed at every batch, each
// checkpoint handed to the checkpoints stream). It reports CPU time per
// event (user + system, GC included); the difference is signing's cost.
func BenchmarkSigningCost(b *testing.B) {
	for _, signed := range []bool{false, true} {
		b.Run(fmt.Sprintf("signed=%t", signed), func(b *testing.B) {
			dir := b.TempDir()
			cfg := testConfig(dir)
			cfg.Fsync = FsyncInterval
			cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
			if signed {
				cfg.Signing.KeyFile = filepath.Join(dir, "keys", "archive-signing.key")
				records, unsub, err := selfaudit.Subscribe(selfaudit.StreamCheckpoints)
				if err != nil {
					b.Fatal(err)
				}
				defer unsub()
				done := make(chan struct{})
				defer close(done)
				go func() { // the receiver's part: take them
					for {
						select {
						case <-records:
						case <-done:
							return
						}
					}
				}()
			}
			exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			defer exp.Shutdown(context.Background())
			const batch = 500
			ld := archivetest.GlassixLogs(1, batch)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*batch), "cpu-ns/event")
		})
	}
}

// cpuTime is the CPU time the process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
