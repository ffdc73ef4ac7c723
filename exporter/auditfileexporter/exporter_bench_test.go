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

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/archive/archivetest"
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
