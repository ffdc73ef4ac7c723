package auditfileexporter

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// The exporter registers once started, reports what it wrote to the
// archive and unregisters once its queue drained at shutdown: what the
// auditlog processor's journal waits for.
func TestReportsWhatItArchived(t *testing.T) {
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "settled")
	exp, shutdown := startExporter(t, testConfig(t.TempDir()), set)

	var mu sync.Mutex
	settled, gone := 0, false
	replay, stop, ok := durable.Watch(set.ID, func(ld plog.Logs, which func(int) bool) {
		mu.Lock()
		defer mu.Unlock()
		require.Nil(t, which, "a batch is written whole")
		settled += ld.LogRecordCount()
	}, func() { mu.Lock(); gone = true; mu.Unlock() })
	require.True(t, ok, "registered once started")
	defer stop()
	assert.NotNil(t, replay)

	require.NoError(t, exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs(1, 5)))
	// The queue batches for up to 200 ms; shutdown drains it first.
	shutdown()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 5, settled)
	assert.True(t, gone)
}
