package auditselfreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver/internal/metadata"
)

// NewFactory returns the factory of the auditself receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

// The stream has no default: which one a pipeline takes is its point.
func createDefaultConfig() component.Config { return &Config{} }

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newSelfReceiver(cfg.(*Config), set, next), nil
}
