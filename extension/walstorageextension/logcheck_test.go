package walstorageextension

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/extension/walstorageextension/internal/metadata"
)

// crashCopy writes n synced values of size bytes through a client, then
// copies the database's directory while it is open: what a crash right
// after the last fsync leaves on disk.
func crashCopy(t *testing.T, n, size int) string {
	t.Helper()
	s, stop := start(t, t.TempDir())
	c := newClient(t, s, component.KindProcessor, "auditlog", "journal")
	for i := range n {
		// No ticket: each Set is synced before it returns.
		require.NoError(t, c.Set(context.Background(), fmt.Sprintf("k%03d", i), bytes.Repeat([]byte{byte('a' + i%26)}, size)))
	}
	dst := t.TempDir()
	entries, err := os.ReadDir(s.cfg.Directory)
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.cfg.Directory, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
	stop()
	return dst
}

// newestLog returns the newest log's path and the offsets of its records.
func newestLog(t *testing.T, dir string) (string, []int64) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, matches)
	path := matches[len(matches)-1] // zero-padded numbers sort
	var num uint64
	_, err = fmt.Sscanf(filepath.Base(path), "%d.log", &num)
	require.NoError(t, err)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rr := record.NewReader(f, pebble.FileNum(num))
	var offsets []int64
	for {
		off := rr.Offset()
		rec, err := rr.Next()
		if err != nil {
			break
		}
		_, err = io.Copy(io.Discard, rec)
		require.NoError(t, err)
		offsets = append(offsets, off)
	}
	return path, offsets
}

// reopen starts the extension on dir with an observed logger and returns
// the keys k000... it holds, and the logs.
func reopen(t *testing.T, dir string, n int) ([]string, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Directory = dir
	set := extensiontest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	ext, err := f.Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
	c := newClient(t, ext.(*walStorage), component.KindProcessor, "auditlog", "journal")
	var keys []string
	for i := range n {
		k := fmt.Sprintf("k%03d", i)
		v, err := c.Get(context.Background(), k)
		require.NoError(t, err)
		if v != nil {
			keys = append(keys, k)
		}
	}
	return keys, logs
}

func TestTornLogTailIsDropped(t *testing.T) {
	dir := crashCopy(t, 5, 1000)
	path, offsets := newestLog(t, dir)
	require.GreaterOrEqual(t, len(offsets), 5)
	// Cut the last record (the fifth value's batch) short.
	last := offsets[len(offsets)-1]
	require.NoError(t, os.Truncate(path, last+100))

	keys, logs := reopen(t, dir, 5)
	assert.Equal(t, []string{"k000", "k001", "k002", "k003"}, keys, "the torn write is dropped, the ones before it kept")
	torn := logs.FilterMessageSnippet("ends in a record cut short").All()
	require.Len(t, torn, 1, "said once, clearly")
	assert.Equal(t, zapcore.WarnLevel, torn[0].Level)
	assert.Empty(t, logs.FilterMessageSnippet("damaged before its end").All())
}

func TestCorruptLogMiddleIsReported(t *testing.T) {
	const n = 100 // 1 KiB each: about four 32 KiB blocks
	dir := crashCopy(t, n, 1000)
	path, offsets := newestLog(t, dir)
	require.GreaterOrEqual(t, len(offsets), n)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	// A byte of the tenth value, in the first block, flipped on disk.
	damaged := offsets[len(offsets)-n+10] + 200
	require.Less(t, damaged, int64(blockSize))
	b[damaged] ^= 0xff
	require.NoError(t, os.WriteFile(path, b, 0o600))

	keys, logs := reopen(t, dir, n)
	reported := logs.FilterMessageSnippet("damaged before its end").All()
	require.Len(t, reported, 1, "valid records after the damage: not restored, and said so")
	assert.Equal(t, zapcore.ErrorLevel, reported[0].Level)
	assert.Positive(t, reported[0].ContextMap()["records_after"])
	assert.Less(t, len(keys), n, "pebble restored only the writes before the damage")
	assert.True(t, strings.HasSuffix(reported[0].ContextMap()["file"].(string), ".log"))
}

func TestCleanLogSaysNothing(t *testing.T) {
	dir := crashCopy(t, 3, 100)
	keys, logs := reopen(t, dir, 3)
	assert.Len(t, keys, 3)
	assert.Empty(t, logs.FilterMessageSnippet("write-ahead log").All())
}
