package archive

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/hostilejson"
)

// takeAll takes what the tap holds for the active file of the archive at
// path from offset from, as the index does.
func takeAll(t *testing.T, tap *Tap, path string, from int64) (TapRun, bool, os.FileInfo) {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	dev, ino := fileID(info)
	run, pending := tap.Take(dev, ino, from, info.Size(), true)
	return run, pending, info
}

// readEntries is what reading the file gives from offset from.
func readEntries(t *testing.T, a *Archive, path string, from int64, skipped int, pred *Seal) []Entry {
	t.Helper()
	var out []Entry
	for e := range a.FileEntries(File{Name: filepath.Base(path), Path: path, Active: true}, from, skipped, pred) {
		out = append(out, e)
	}
	return out
}

func runEntries(run TapRun, path string, skipped int, pred *Seal) []Entry {
	var out []Entry
	for e := range run.Entries(filepath.Base(path), skipped, pred) {
		out = append(out, e)
	}
	return out
}

// normalize drops what differs only in representation (the hashed bytes
// a Seal keeps, error values by identity).
func normalize(es []Entry) []Entry {
	out := make([]Entry, len(es))
	for i, e := range es {
		e.Seal.hashed = nil
		if e.Err != nil {
			e.Err = &lineError{err: errorString(e.Err.Error())}
		}
		out[i] = e
	}
	return out
}

type errorString string

func (e errorString) Error() string { return string(e) }

// Lines handed over read as the file reads: every status, seal, offset and
// number, for encoded events, markers, hostile bodies written through
// Write (checked as a reader checks them) and a keyed chain.
func TestTapEntriesMatchTheFile(t *testing.T) {
	for _, key := range [][]byte{nil, []byte("tap-key")} {
		path, tap, w := tapped(t, TapOptions{HMACKey: key}, WriterOptions{HMACKey: key})
		ctx := context.Background()
		require.NoError(t, w.WriteEncoded(ctx, EncodeLogs(archivetest.GlassixLogs(1, 5))))
		for _, c := range hostilejson.Cases {
			if c.Prefix == "" && c.Suffix == "" {
				require.NoError(t, w.Write(ctx, [][]byte{hostilejson.ArchiveBody(c)}))
			}
		}
		require.NoError(t, w.Write(ctx, EncodeLogs(archivetest.GlassixLogs(6, 3))))
		require.NoError(t, w.writeMarker(MarkerHeadUnreadable, map[string]any{"last_seq": 1, "error": "test"}))

		run, pending, info := takeAll(t, tap, path, 0)
		assert.False(t, pending)
		assert.Equal(t, info.Size(), run.End(), "every line handed over")
		a, err := Open(path)
		require.NoError(t, err)
		a.SetHMACKey(key)
		want := readEntries(t, a, path, 0, 0, nil)
		got := runEntries(run, path, 0, nil)
		require.Equal(t, normalize(want), normalize(got))
		malformed := 0
		for _, e := range got {
			if e.Status == StatusMalformed {
				malformed++
			}
		}
		assert.Positive(t, malformed, "hostile bodies are checked")
	}
}

// The first line handed over is linked to the line the reader read last,
// as FileEntries links it; a run starting mid-chunk starts at a line.
func TestTapRunLinksAndCuts(t *testing.T) {
	path, tap, w := tapped(t, TapOptions{}, WriterOptions{})
	writeEvents(t, w, 1, 10, 10)
	a, err := Open(path)
	require.NoError(t, err)
	all := readEntries(t, a, path, 0, 0, nil)
	// The reader read four lines from the file (a refresh before the
	// handoff was there): the run starts at the fifth.
	from := all[4].Offset
	pred := all[3].Seal
	run, _, _ := takeAll(t, tap, path, from)
	require.Equal(t, from, run.off)
	assert.Equal(t, normalize(readEntries(t, a, path, from, 4, &pred)), normalize(runEntries(run, path, 4, &pred)))
	// A predecessor the lines do not follow: unlinked, as the file says.
	bad := all[1].Seal
	got := runEntries(run, path, 4, &bad)
	assert.Equal(t, StatusUnlinked, got[0].Status)
	assert.Equal(t, normalize(readEntries(t, a, path, from, 4, &bad)), normalize(got))
}

// Each line handed over carries its own encoder's hint, also in a run that
// starts mid-chunk (the hints are cut with the lines).
func TestTapHintsFollowTheirLines(t *testing.T) {
	for _, from := range []int{0, 4} {
		path, tap, w := tapped(t, TapOptions{}, WriterOptions{})
		var enc Encoder
		bodies := enc.Encode(archivetest.GlassixLogs(1, 10))
		require.NoError(t, w.WriteHinted(context.Background(), bodies, enc.Hints()))
		require.NoError(t, w.writeMarker(MarkerHeadUnreadable, map[string]any{"last_seq": 1, "error": "test"}))
		a, err := Open(path)
		require.NoError(t, err)
		all := readEntries(t, a, path, 0, 0, nil)
		require.Len(t, all, 11)
		var pred *Seal
		if from > 0 {
			pred = &all[from-1].Seal
		}
		run, _, _ := takeAll(t, tap, path, all[from].Offset)
		got := runEntries(run, path, from, pred)
		require.Len(t, got, 11-from)
		for _, e := range got[:len(got)-1] {
			require.NotNil(t, e.Hint, "line %d", e.Line)
			ev, err := e.Decode()
			require.NoError(t, err)
			assert.Equal(t, ev.Message, e.Hint.Message, "line %d", e.Line)
			assert.Equal(t, ev.Time.UnixNano(), e.Hint.Time, "line %d", e.Line)
		}
		assert.Nil(t, got[len(got)-1].Hint, "the marker, written by the writer, has none")
	}
}

// Lines written before the tap was opened are not in it: the reader reads
// them from the file, then takes the rest.
func TestTapStartsWhereItWasOpened(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	w := openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 1, 5, 5)
	before, err := os.Stat(path)
	require.NoError(t, err)
	tap := SubscribeTap(path, TapOptions{})
	defer tap.Close()
	writeEvents(t, w, 6, 5, 5)
	run, pending, _ := takeAll(t, tap, path, 0)
	assert.Zero(t, run.Len(), "nothing continues offset 0")
	assert.False(t, pending, "the start is read from the file")
	run, pending, info := takeAll(t, tap, path, before.Size())
	assert.False(t, pending)
	assert.Equal(t, info.Size(), run.End())
}

// A full tap drops what comes without blocking the writer, holds no more
// than its bound, and the reader is told to read the gap from the file.
func TestTapOverflowDropsAndNeverBlocks(t *testing.T) {
	path, tap, w := tapped(t, TapOptions{MaxBytes: 8 << 10}, WriterOptions{})
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 1; i <= 200 && err == nil; i += 5 { // far more than 8 KiB
			err = w.WriteEncoded(context.Background(), EncodeLogs(archivetest.GlassixLogs(i, 5)))
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the writer blocked on a full tap")
	}
	assert.Positive(t, tap.Dropped())
	tap.mu.Lock()
	assert.LessOrEqual(t, tap.bytes, 8<<10)
	tap.mu.Unlock()
	select {
	case <-tap.Wake():
	default:
		t.Fatal("a filling tap wakes its reader")
	}
	run, pending, info := takeAll(t, tap, path, 0)
	assert.Positive(t, run.Len(), "the first writes fit")
	assert.Less(t, run.End(), info.Size(), "the run stops at the first dropped write")
	assert.False(t, pending, "read the gap from the file")
}

// With fsync every interval, lines are handed over only once the fsync
// made them durable: until then the reader waits for them (pending) rather
// than reading them.
func TestTapWaitsForTheIntervalFsync(t *testing.T) {
	path, tap, w := tapped(t, TapOptions{}, WriterOptions{Fsync: FsyncInterval, FsyncInterval: time.Hour})
	writeEvents(t, w, 1, 10, 5)
	run, pending, _ := takeAll(t, tap, path, 0)
	assert.Zero(t, run.Len(), "not durable yet")
	assert.True(t, pending, "the writer's own lines: wait for them")
	require.NoError(t, w.Close()) // syncs
	run, pending, info := takeAll(t, tap, path, 0)
	assert.False(t, pending)
	assert.Equal(t, info.Size(), run.End())
}

// Bytes appended to the file behind the writer's back: the writer's
// offsets are wrong from there on, so it hands over nothing more of that
// file and the reader reads it.
func TestTapForeignBytesStopTheHandoff(t *testing.T) {
	path, tap, w := tapped(t, TapOptions{}, WriterOptions{})
	writeEvents(t, w, 1, 5, 5)
	first, _, _ := takeAll(t, tap, path, 0)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"forged":true}` + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	writeEvents(t, w, 6, 5, 5)
	run, pending, info := takeAll(t, tap, path, first.End())
	assert.Zero(t, run.Len())
	assert.False(t, pending, "read the file")
	assert.Greater(t, info.Size(), first.End())
}

// A tap opened with one HMAC key takes nothing from a writer with another
// (or none): the reader checks those lines itself.
func TestTapRefusesAnotherKey(t *testing.T) {
	for _, writerKey := range [][]byte{nil, []byte("other")} {
		dir := t.TempDir()
		path := filepath.Join(dir, "audit.jsonl")
		tap := SubscribeTap(path, TapOptions{HMACKey: []byte("reader")})
		w := openTestWriter(t, dir, WriterOptions{HMACKey: writerKey})
		writeEvents(t, w, 1, 5, 5)
		run, pending, _ := takeAll(t, tap, path, 0)
		assert.Zero(t, run.Len())
		assert.False(t, pending)
		tap.Close()
	}
}

// A file cut shorter than what was handed over: the lines past its end are
// not taken, and the first line taken must be in the file where the run
// says (an inode number reused by another file, or a line rewritten).
func TestTapRunStaysWithinTheFile(t *testing.T) {
	path, tap, w := tapped(t, TapOptions{}, WriterOptions{})
	writeEvents(t, w, 1, 5, 5)
	writeEvents(t, w, 6, 5, 5)
	info, err := os.Stat(path)
	require.NoError(t, err)
	dev, ino := fileID(info)
	run, _ := tap.Take(dev, ino, 0, info.Size()-1, true) // as if cut by a byte
	assert.Less(t, run.End(), info.Size(), "the last write is past the file's end")
	assert.Positive(t, run.Len(), "the first write is within it")
	assert.True(t, run.OnDisk(path))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[20] ^= 1
	require.NoError(t, os.WriteFile(path, data, 0o600))
	assert.False(t, run.OnDisk(path), "the first line was changed on disk")
}

// A file the writer opens under an inode a tap still holds lines of (freed
// by compression or retention, reused): those lines are dropped.
func TestTapDropsLinesOfAReusedInode(t *testing.T) {
	tap := &Tap{max: 1 << 20, wake: make(chan struct{}, 1)}
	tap.writing(1, 7, 0, 4)
	tap.wrote(tapChunk{dev: 1, ino: 7, off: 0, data: []byte("abc\n"), durable: true, checked: true})
	tap.opened(1, 7)
	run, pending := tap.Take(1, 7, 0, 4, true)
	assert.Zero(t, run.Len())
	assert.False(t, pending)
	assert.Zero(t, tap.bytes)
}

// tapped opens a writer on a new archive with a tap subscribed to it
// first; the tap is closed when the test ends.
func tapped(t *testing.T, topts TapOptions, wopts WriterOptions) (string, *Tap, *Writer) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	tap := SubscribeTap(path, topts)
	t.Cleanup(tap.Close)
	return path, tap, openTestWriter(t, dir, wopts)
}
