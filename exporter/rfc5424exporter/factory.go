package rfc5424exporter // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
)

// NewFactory returns the rfc5424 exporter's factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogsExporter, metadata.LogsStability),
	)
}

// Defaults of the sending queue, documented in the README. The auditfile
// exporter uses the same sizes, so under overload both queues fill alike.
const (
	// defaultQueueSize bounds what waits in memory, in records whatever
	// the events per request: about 4 KiB each, so 20 MiB when full. A
	// full queue blocks the request (block_on_overflow) until there is
	// room or the receiver gives up (auditwebhook: accept_timeout).
	defaultQueueSize = 5_000
	// Batches: one write (and one liveness check) per batch instead of per
	// request; a batch goes at min_size records or after flush_timeout.
	defaultFlushTimeout = 200 * time.Millisecond
	defaultBatchMin     = 500
	defaultBatchMax     = 2_000
)

func createDefaultConfig() component.Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	// One consumer: records reach the SIEM in the order they were queued,
	// and there is one connection to write to anyway.
	queue.NumConsumers = 1
	queue.Sizer = exporterhelper.RequestSizerTypeItems
	queue.QueueSize = defaultQueueSize
	queue.BlockOnOverflow = true
	queue.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: defaultFlushTimeout,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      defaultBatchMin,
		MaxSize:      defaultBatchMax,
	})
	// Retry until the SIEM is back: giving up after a while would drop
	// audit records, and the queue's size already bounds what waits.
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = 0
	return &Config{
		Transport:     TransportTCP,
		Facility:      "local4",
		SDID:          "data",
		ResourceSDID:  "resource",
		TimeoutConfig: exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig:   configoptional.Some(queue),
		RetryConfig:   retry,
	}
}

func createLogsExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
}
