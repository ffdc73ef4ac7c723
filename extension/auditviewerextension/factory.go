package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension/internal/metadata"
)

// Defaults documented in README.md.
const (
	// Localhost only: audit data is for administrators.
	defaultEndpoint          = "127.0.0.1:8089"
	defaultPageSize          = 50
	defaultMaxPageSize       = 1000
	defaultReadHeaderTimeout = 10 * time.Second
	// Per connection: enough for the pages a filtered query touches.
	defaultIndexCacheMiB = 16
	// The shared index (index.postgres).
	defaultPGRefreshInterval  = time.Second
	defaultPGMaxRetryInterval = 30 * time.Second
	defaultPGConnectTimeout   = 5 * time.Second
	defaultPGMaxConns         = 4
	defaultVerifyInterval     = 5 * time.Minute
	defaultLoginMaxFailures   = 5
	defaultLoginWindow        = time.Minute
)

// NewFactory returns the factory of the auditviewer extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	server.ReadHeaderTimeout = defaultReadHeaderTimeout
	// Requests carry no body; downloads stream for as long as they need.
	server.MaxRequestBodySize = 1 << 10
	server.WriteTimeout = 0
	return &Config{
		ServerConfig:    server,
		DefaultPageSize: defaultPageSize,
		MaxPageSize:     defaultMaxPageSize,
		IndexCacheMiB:   defaultIndexCacheMiB,
		Index: IndexConfig{Postgres: configoptional.Default(PostgresIndexConfig{
			RefreshInterval:  defaultPGRefreshInterval,
			MaxRetryInterval: defaultPGMaxRetryInterval,
			ConnectTimeout:   defaultPGConnectTimeout,
			MaxConns:         defaultPGMaxConns,
		})},
		VerifyInterval: defaultVerifyInterval,
		LoginThrottle:  LoginThrottleConfig{MaxFailures: defaultLoginMaxFailures, Window: defaultLoginWindow},
	}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newViewer(cfg.(*Config), set), nil
}
