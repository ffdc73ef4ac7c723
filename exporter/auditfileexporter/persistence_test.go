package auditfileexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// storageHost hands the exporter its storage extension.
type storageHost struct {
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// The shipped configuration: a persistent sending queue on file_storage.
// While the archive's disk is full, events wait in the queue, across a
// collector restart, and land in the archive once there is room.
func TestPersistentQueueKeepsEventsWhileTheDiskIsFull(t *testing.T) {
	dir, child := archivetest.Tmpfs(t, 1<<20)
	if !child {
		return
	}
	storageID := component.MustNewIDWithName("file_storage", "queue")
	queueDir := t.TempDir() // on another filesystem, with room
	startStorage := func() (extension.Extension, storageHost) {
		f := filestorage.NewFactory()
		sc := f.CreateDefaultConfig().(*filestorage.Config)
		sc.Directory = queueDir
		sc.Compaction.Directory = queueDir
		ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), sc)
		require.NoError(t, err)
		require.NoError(t, ext.Start(context.Background(), nil))
		return ext, storageHost{exts: map[component.ID]component.Component{storageID: ext}}
	}
	cfg := testConfig(dir)
	cfg.QueueConfig.Get().StorageID = &storageID
	cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	start := func(host storageHost, logger *zap.Logger) exporter.Logs {
		set := exportertest.NewNopSettings(metadata.Type)
		set.ID = component.NewID(metadata.Type) // the queue is keyed by the ID
		set.Logger = logger
		exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), host))
		return exp
	}

	// First run: the disk is full; the events are accepted into the queue.
	fillDisk(t, dir)
	ext, host := startStorage()
	core, logs := observer.New(zap.InfoLevel)
	exp := start(host, zap.New(core))
	for i := range 10 {
		require.NoError(t, exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs(i*5+1, 5)))
	}
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("Will retry").Len() > 0 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	assert.Zero(t, countEvents(cfg.Path), "nothing fitted on the full disk")

	// Second run, with room on the disk: the queue delivers everything.
	require.NoError(t, os.Remove(filepath.Join(dir, "filler")))
	ext, host = startStorage()
	exp = start(host, zap.NewNop())
	require.Eventually(t, func() bool { return countEvents(cfg.Path) == 50 }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))

	seen := map[string]bool{}
	for _, ev := range readEvents(t, cfg.Path) {
		seen[ev.Message] = true
	}
	assert.Len(t, seen, 50)
	requireIntact(t, cfg.Path, nil)
}

// countEvents counts the sound event lines of the archive at path (0 when
// there is none yet); it is safe to call while the archive is written.
func countEvents(path string) int {
	a, err := archive.Open(path)
	if err != nil {
		return 0
	}
	n := 0
	for e, err := range a.Entries() {
		if err == nil && e.Status == archive.StatusOK && !e.IsMarker() {
			n++
		}
	}
	return n
}
