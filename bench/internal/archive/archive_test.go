package archive

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/loadtest/eventid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var scheme = eventid.NewScheme(0xabc)

func line(seq uint64) string { return `{"audit.event_id":"` + scheme.String(seq) + `"}` + "\n" }

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestTailerReadsCompleteLinesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var events eventid.Set
	tl := New(path, scheme, &events)
	require.NoError(t, tl.Poll(), "no archive yet is not an error")

	appendTo(t, path, line(0)+line(1)+line(2)[:10]) // the third is half written
	require.NoError(t, tl.Poll())
	assert.Equal(t, uint64(2), events.Len())
	assert.Equal(t, uint64(2), tl.Stats().Lines)

	appendTo(t, path, line(2)[10:])
	require.NoError(t, tl.Poll())
	require.NoError(t, tl.Poll())
	assert.Equal(t, uint64(3), events.Len())
	assert.Equal(t, uint64(0), events.Duplicates(), "no line is read twice")
}

func TestTailerFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	var events eventid.Set
	tl := New(path, scheme, &events)
	appendTo(t, path, line(0)+line(1))
	require.NoError(t, tl.Poll())

	// Rotate: the current file is renamed, a new one started.
	require.NoError(t, os.Rename(path, filepath.Join(dir, "audit-2024-01-01T00-00-00.jsonl")))
	appendTo(t, path, line(2))
	appendTo(t, filepath.Join(dir, "audit-2024-01-01T00-00-00.jsonl.gz"), "compressed")
	appendTo(t, filepath.Join(dir, "unrelated.txt"), line(99))
	require.NoError(t, tl.Poll())

	assert.Equal(t, uint64(3), events.Len())
	assert.Equal(t, uint64(0), events.Duplicates(), "the renamed file is not read again")
	st := tl.Stats()
	assert.Equal(t, 2, st.Files)
	assert.Equal(t, []string{"audit-2024-01-01T00-00-00.jsonl.gz"}, st.Compressed)
}

func TestTailerCountsEveryEventOfABatchLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var events eventid.Set
	tl := New(path, scheme, &events)
	// An OTLP-JSON batch line names each event in its body and attributes.
	id0, id1 := scheme.String(0), scheme.String(1)
	appendTo(t, path, `{"logRecords":[{"body":"`+id0+`","id":"`+id0+`"},{"body":"`+id1+`","id":"`+id1+`"}]}`+"\n")
	require.NoError(t, tl.Poll())
	assert.Equal(t, uint64(2), events.Len())
	assert.Equal(t, uint64(0), events.Duplicates())
}

func TestTailerReadsLinesLongerThanItsBuffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var events eventid.Set
	tl := New(path, scheme, &events)
	long := scheme.String(1) + strings.Repeat("x", 3<<20) + scheme.String(2)
	appendTo(t, path, long)
	require.NoError(t, tl.Poll())
	assert.Zero(t, events.Len(), "a long line still being written is not read")
	appendTo(t, path, "\n"+line(3))
	require.NoError(t, tl.Poll())
	assert.Equal(t, uint64(3), events.Len())
	assert.Equal(t, uint64(2), tl.Stats().Lines)
}

func TestTailerStartsAgainAfterTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var events eventid.Set
	tl := New(path, scheme, &events)
	appendTo(t, path, line(0)+line(1))
	require.NoError(t, tl.Poll())
	require.NoError(t, os.WriteFile(path, []byte(line(2)), 0o600))
	require.NoError(t, tl.Poll())
	assert.Equal(t, uint64(3), events.Len())
}

func TestRunPollsUntilCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var events eventid.Set
	tl := New(path, scheme, &events)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx, 10*time.Millisecond) }()
	appendTo(t, path, line(5))
	require.Eventually(t, func() bool { return events.Contains(5) }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}
