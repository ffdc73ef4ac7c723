package archive

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// multiFileArchive writes n events into an archive of several files, the
// rotated ones gzipped, and returns its directory.
func multiFileArchive(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, Compress: true})
	writeEvents(t, w, 1, n, 5)
	allCompressed(t, dir)
	require.NoError(t, w.Close())
	return dir
}

type place struct {
	File   string
	Line   int
	Seq    uint64
	Status Status
}

func places(t *testing.T, seq func(yield func(Entry, error) bool)) []place {
	t.Helper()
	var out []place
	for e, err := range seq {
		require.NoError(t, err)
		out = append(out, place{e.File, e.Line, e.Seal.Seq, e.Status})
	}
	return out
}

func TestEntriesForwardAndBackward(t *testing.T) {
	dir := multiFileArchive(t, 60)
	a, err := Open(dir)
	require.NoError(t, err)
	files, err := a.Files()
	require.NoError(t, err)
	require.Greater(t, len(files), 3)

	fwd := places(t, a.Entries())
	require.Len(t, fwd, 60)
	fileOrder := []string{}
	for i, p := range fwd {
		assert.Equal(t, uint64(i+1), p.Seq)
		assert.Equal(t, StatusOK, p.Status)
		if len(fileOrder) == 0 || fileOrder[len(fileOrder)-1] != p.File {
			fileOrder = append(fileOrder, p.File)
			assert.Equal(t, 1, p.Line, "a file starts at line 1")
		} else {
			assert.Equal(t, fwd[i-1].Line+1, p.Line)
		}
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	assert.Equal(t, names, fileOrder)
	assert.True(t, strings.HasSuffix(fileOrder[0], ".jsonl.gz"))
	assert.Equal(t, "audit.jsonl", fileOrder[len(fileOrder)-1])

	bwd := places(t, a.EntriesBackward())
	slices.Reverse(bwd)
	assert.Equal(t, fwd, bwd)
}

// Both directions give a damaged line the same status, and check each line
// against the nearest sound line before it.
func TestEntriesStatusesAgreeInBothDirections(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 1, 8, 4)
	require.NoError(t, w.Close())
	active := filepath.Join(dir, "audit.jsonl")
	lines := fileLines(t, active)
	lines[2] = strings.Replace(lines[2], "user-3", "user-X", 1) // modified
	lines[4] = "garbage"                                        // malformed
	lines = append(lines[:6], lines[7:]...)                     // seq 7 deleted
	require.NoError(t, os.WriteFile(active, []byte(strings.Join(lines, "\n")+"\n"+`{"seq":9`), 0o600))

	a, err := Open(active)
	require.NoError(t, err)
	fwd := places(t, a.Entries())
	want := []place{
		{"audit.jsonl", 1, 1, StatusOK},
		{"audit.jsonl", 2, 2, StatusOK},
		{"audit.jsonl", 3, 3, StatusModified},
		{"audit.jsonl", 4, 4, StatusOK},
		{"audit.jsonl", 5, 0, StatusMalformed},
		{"audit.jsonl", 6, 6, StatusUnlinked}, // follows seq 4: seq 5 is unreadable
		{"audit.jsonl", 7, 8, StatusUnlinked}, // seq 7 missing
		{"audit.jsonl", 8, 0, StatusIncomplete},
	}
	assert.Equal(t, want, fwd)
	bwd := places(t, a.EntriesBackward())
	slices.Reverse(bwd)
	assert.Equal(t, want, bwd)
}

func TestEntriesReportsDamagedGzipAndGoesOn(t *testing.T) {
	dir := multiFileArchive(t, 60)
	a, err := Open(dir)
	require.NoError(t, err)
	files, err := a.Files()
	require.NoError(t, err)
	damaged := files[1]
	data, err := os.ReadFile(damaged.Path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(damaged.Path, data[:len(data)/2], 0o600))

	for _, dirEntries := range []func(yield func(Entry, error) bool){a.Entries(), a.EntriesBackward()} {
		var unreadable []Entry
		sawLater := false
		for e, err := range dirEntries {
			require.NoError(t, err)
			if e.Status == StatusUnreadable {
				unreadable = append(unreadable, e)
			}
			if e.File == files[2].Name {
				sawLater = true
			}
		}
		require.Len(t, unreadable, 1)
		assert.Equal(t, damaged.Name, unreadable[0].File)
		assert.ErrorContains(t, unreadable[0].Err, "unexpected EOF")
		assert.True(t, sawLater, "reading stopped at the damaged file")
	}
}

func TestEntriesOverlongLine(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 1, 2, 2)
	require.NoError(t, w.Close())
	active := filepath.Join(dir, "audit.jsonl")
	appendBytes(t, active, strings.Repeat("x", MaxLineSize+10)+"\n")

	a, err := Open(dir)
	require.NoError(t, err)
	got := places(t, a.Entries())
	require.Len(t, got, 3)
	assert.Equal(t, place{"audit.jsonl", 3, 0, StatusMalformed}, got[2])
	for e := range a.Entries() {
		assert.LessOrEqual(t, len(e.Raw), MaxLineSize)
	}
}

// After a crash during compression a rotated file exists plain and gzipped;
// the reader reads the plain original, once.
func TestFilesPrefersThePlainCopy(t *testing.T) {
	dir := multiFileArchive(t, 30)
	l := LayoutFor(filepath.Join(dir, "audit.jsonl"))
	files, err := l.Files()
	require.NoError(t, err)
	gz := files[0]
	require.True(t, gz.Compressed)
	plain := strings.TrimSuffix(gz.Path, ".gz")
	require.NoError(t, os.WriteFile(plain, readData(t, gz.Path), 0o600))

	again, err := l.Files()
	require.NoError(t, err)
	require.Len(t, again, len(files))
	assert.Equal(t, filepath.Base(plain), again[0].Name)
	assert.False(t, again[0].Compressed)
	assert.Len(t, allSeqs(t, dir), 30)
}

func TestDiscover(t *testing.T) {
	one := multiFileArchive(t, 20)
	two := t.TempDir()
	for _, name := range []string{"a.jsonl", "b.jsonl"} {
		w, err := OpenWriter(WriterOptions{Path: filepath.Join(two, name)})
		require.NoError(t, err)
		require.NoError(t, w.Close())
	}
	headless := multiFileArchive(t, 20)
	require.NoError(t, os.Remove(filepath.Join(headless, "audit.jsonl.head")))
	require.NoError(t, os.Remove(filepath.Join(headless, "audit.jsonl")))

	tests := []struct {
		name, path, wantActive, wantErr string
	}{
		{"the active file", filepath.Join(one, "audit.jsonl"), "audit.jsonl", ""},
		{"its directory", one, "audit.jsonl", ""},
		{"a directory with two archives", two, "", "holds 2 archives (a.jsonl, b.jsonl)"},
		{"one of them by name", filepath.Join(two, "b.jsonl"), "b.jsonl", ""},
		{"only rotated files, by directory", headless, "audit.jsonl", ""},
		{"only rotated files, by the active file's name", filepath.Join(headless, "audit.jsonl"), "audit.jsonl", ""},
		{"nothing there", filepath.Join(one, "other.jsonl"), "", "no archive at"},
		{"an empty directory", t.TempDir(), "", "no archive in directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Discover(tt.path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantActive, l.ActiveName())
		})
	}
}
