package archivefollow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var scheme = loadid.NewScheme(0xabc)

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
	var events loadid.Set
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
	var events loadid.Set
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
	var events loadid.Set
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
	var events loadid.Set
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
	var events loadid.Set
	tl := New(path, scheme, &events)
	appendTo(t, path, line(0)+line(1))
	require.NoError(t, tl.Poll())
	require.NoError(t, os.WriteFile(path, []byte(line(2)), 0o600))
	require.NoError(t, tl.Poll())
	assert.Equal(t, uint64(3), events.Len())
}

func TestPollToReadsWhatWasThereAtTheMark(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	var events loadid.Set
	tl := New(path, scheme, &events)
	empty, err := tl.Mark()
	require.NoError(t, err, "no archive yet is not an error")

	appendTo(t, path, line(0))
	first, err := tl.Mark()
	require.NoError(t, err)
	appendTo(t, path, line(1)+line(2)[:10]) // the third is half written at the mark
	second, err := tl.Mark()
	require.NoError(t, err)
	appendTo(t, path, line(2)[10:]+line(3))
	// Rotation after the marks: the marked file is renamed, a new one started.
	require.NoError(t, os.Rename(path, filepath.Join(dir, "audit-2024-01-01T00-00-00.jsonl")))
	appendTo(t, path, line(4))
	assert.Zero(t, events.Len(), "a mark reads nothing")

	require.NoError(t, tl.PollTo(empty))
	assert.Zero(t, events.Len())
	require.NoError(t, tl.PollTo(first))
	assert.Equal(t, uint64(1), events.Len())
	require.NoError(t, tl.PollTo(second))
	assert.Equal(t, uint64(2), events.Len(), "the line half written at the mark is not counted at it")
	assert.False(t, events.Contains(2))
	require.NoError(t, tl.PollTo(first), "an earlier mark reads nothing more")
	assert.Equal(t, uint64(2), events.Len())

	require.NoError(t, tl.Poll())
	assert.Equal(t, uint64(5), events.Len())
	assert.Zero(t, events.Duplicates(), "no line is read twice")
	assert.Equal(t, uint64(5), tl.Stats().Lines)
	assert.Empty(t, tl.Stats().Vanished)
}

// otelcol-audit keeps a head file beside the archive and replaces it on
// every write; neither it nor a temporary file is archive data, and its
// replacement is not a file that vanished unread.
func TestTailerIgnoresFilesBesideTheArchive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	var events loadid.Set
	tl := New(path, scheme, &events)
	appendTo(t, path, line(0))
	appendTo(t, path+".head", line(90))
	appendTo(t, filepath.Join(dir, "audit-1.jsonl.gz.tmp"), line(91))
	appendTo(t, filepath.Join(dir, "audit.jsonl.partial-20250102T030405.123456789Z"), line(92))
	m, err := tl.Mark()
	require.NoError(t, err)
	require.NoError(t, os.Remove(path+".head"))
	appendTo(t, path+".head.tmp", line(93))
	require.NoError(t, os.Rename(path+".head.tmp", path+".head"))
	require.NoError(t, tl.PollTo(m))
	require.NoError(t, tl.Poll())
	assert.Equal(t, uint64(1), events.Len())
	assert.True(t, events.Contains(0))
	st := tl.Stats()
	assert.Empty(t, st.Vanished)
	assert.Empty(t, st.Compressed)
	assert.Equal(t, 1, st.Files)
}

// A file removed (or cut short) after the mark and before the tailer read
// it held lines nobody counted: the tailer says so.
func TestPollToReportsFilesThatVanishedUnread(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	var events loadid.Set
	tl := New(path, scheme, &events)
	appendTo(t, path, line(0))
	require.NoError(t, tl.Poll())
	appendTo(t, path, line(1))
	m, err := tl.Mark()
	require.NoError(t, err)
	require.NoError(t, os.Remove(path))
	require.NoError(t, tl.PollTo(m))
	assert.Equal(t, uint64(1), events.Len())
	vanished := tl.Stats().Vanished
	require.Len(t, vanished, 1)
	assert.Contains(t, vanished[0], "audit.jsonl")
	assert.Contains(t, vanished[0], "unread")

	other := filepath.Join(t.TempDir(), "audit.jsonl")
	tl = New(other, scheme, &events)
	appendTo(t, other, line(2)+line(3))
	m, err = tl.Mark()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(other, []byte(line(4)), 0o600)) // cut short in place
	require.NoError(t, tl.PollTo(m))
	require.Len(t, tl.Stats().Vanished, 1)
	assert.Contains(t, tl.Stats().Vanished[0], "at the mark")
}
