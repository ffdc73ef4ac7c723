package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/metadata"
)

// Defaults documented in README.md.
const (
	defaultMaxMessageSize    = 1 << 20
	defaultMaxConnections    = 100
	defaultIdleTimeout       = 0 // never: see README (winston-syslog tls4 cannot reconnect)
	defaultDrainTimeout      = 5 * time.Second
	defaultQueueSize         = 100_000
	defaultQueueBytes        = 64 << 20
	defaultReceiveBufferSize = 8 << 20
	defaultFraming           = "json"
	defaultSocketMode        = "0660"
	defaultDateOrder         = "day_first"
	defaultTimezone          = "UTC"
)

// NewFactory returns the factory of the auditsyslog receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		UDP:            DatagramConfig{ReceiveBufferSize: defaultReceiveBufferSize},
		TCP:            StreamConfig{Framing: defaultFraming},
		TLS:            TLSConfig{Framing: defaultFraming, TLSServerSettings: TLSServerSettings(configtls.NewDefaultServerConfig())},
		Unix:           StreamConfig{Framing: defaultFraming, SocketMode: defaultSocketMode},
		Unixgram:       DatagramConfig{ReceiveBufferSize: defaultReceiveBufferSize, SocketMode: defaultSocketMode},
		MaxMessageSize: defaultMaxMessageSize,
		MaxConnections: defaultMaxConnections,
		IdleTimeout:    defaultIdleTimeout,
		DrainTimeout:   defaultDrainTimeout,
		QueueSize:      defaultQueueSize,
		QueueBytes:     defaultQueueBytes,
		CTReplay:       CTReplayConfig{DateOrder: defaultDateOrder, Timezone: defaultTimezone},
	}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return newReceiver(cfg.(*Config), set, next)
}
