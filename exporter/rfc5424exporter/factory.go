package rfc5424exporter // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/exportdefaults"
)

// NewFactory returns the rfc5424 exporter's factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogsExporter, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	// One consumer: records reach the SIEM in the order they were queued,
	// and there is one connection to write to anyway. The rest of the
	// queue's defaults are shared with the auditfile exporter.
	queue := exportdefaults.DefaultConfig(1)
	// Retry until the SIEM is back: giving up after a while would drop
	// audit records, and the queue's size already bounds what waits.
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = 0
	return &Config{
		Transport:     TransportTCP,
		Facility:      "local4",
		SDID:          "data",
		ResourceSDID:  "resource",
		RELP:          defaultRELPConfig(),
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
	e.id = set.ID
	if err := e.withFailedCounter(set); err != nil {
		return nil, err
	}
	exp, err := exporterhelper.NewLogs(ctx, helperSettings(set, c), cfg, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
	if err != nil {
		return nil, err
	}
	return logsExporter{Logs: exp, e: e}, nil
}
