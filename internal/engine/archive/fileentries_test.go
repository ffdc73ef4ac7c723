package archive

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Entry.Offset points at the line in its (decompressed) file.
func TestEntriesCarryOffsets(t *testing.T) {
	dir := multiFileArchive(t, 30)
	a, err := Open(dir)
	require.NoError(t, err)
	for _, seq := range []func(func(Entry, error) bool){a.Entries(), a.EntriesBackward()} {
		n := 0
		for e, err := range seq {
			require.NoError(t, err)
			data := readData(t, filepath.Join(dir, e.File))
			require.LessOrEqual(t, e.Offset+int64(len(e.Raw)), int64(len(data)))
			assert.Equal(t, string(e.Raw), string(data[e.Offset:e.Offset+int64(len(e.Raw))]), "%s:%d", e.File, e.Line)
			n++
		}
		assert.Equal(t, 30, n)
	}
}

// Reading a file in two parts, the second resuming at the first's end and
// linked to its last line, gives what one forward read gives.
func TestFileEntriesResumesAGrowingFile(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 1, 10, 5)
	a, err := Open(dir)
	require.NoError(t, err)
	files, err := a.Files()
	require.NoError(t, err)
	require.Len(t, files, 1)

	var first []Entry
	for e := range a.FileEntries(files[0], 0, 0, nil) {
		first = append(first, e)
	}
	require.Len(t, first, 10)
	last := first[len(first)-1]
	end := last.Offset + int64(len(last.Raw)) + 1

	writeEvents(t, w, 11, 5, 5)
	var second []Entry
	for e := range a.FileEntries(files[0], end, len(first), &last.Seal) {
		second = append(second, e)
	}
	require.Len(t, second, 5)
	got := append(first, second...)
	var want []Entry
	for e, err := range a.Entries() {
		require.NoError(t, err)
		want = append(want, e)
	}
	require.Len(t, want, 15)
	for i := range want {
		assert.Equal(t, want[i].Line, got[i].Line)
		assert.Equal(t, want[i].Offset, got[i].Offset)
		assert.Equal(t, want[i].Status, got[i].Status, "line %d", want[i].Line)
		assert.Equal(t, string(want[i].Raw), string(got[i].Raw))
	}

	// Resumed with a wrong predecessor, the first line is unlinked.
	wrong := first[3].Seal
	for e := range a.FileEntries(files[0], end, len(first), &wrong) {
		assert.Equal(t, StatusUnlinked, e.Status)
		assert.ErrorContains(t, e.Err, "seq 11 follows seq 4")
		break
	}
}

// A gzipped file read alone from an offset, then linked by hand to the
// previous file, gets the status Entries gives.
func TestFileEntriesGzipAndLink(t *testing.T) {
	dir := multiFileArchive(t, 40)
	a, err := Open(dir)
	require.NoError(t, err)
	files, err := a.Files()
	require.NoError(t, err)
	require.True(t, files[1].Compressed)

	var prev []Entry
	for e := range a.FileEntries(files[0], 0, 0, nil) {
		prev = append(prev, e)
	}
	var all []Entry
	for e := range a.FileEntries(files[1], 0, 0, nil) {
		all = append(all, e)
	}
	require.GreaterOrEqual(t, len(all), 2)
	var tail []Entry
	for e := range a.FileEntries(files[1], all[1].Offset, 1, nil) {
		tail = append(tail, e)
	}
	require.Len(t, tail, len(all)-1)
	assert.Equal(t, 2, tail[0].Line)
	assert.Equal(t, string(all[1].Raw), string(tail[0].Raw))

	firstOfNext := all[0]
	Link(&firstOfNext, &prev[len(prev)-1].Seal)
	assert.Equal(t, StatusOK, firstOfNext.Status)
	wrongPred := prev[0].Seal
	Link(&firstOfNext, &wrongPred)
	assert.Equal(t, StatusUnlinked, firstOfNext.Status)
}

// A damaged gzip stream is reported with the right line number when read
// from an offset.
func TestFileEntriesDamagedGzipFromOffset(t *testing.T) {
	dir := multiFileArchive(t, 40)
	a, err := Open(dir)
	require.NoError(t, err)
	files, err := a.Files()
	require.NoError(t, err)
	f := files[0]
	require.True(t, f.Compressed)
	data, err := os.ReadFile(f.Path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(f.Path, data[:len(data)-12], 0o600))
	var got []Entry
	for e := range a.FileEntries(f, 0, 0, nil) {
		got = append(got, e)
	}
	require.NotEmpty(t, got)
	bad := got[len(got)-1]
	assert.Equal(t, StatusUnreadable, bad.Status)
	assert.True(t, bytes.Contains([]byte(bad.Err.Error()), []byte("cannot read")))
}
