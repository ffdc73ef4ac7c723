package auditwebhookreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"
)

// Defaults documented in README.md.
const (
	defaultEndpoint           = "127.0.0.1:8088"
	defaultMaxRequestBodySize = 8 << 20
	defaultReadTimeout        = time.Minute
	defaultHealthPath         = "/health"
	defaultRetryAfter         = 5 * time.Second
	defaultAcceptTimeout      = 5 * time.Second
	defaultMaxInFlightBytes   = 32 << 20
	defaultMaxClockSkew       = 5 * time.Minute
	defaultGlassixPath        = "/glassix"
	defaultCTReplayPath       = "/ctreplay"
	defaultSippyPath          = "/sippy"
	defaultTimezone           = "UTC"
)

// NewFactory returns the factory of the auditwebhook receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	server.MaxRequestBodySize = defaultMaxRequestBodySize
	// Bounds a client that trickles its body; vendors' own requests time
	// out sooner (Glassix: 20 s).
	server.ReadTimeout = defaultReadTimeout
	return &Config{
		ServerConfig: server,
		// Default, not Some: a block the user does not write is not served,
		// and one written as just `glassix:` gets these values.
		Glassix: configoptional.Default(GlassixConfig{
			Path:                defaultGlassixPath,
			MaxClockSkew:        defaultMaxClockSkew,
			AcceptDateSignature: true,
		}),
		CTReplay: configoptional.Default(CTReplayConfig{
			Path:      defaultCTReplayPath,
			DateOrder: DayFirst,
			Timezone:  defaultTimezone,
		}),
		Sippy: configoptional.Default(SippyConfig{
			Path:     defaultSippyPath,
			Timezone: defaultTimezone,
		}),
		HealthPath:       defaultHealthPath,
		ForwardUnparsed:  true,
		RetryAfter:       defaultRetryAfter,
		AcceptTimeout:    defaultAcceptTimeout,
		MaxInFlightBytes: defaultMaxInFlightBytes,
	}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
