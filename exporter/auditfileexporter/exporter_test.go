package auditfileexporter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

func testConfig(dir string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Path = filepath.Join(dir, "audit.jsonl")
	return cfg
}

// startExporter starts an exporter and returns it with its shutdown, which
// also runs at the end of the test if the test did not call it.
func startExporter(t *testing.T, cfg *Config, set exporter.Settings) (exporter.Logs, func()) {
	t.Helper()
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	var once sync.Once
	shutdown := func() { once.Do(func() { require.NoError(t, exp.Shutdown(context.Background())) }) }
	t.Cleanup(shutdown)
	return exp, shutdown
}

func readEvents(t *testing.T, path string) []archive.Event {
	t.Helper()
	a, err := archive.Open(path)
	require.NoError(t, err)
	var events []archive.Event
	for e, err := range a.Entries() {
		require.NoError(t, err)
		require.Equal(t, archive.StatusOK, e.Status, "%s:%d: %v", e.File, e.Line, e.Err)
		ev, err := e.Decode()
		require.NoError(t, err)
		if !ev.IsMarker() {
			events = append(events, ev)
		}
	}
	return events
}

func requireIntact(t *testing.T, path string, key []byte) *archive.Report {
	t.Helper()
	r, err := archive.Verify(path, archive.VerifyOptions{HMACKey: key})
	require.NoError(t, err)
	require.Empty(t, r.Problems)
	return r
}

func TestExportWritesTheRecordContract(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	exp, _ := startExporter(t, cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs(1, 2)))
	// Without a queue, the events are in the file when ConsumeLogs returns.
	events := readEvents(t, cfg.Path)
	require.Len(t, events, 2)
	ev := events[1]
	assert.Equal(t, uint64(2), ev.Seq)
	assert.Equal(t, archivetest.Base.Add(2*time.Second), ev.Time)
	assert.Equal(t, archivetest.Base.Add(2*time.Second+150*time.Millisecond), ev.Observed)
	assert.Equal(t, "glassix", ev.Source)
	assert.Equal(t, "UserRemoved", ev.Name)
	assert.Equal(t, 13, ev.SeverityNumber)
	assert.Equal(t, "warning", ev.SeverityText)
	assert.Equal(t, "user-2 removed by admin", ev.Message)
	assert.Equal(t, "admin@example.com", ev.Attributes["initiatorUser_UserName"])
	assert.Equal(t, "users", ev.Attributes["tags_1"])
	assert.Equal(t, "glassix", ev.Resource["service.name"])

	st, err := os.Stat(cfg.Path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	requireIntact(t, cfg.Path, nil)
}

func TestExportThroughTheSendingQueue(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Rotation.MaxMegabytes = 1
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 25 {
				assert.NoError(t, exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs((g*25+b)*4+1, 4)))
			}
		}()
	}
	wg.Wait()
	// Shutdown drains the in-memory queue into the archive.
	require.NoError(t, exp.Shutdown(context.Background()))

	seen := map[string]bool{}
	for _, ev := range readEvents(t, cfg.Path) {
		assert.False(t, seen[ev.Message], "duplicate %s", ev.Message)
		seen[ev.Message] = true
	}
	assert.Len(t, seen, 400)
	requireIntact(t, cfg.Path, nil)
}

func TestExportKeyedChain(t *testing.T) {
	key := "an-hmac-key-of-32-bytes-for-test"
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.HMACKey = configopaque.String(key)
	exp, shutdown := startExporter(t, cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs(1, 3)))
	shutdown()
	for _, ev := range readEvents(t, cfg.Path) {
		assert.Len(t, ev.HMAC, 64)
	}
	r := requireIntact(t, cfg.Path, []byte(key))
	assert.True(t, r.HMACChecked)
}

// On a full disk the push fails with a retryable error; exporterhelper
// retries it, and once there is room the batch lands, whole and once.
func TestExportDiskFullIsRetried(t *testing.T) {
	dir, child := archivetest.Tmpfs(t, 1<<20)
	if !child {
		return
	}
	cfg := testConfig(dir)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	core, logs := observer.New(zap.InfoLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	exp, shutdown := startExporter(t, cfg, set)
	require.NoError(t, exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs(1, 5)))

	// Leave two pages: part of the next batch fits, the rest does not.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "reserve"), make([]byte, 8192), 0o600))
	fillDisk(t, dir)
	require.NoError(t, os.Remove(filepath.Join(dir, "reserve")))
	before, err := os.ReadFile(cfg.Path)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs(6, 60)) }()
	require.Eventually(t, func() bool {
		return logs.FilterMessageSnippet("Will retry").FilterFieldKey("error").Len() >= 2
	}, 30*time.Second, 5*time.Millisecond)
	retry := logs.FilterMessageSnippet("Will retry").All()[0]
	assert.Contains(t, retry.ContextMap()["error"], "no space left on device")
	after, err := os.ReadFile(cfg.Path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "a failed attempt left bytes in the archive")

	require.NoError(t, os.Remove(filepath.Join(dir, "filler")))
	require.NoError(t, <-done)
	shutdown()
	events := readEvents(t, cfg.Path)
	require.Len(t, events, 65)
	assert.Equal(t, "user-65 removed by admin", events[64].Message)
	requireIntact(t, cfg.Path, nil)
}

func TestPushErrorsArePermanentOnlyWhenClosed(t *testing.T) {
	dir := t.TempDir()
	e := newAuditFileExporter(testConfig(dir), zap.NewNop())
	err := e.pushLogs(context.Background(), archivetest.GlassixLogs(1, 1))
	assert.True(t, consumererror.IsPermanent(err), "not started: %v", err)

	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.pushLogs(context.Background(), archivetest.GlassixLogs(1, 1)))
	require.NoError(t, e.shutdown(context.Background()))
	err = e.pushLogs(context.Background(), archivetest.GlassixLogs(2, 1))
	assert.True(t, consumererror.IsPermanent(err))
	assert.True(t, errors.Is(err, archive.ErrClosed))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e2 := newAuditFileExporter(testConfig(t.TempDir()), zap.NewNop())
	require.NoError(t, e2.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e2.shutdown(context.Background())) }()
	err = e2.pushLogs(ctx, archivetest.GlassixLogs(1, 1))
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, consumererror.IsPermanent(err), "a timed-out write is retried")
}

func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "%v", err)
			return
		}
	}
}

// With an index in the collector taking the archive's lines (a Tap), the
// exporter hands it each event's fields with its line.
func TestExportHandsTheIndexItsFields(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	tap := archive.SubscribeTap(cfg.Path, archive.TapOptions{})
	defer tap.Close()
	exp, _ := startExporter(t, cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs(1, 3)))

	info, err := os.Stat(cfg.Path)
	require.NoError(t, err)
	st := info.Sys().(*syscall.Stat_t)
	run, _ := tap.Take(uint64(st.Dev), st.Ino, 0, info.Size(), true) //nolint:unconvert // Dev is int32 on some systems
	hints := 0
	for e := range run.Entries(filepath.Base(cfg.Path), 0, nil) {
		ev, err := e.Decode()
		require.NoError(t, err)
		if ev.IsMarker() {
			continue
		}
		require.NotNil(t, e.Hint, "line %d", e.Line)
		assert.Equal(t, ev.Name, e.Hint.Event)
		assert.Equal(t, ev.Message, e.Hint.Message)
		hints++
	}
	assert.Equal(t, 3, hints)
}
