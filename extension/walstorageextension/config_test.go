package walstorageextension

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-audit/otelcol-audit/extension/walstorageextension/internal/metadata"
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
	assert.Equal(t, &Config{Directory: "./data/wal", Sync: true, MemTableMiB: 4, CacheMiB: 8}, loadConfig(t, ""))
	assert.Equal(t, &Config{Directory: "/var/lib/otelcol-audit/wal", CreateDirectory: true, Sync: false, MemTableMiB: 16, CacheMiB: 32}, loadConfig(t, "all"))
	assert.NoError(t, confmap.Validate(loadConfig(t, "all")))
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "bad"))
	require.Error(t, err)
	for _, want := range []string{"directory: must be set", "memtable_mib: must be 1 to 1024, got 0", "cache_mib: must not be negative, got -1"} {
		assert.ErrorContains(t, err, want)
	}
}
