package auditlogprocessor // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-audit/otelcol-audit/internal/exportdefaults"
	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/metadata"
)

// Defaults. The dedup window outlasts Glassix's 3 days of retries.
const (
	defaultDateOrder  = "day_first"
	defaultTimezone   = "UTC"
	defaultWindow     = 96 * time.Hour
	defaultMaxEntries = 100_000
	// The shared dedup table's defaults. A query that does not answer in
	// half a second leaves the batch to the local window rather than
	// holding up the webhook's answer; a failed database is asked again
	// after 10 s.
	defaultSharedTable      = "otelcol_audit_dedup"
	defaultSharedTimeout    = 500 * time.Millisecond
	defaultSharedRetryAfter = 10 * time.Second
)

// NewFactory returns the factory of the auditlog processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		CTReplay: CTReplayConfig{DateOrder: defaultDateOrder, Timezone: defaultTimezone},
		Flatten:  FlattenConfig{Separator: flatten.DefaultSeparator, MaxDepth: flatten.DefaultMaxDepth},
		Dedup: DedupConfig{
			Enabled: true, Window: defaultWindow, MaxEntries: defaultMaxEntries,
			Shared: configoptional.Default(SharedDedupConfig{
				Table: defaultSharedTable, Timeout: defaultSharedTimeout, RetryAfter: defaultSharedRetryAfter,
			}),
		},
		Journal: JournalConfig{MaxUnsettled: defaultMaxUnsettled},
	}
}

// defaultMaxUnsettled is half the exporters' default queue size: the
// queue keeps room for what is in flight when an exporter starts to fall
// behind.
const defaultMaxUnsettled = exportdefaults.QueueSize / 2

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := newAuditLogProcessor(set, cfg.(*Config), next)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, p.deliver, p.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown),
	)
}
