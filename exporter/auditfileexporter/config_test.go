package auditfileexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg.(*Config), nil
}

func TestLoadConfig(t *testing.T) {
	defaults := createDefaultConfig().(*Config)
	defaults.Path = "./data/audit.jsonl"

	custom := createDefaultConfig().(*Config)
	custom.Path = "/var/lib/otelcol-audit/audit.jsonl"
	custom.Rotation = RotationConfig{MaxMegabytes: 50, Daily: false}
	custom.Retention = RetentionConfig{MaxBackups: 30, MaxDays: 365}
	custom.Compression = CompressionNone
	custom.Fsync = FsyncInterval
	custom.FsyncInterval = 250 * time.Millisecond
	custom.FileMode = 0o640
	custom.DirMode = 0o750
	custom.HMACKey = "0123456789abcdef0123456789abcdef"
	custom.Signing = SigningConfig{KeyFile: "/var/lib/otelcol-audit/keys/archive-signing.key", CheckpointEvery: 5000, CheckpointInterval: 30 * time.Second}
	custom.TimeoutConfig.Timeout = 2 * time.Second
	custom.RetryConfig.InitialInterval = time.Second
	custom.RetryConfig.MaxInterval = 10 * time.Second
	custom.RetryConfig.MaxElapsedTime = 0
	queue := *createDefaultConfig().(*Config).QueueConfig.Get()
	queue.QueueSize = 5000
	custom.QueueConfig = configoptional.Some(queue)

	tests := []struct {
		id   string
		want *Config
	}{
		{"", defaults},
		{"custom", custom},
	}
	for _, tt := range tests {
		t.Run(component.NewIDWithName(metadata.Type, tt.id).String(), func(t *testing.T) {
			cfg, err := loadConfig(t, tt.id)
			require.NoError(t, err)
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, RotationConfig{MaxMegabytes: 100, Daily: true}, cfg.Rotation)
	assert.Equal(t, RetentionConfig{}, cfg.Retention, "nothing is removed unless configured")
	assert.Equal(t, CompressionGzip, cfg.Compression)
	assert.Equal(t, FsyncBatch, cfg.Fsync)
	assert.Equal(t, FileMode(0o600), cfg.FileMode)
	assert.Equal(t, FileMode(0o700), cfg.DirMode)
	assert.Equal(t, SigningConfig{CreateKey: true, CheckpointEvery: 10000, CheckpointInterval: 10 * time.Second, Anchor: true}, cfg.Signing, "no key_file: no signing unless configured")
	assert.Equal(t, 5*time.Second, cfg.TimeoutConfig.Timeout)
	assert.True(t, cfg.RetryConfig.Enabled)
	assert.Zero(t, cfg.RetryConfig.MaxElapsedTime, "a full disk must not make the exporter drop events")
	require.True(t, cfg.QueueConfig.HasValue())
	queue := cfg.QueueConfig.Get()
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, queue.Sizer, "memory bounded in records whatever the events per request")
	assert.Equal(t, int64(5_000), queue.QueueSize)
	assert.True(t, queue.BlockOnOverflow, "a full queue makes the request wait, not fail at once")
	assert.Equal(t, 2, queue.NumConsumers)
	require.True(t, queue.Batch.HasValue(), "batching on by default: one fsync per batch, not per request")
	batch := queue.Batch.Get()
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, batch.Sizer)
	assert.Equal(t, 200*time.Millisecond, batch.FlushTimeout)
	assert.Equal(t, int64(500), batch.MinSize)
	assert.Equal(t, int64(2_000), batch.MaxSize)
	require.NoError(t, queue.Validate())
	// The path is the one required setting.
	assert.ErrorContains(t, confmap.Validate(cfg), "path must be set")
	require.NoError(t, confmap.New().Unmarshal(&cfg))
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		id        string
		unmarshal string   // an error unmarshalling
		validate  []string // every part of the validation error
	}{
		{id: "invalid", validate: []string{
			"path must be set",
			"rotation::max_megabytes must be 0 (no size rotation) or more, got -1",
			"retention::max_backups must be 0 (keep all) or more, got -2",
			"retention::max_days must be 0 (keep forever) or more, got -3",
			`compression must be "gzip" or "none", got "zstd"`,
			`fsync must be "batch" or "interval", got "always"`,
			"file_mode 600 is not a permission: write it in octal, e.g. 0600",
			"dir_mode 0600 must give the owner at least 0700",
			"hmac_key must be at least 16 bytes when set, got 5",
			"signing::checkpoint_every must be at least 1, got 0",
			"signing::checkpoint_interval must be more than 0 and at most 1m0s, got 2m0s",
		}},
		{id: "interval_without_interval", validate: []string{"fsync_interval must be positive with fsync: interval, got 0s"}},
		{id: "mode_not_octal", unmarshal: `"rw-------" is not an octal permission`},
		{id: "typo", unmarshal: "has invalid keys: rotaton"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.id)
			if tt.unmarshal != "" {
				require.ErrorContains(t, err, tt.unmarshal)
				return
			}
			require.NoError(t, err)
			err = confmap.Validate(cfg)
			require.Error(t, err)
			for _, want := range tt.validate {
				assert.ErrorContains(t, err, want)
			}
		})
	}
}

func TestLoadQueueConfig(t *testing.T) {
	t.Run("batch settings override the defaults", func(t *testing.T) {
		cfg, err := loadConfig(t, "batched")
		require.NoError(t, err)
		require.NoError(t, confmap.Validate(cfg))
		batch := cfg.QueueConfig.Get().Batch
		require.True(t, batch.HasValue())
		assert.Equal(t, time.Second, batch.Get().FlushTimeout)
		assert.Equal(t, int64(500), batch.Get().MinSize)
		assert.Equal(t, int64(2_000), batch.Get().MaxSize, "unset keys keep the defaults")
	})
	t.Run("batching can be turned off", func(t *testing.T) {
		cfg, err := loadConfig(t, "unbatched")
		require.NoError(t, err)
		require.NoError(t, confmap.Validate(cfg))
		assert.False(t, cfg.QueueConfig.Get().Batch.HasValue())
	})
	t.Run("a request-sized queue keeps record-sized batches", func(t *testing.T) {
		cfg, err := loadConfig(t, "requests")
		require.NoError(t, err)
		require.NoError(t, confmap.Validate(cfg))
		queue := cfg.QueueConfig.Get()
		assert.Equal(t, exporterhelper.RequestSizerTypeRequests, queue.Sizer)
		assert.Equal(t, int64(1_000), queue.QueueSize)
		assert.Equal(t, exporterhelper.RequestSizerTypeItems, queue.Batch.Get().Sizer)
	})
}
