package auditviewerextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		want func(*Config)
	}{
		{name: "", want: func(cfg *Config) { cfg.Path = "./data/audit.jsonl" }},
		{name: "all", want: func(cfg *Config) {
			cfg.NetAddr.Endpoint = "0.0.0.0:9089"
			cfg.Path = "/var/lib/otelcol-audit/archive"
			cfg.HMACKey = "0123456789abcdef0123456789abcdef"
			cfg.DefaultPageSize = 100
			cfg.MaxPageSize = 5000
			cfg.IndexPath = "/var/cache/otelcol-audit/audit.index"
			cfg.IndexCacheMiB = 32
			cfg.PublicKeys = []string{"/etc/otelcol-audit/archive-signing.pub", "/etc/otelcol-audit/archive-signing-2025.pub"}
			cfg.VerifyInterval = time.Hour
			cfg.LoginThrottle = LoginThrottleConfig{MaxFailures: 10, Window: 5 * time.Minute}
			cfg.ReadHeaderTimeout = 5 * time.Second
			cfg.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{
				AuthenticatorID: component.MustNewIDWithName("basicauth", "viewer")}})
			cfg.TLS = configoptional.Some(configtls.ServerConfig{Config: configtls.Config{
				CertFile: "/etc/otelcol-audit/viewer.crt", KeyFile: "/etc/otelcol-audit/viewer.key"}})
		}},
	}
	for _, tt := range tests {
		t.Run("id "+component.NewIDWithName(metadata.Type, tt.name).String(), func(t *testing.T) {
			want := createDefaultConfig().(*Config)
			tt.want(want)
			got := loadConfig(t, tt.name)
			assert.Equal(t, want, got)
			assert.NoError(t, confmap.Validate(got))
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, "127.0.0.1:8089", cfg.NetAddr.Endpoint, "localhost only by default")
	assert.Equal(t, 50, cfg.DefaultPageSize)
	assert.Equal(t, 1000, cfg.MaxPageSize)
	assert.Equal(t, 16, cfg.IndexCacheMiB)
	assert.Empty(t, cfg.IndexPath, "beside the archive")
	assert.Equal(t, 5*time.Minute, cfg.VerifyInterval)
	assert.Equal(t, LoginThrottleConfig{MaxFailures: 5, Window: time.Minute}, cfg.LoginThrottle)
	assert.Zero(t, cfg.WriteTimeout, "downloads stream as long as they need")
	assert.False(t, cfg.Auth.HasValue())
	assert.EqualError(t, cfg.Validate(), "path: must name the auditfile exporter's path or its directory")
}

// Every problem is reported at once, naming its key.
func TestValidateReportsEveryProblem(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "bad"))
	require.Error(t, err)
	for _, want := range []string{
		"endpoint: must not be empty",
		"path: must name the auditfile exporter's path or its directory",
		"hmac_key: must be at least 16 bytes, as the exporter's, got 5",
		"default_page_size: must be at least 1, got 0",
		"max_page_size: must be at least default_page_size (0), got -1",
		"index_cache_mib: must be at least 1, got 0",
		"verify_interval: must not be negative (0: never), got -1s",
		"login_throttle::max_failures: must be at least 1, got 0",
		"login_throttle::window: must be positive, got 0s",
	} {
		assert.ErrorContains(t, err, want)
	}
}
