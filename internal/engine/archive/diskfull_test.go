package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// fillDisk writes dir/filler until the filesystem is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return
		}
	}
}

// On a full disk a batch fails with a retryable error, leaves nothing of
// itself in the file (not even when part of it fitted), and succeeds once
// there is room again.
func TestWriterDiskFull(t *testing.T) {
	dir, child := archivetest.Tmpfs(t, 1<<20)
	if !child {
		return
	}
	active := filepath.Join(dir, "audit.jsonl")
	w := openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 1, 10, 5)

	// Leave two pages free: part of the next batch fits, the rest does not.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "reserve"), make([]byte, 8192), 0o600))
	fillDisk(t, dir)
	require.NoError(t, os.Remove(filepath.Join(dir, "reserve")))
	before, err := os.ReadFile(active)
	require.NoError(t, err)

	big := EncodeLogs(glassix(11, 60)) // about 36 KB
	for attempt := range 2 {
		err = w.Write(context.Background(), big)
		require.ErrorIs(t, err, syscall.ENOSPC, "attempt %d", attempt)
		after, rerr := os.ReadFile(active)
		require.NoError(t, rerr)
		require.Equal(t, before, after, "attempt %d: the failed batch left bytes in the file", attempt)
	}

	require.NoError(t, os.Remove(filepath.Join(dir, "filler")))
	require.NoError(t, w.Write(context.Background(), big))
	require.NoError(t, w.Close())

	msgs := eventMessages(t, dir)
	require.Len(t, msgs, 70)
	assert.Equal(t, "user-70 removed by admin", msgs[69])
	requireIntact(t, dir, VerifyOptions{})
}

// A full disk at start (with recovery to record) does not stop the writer:
// it opens, and records what it found once there is room.
func TestWriterStartsOnFullDisk(t *testing.T) {
	dir, child := archivetest.Tmpfs(t, 1<<20)
	if !child {
		return
	}
	w := openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 1, 10, 5)
	require.NoError(t, w.Close())
	appendBytes(t, filepath.Join(dir, "audit.jsonl"), `{"seq":11,"prev":"`)
	require.NoError(t, os.Remove(filepath.Join(dir, "audit.jsonl.head")))
	fillDisk(t, dir)

	w = openTestWriter(t, dir, WriterOptions{})
	err := w.Write(context.Background(), EncodeLogs(glassix(11, 5)))
	require.True(t, errors.Is(err, syscall.ENOSPC), "%v", err)
	require.NoError(t, os.Remove(filepath.Join(dir, "filler")))
	require.NoError(t, w.Write(context.Background(), EncodeLogs(glassix(11, 5))))
	require.NoError(t, w.Close())

	assert.Len(t, eventMessages(t, dir), 15)
	r, err := Verify(dir, VerifyOptions{})
	require.NoError(t, err)
	// The deleted head is reported (as it must be); nothing else.
	require.Len(t, r.Problems, 1, "%v", r.Problems)
	assert.Equal(t, KindWriterAlarm, r.Problems[0].Kind)
	assert.Contains(t, r.Notes[0], "cut a partial line")
}
