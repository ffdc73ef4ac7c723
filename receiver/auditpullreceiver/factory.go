package auditpullreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/sippyapi"
)

// Defaults documented in README.md.
const (
	defaultTimeout          = 30 * time.Second
	defaultSippyPoll        = time.Minute
	defaultSippyLag         = time.Minute
	defaultSippyOverlap     = 5 * time.Minute
	defaultSippyWindow      = time.Hour
	defaultSippyIDField     = "i_audit_log"
	defaultGlassixPoll      = 30 * time.Second
	defaultRetryInitial     = time.Second
	defaultRetryMaxInterval = 5 * time.Minute
)

// NewFactory returns the factory of the auditpull receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

func retryDefaults() configretry.BackOffConfig {
	b := configretry.NewDefaultBackOffConfig()
	b.InitialInterval = defaultRetryInitial
	b.MaxInterval = defaultRetryMaxInterval
	// A switch down for hours is waited for: never give up.
	b.MaxElapsedTime = 0
	return b
}

func clientDefaults() confighttp.ClientConfig {
	c := confighttp.NewDefaultClientConfig()
	c.Timeout = defaultTimeout
	return c
}

func createDefaultConfig() component.Config {
	return &Config{
		// Default, not Some: a block the user does not write is not
		// polled; one written as `sippy:` gets these values.
		Sippy: configoptional.Default(SippyConfig{
			ClientConfig: clientDefaults(),
			PollInterval: defaultSippyPoll,
			Lag:          defaultSippyLag,
			Overlap:      defaultSippyOverlap,
			Window:       defaultSippyWindow,
			PageSize:     sippyapi.MaxLimit,
			Fields: SippyFields{
				Resource: sippy.FieldResource,
				Action:   sippy.FieldAction,
				ActionBy: sippy.FieldActionBy,
				Date:     sippy.FieldDate,
				UserIP:   sippy.FieldUserIP,
				ID:       defaultSippyIDField,
			},
			Timezone:       "UTC",
			RetryOnFailure: retryDefaults(),
		}),
		Glassix: configoptional.Default(GlassixConfig{
			ClientConfig:   clientDefaults(),
			PollInterval:   defaultGlassixPoll,
			RetryOnFailure: retryDefaults(),
		}),
	}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
