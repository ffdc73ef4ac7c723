package auditlogprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/testutil"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, component.MustNewType("auditlog"), f.Type())
	assert.Equal(t, metadata.LogsStability, f.LogsStability())
	p, err := f.CreateLogs(context.Background(), processortestSettings(), f.CreateDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	assert.True(t, p.Capabilities().MutatesData)
	_, err = f.CreateTraces(context.Background(), processortestSettings(), f.CreateDefaultConfig(), consumertest.NewNop())
	assert.Error(t, err, "logs only")
}

func TestLifecycle(t *testing.T) {
	storageID := component.MustNewIDWithName("file_storage", "dedup")
	ext, _ := testutil.StartFileStorage(t, t.TempDir())
	tests := []struct {
		name string
		cfg  func(*Config)
		host component.Host
	}{
		{"defaults", func(*Config) {}, componenttest.NewNopHost()},
		{"dedup off", func(c *Config) { c.Dedup.Enabled = false }, componenttest.NewNopHost()},
		{"persistent dedup", func(c *Config) { c.Dedup.Storage = &storageID }, testutil.Host{storageID: ext}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			tt.cfg(cfg)
			// Twice, as the collector may recreate a pipeline.
			for i := 0; i < 2; i++ {
				p, err := NewFactory().CreateLogs(context.Background(), processortestSettings(), cfg, consumertest.NewNop())
				require.NoError(t, err)
				require.NoError(t, p.Start(context.Background(), tt.host))
				require.NoError(t, p.ConsumeLogs(context.Background(), logsOf(vendorResource(t, "glassix", roleRemoved()))))
				require.NoError(t, p.Shutdown(context.Background()))
			}
		})
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	p, err := NewFactory().CreateLogs(context.Background(), processortestSettings(), defaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
}
