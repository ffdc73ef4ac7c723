package auditfileexporter // import "github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/exportdefaults"
)

// Defaults, documented in the README.
const (
	defaultMaxMegabytes  = 100
	defaultFsyncInterval = time.Second
	defaultFileMode      = FileMode(0o600)
	defaultDirMode       = FileMode(0o700)
	// One checkpoint (one SIEM message, one signature) per 10 000 lines or
	// 10 s: a few a second at the load harness's rates, and a tail no
	// signature covers of at most 10 s of events.
	defaultCheckpointEvery    = archive.DefaultCheckpointLines
	defaultCheckpointInterval = archive.DefaultCheckpointInterval
)

// defaultNumConsumers: see createDefaultConfig. The rest of the sending
// queue's defaults are internal/exportdefaults's, shared with the rfc5424
// exporter.
const defaultNumConsumers = 2

// NewFactory returns the auditfile exporter's factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	retry := configretry.NewDefaultBackOffConfig()
	// An archive must not drop events because the disk stayed full for a
	// while: retry until the disk has room (the queue then pushes back).
	retry.MaxElapsedTime = 0
	// Two consumers: one batch is encoded while another is written and
	// fsynced; more would only hold more batches in memory, since the
	// archive has one writer.
	queue := exportdefaults.DefaultConfig(defaultNumConsumers)
	return &Config{
		Rotation:      RotationConfig{MaxMegabytes: defaultMaxMegabytes, Daily: true},
		Compression:   CompressionGzip,
		Fsync:         FsyncBatch,
		FsyncInterval: defaultFsyncInterval,
		FileMode:      defaultFileMode,
		DirMode:       defaultDirMode,
		Signing: SigningConfig{
			CreateKey:          true,
			CheckpointEvery:    defaultCheckpointEvery,
			CheckpointInterval: defaultCheckpointInterval,
			Anchor:             true,
		},
		TimeoutConfig: exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig:   configoptional.Some(queue),
		RetryConfig:   retry,
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e := newAuditFileExporter(c, set.Logger)
	e.id = set.ID
	exp, err := exporterhelper.NewLogs(ctx, set, cfg, e.pushAndReport,
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
