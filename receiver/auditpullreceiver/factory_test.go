package auditpullreceiver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/metadata"
)

func TestFactoryType(t *testing.T) {
	assert.Equal(t, metadata.Type, NewFactory().Type())
	assert.Equal(t, metadata.LogsStability, NewFactory().LogsStability())
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

func load(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(name)
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	cfg := load(t, "auditpull/sippy")
	require.NoError(t, confmap.Validate(cfg))
	assert.Nil(t, cfg.Glassix.Get())
	s := cfg.Sippy.Get()
	require.NotNil(t, s)
	want := createDefaultConfig().(*Config).Sippy.GetOrInsertDefault()
	want.Endpoint = "https://switch.example.com/xmlapi/xmlapi"
	want.Username, want.Password = "admin", "api-password"
	want.StartAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id := component.MustNewIDWithName("file_storage", "pull")
	want.Storage = &id
	want.PollInterval, want.Lag, want.Overlap, want.Window, want.PageSize = 30*time.Second, 2*time.Minute, 10*time.Minute, 30*time.Minute, 50
	want.Timezone = "Europe/Rome"
	want.Fields.ActionBy, want.Fields.ID = "user", "audit_id"
	want.TLS.CAFile = "/etc/ssl/switch-ca.pem"
	assert.Equal(t, want, s)

	cfg = load(t, "auditpull/glassix")
	require.NoError(t, confmap.Validate(cfg))
	assert.Nil(t, cfg.Sippy.Get())
	g := cfg.Glassix.Get()
	require.NotNil(t, g)
	assert.Equal(t, "https://acme.glassix.com/api/v1.2", g.Endpoint)
	assert.Equal(t, "api@example.com", g.UserName)
	assert.Equal(t, 10*time.Second, g.PollInterval)
	assert.Equal(t, []string{"NEW_TICKET"}, g.ForwardEvents)
	assert.Equal(t, defaultTimeout, g.Timeout)
}

func TestValidate(t *testing.T) {
	assert.EqualError(t, confmap.Validate(load(t, "auditpull/empty")), "configure sippy or glassix: the receiver has nothing to pull")
	err := confmap.Validate(load(t, "auditpull/bad"))
	require.Error(t, err)
	for _, msg := range []string{
		`sippy::endpoint: "ftp://switch" is not an http(s) URL`,
		"sippy::password is set but sippy::username is empty",
		"sippy::window must be at least 1s",
		"sippy::page_size must be between 1 and 100",
		"sippy::fields::date must not be empty",
		"sippy::retry_on_failure::max_elapsed_time must be 0",
	} {
		assert.ErrorContains(t, err, msg)
	}
}

// TestLifecycle creates, starts and shuts down the receiver twice on the
// configuration in metadata.yaml, and shuts down one never started.
func TestLifecycle(t *testing.T) {
	cm, err := confmaptest.LoadConf("metadata.yaml")
	require.NoError(t, err)
	sub, err := cm.Sub("tests::config")
	require.NoError(t, err)
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(&cfg))
	require.NoError(t, confmap.Validate(cfg))

	rcv, err := factory.CreateLogs(context.Background(), settings(), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, rcv.Shutdown(context.Background()))
	for range 2 {
		rcv, err := factory.CreateLogs(context.Background(), settings(), cfg, consumertest.NewNop())
		require.NoError(t, err)
		require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, rcv.Shutdown(context.Background()))
	}
}

func TestStartNeedsEndpointAndCredentials(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Glassix.GetOrInsertDefault()
	cfg.Sippy.GetOrInsertDefault()
	require.NoError(t, confmap.Validate(cfg), "an unset environment validates")
	rcv, err := NewFactory().CreateLogs(context.Background(), settings(), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = rcv.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, "sippy::endpoint is empty")
	require.NoError(t, rcv.Shutdown(context.Background()))

	cfg.Sippy.Get().Endpoint = "http://127.0.0.1:1/xmlapi/xmlapi"
	rcv, err = NewFactory().CreateLogs(context.Background(), settings(), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = rcv.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, "glassix::endpoint is empty")
	assert.ErrorContains(t, err, "glassix::api_key, glassix::api_secret and glassix::user_name are all required")
	require.NoError(t, rcv.Shutdown(context.Background()))
}

func TestInsecureSkipVerifyWarns(t *testing.T) {
	cfg := sippyCfg("https://127.0.0.1:1/xmlapi/xmlapi", time.Now(), false)
	cfg.Sippy.Get().TLS.InsecureSkipVerify = true
	run := start(t, cfg, componenttest.NewNopHost(), consumertest.NewNop())
	run.stop(t)
	assert.Equal(t, 1, run.logs.FilterMessageSnippet("insecure_skip_verify is on").Len())
}

func TestStartAtMustBeRFC3339(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("auditpull/bad_start")
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	err = sub.Unmarshal(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "start_at")
}
