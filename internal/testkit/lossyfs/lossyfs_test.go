package lossyfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

func writeSynced(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	require.NoError(t, err)
	require.NoError(t, d.Sync())
	require.NoError(t, d.Close())
}

func TestPowerCutKeepsOnlyWhatWasSynced(t *testing.T) {
	f, dir := MountT(t)
	p := func(name string) string { return filepath.Join(dir, name) }

	// A file synced, named in a synced directory, then appended to.
	writeSynced(t, p("log"), []byte("synced"))
	syncDir(t, dir)
	lf, err := os.OpenFile(p("log"), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = lf.WriteString(" unsynced tail")
	require.NoError(t, err)
	require.NoError(t, lf.Close()) // close is not a sync
	got, err := os.ReadFile(p("log"))
	require.NoError(t, err)
	require.Equal(t, "synced unsynced tail", string(got), "reads see the unsynced tail before the cut")

	// Overwritten in place and synced, then truncated without a sync.
	writeSynced(t, p("inplace"), []byte("aaaaaaaa"))
	syncDir(t, dir)
	ip, err := os.OpenFile(p("inplace"), os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = ip.WriteAt([]byte("BB"), 3)
	require.NoError(t, err)
	require.NoError(t, ip.Sync())
	require.NoError(t, ip.Truncate(2))
	require.NoError(t, ip.Close())

	// Unlinked without a directory sync: still there after the cut.
	writeSynced(t, p("deleted"), []byte("kept"))
	syncDir(t, dir)

	// Rewritten shorter (O_TRUNC) without a sync.
	writeSynced(t, p("short"), []byte("long synced"))
	syncDir(t, dir)
	require.NoError(t, os.WriteFile(p("short"), []byte("x"), 0o600))
	got, err = os.ReadFile(p("short"))
	require.NoError(t, err)
	require.Equal(t, "x", string(got))

	// Renamed, the directory not synced after.
	writeSynced(t, p("manifest.tmp"), []byte("new"))
	syncDir(t, dir)
	require.NoError(t, os.Rename(p("manifest.tmp"), p("manifest")))
	require.NoError(t, os.Remove(p("deleted")))

	// Synced, but its name never was: a file created after the last
	// directory sync.
	writeSynced(t, p("orphan"), []byte("data without a name"))

	// A directory made and synced inside, its own name never synced.
	require.NoError(t, os.Mkdir(p("sub"), 0o755))
	writeSynced(t, filepath.Join(p("sub"), "inner"), []byte("x"))
	syncDir(t, p("sub"))

	st, err := f.PowerCut()
	require.NoError(t, err)

	read := func(name string) string {
		b, err := os.ReadFile(p(name))
		require.NoError(t, err, name)
		return string(b)
	}
	require.Equal(t, "synced", read("log"))
	require.Equal(t, "aaaBBaaa", read("inplace"))
	require.Equal(t, "new", read("manifest.tmp"))
	require.NoFileExists(t, p("manifest"))
	require.NoFileExists(t, p("orphan"))
	require.NoDirExists(t, p("sub"))
	require.Equal(t, "kept", read("deleted"))
	require.Equal(t, "long synced", read("short"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"log", "inplace", "short", "manifest.tmp", "deleted"}, names)
	require.Equal(t, 5, st.Files)
	// " unsynced tail" (14), "x" over "l" (1), "data without a name"
	// (19), "x" (1) and the renamed "new" (3): a file counts whole when
	// its live name is lost.
	require.Equal(t, int64(14+1+19+1+3), st.LostBytes)
	require.Equal(t, 4, st.LostNames, "manifest, orphan, sub and sub/inner are not durable names")
}

// A file rewritten many times with a sync after each write keeps the
// last synced contents exactly, whatever the order of its ranges.
func TestPowerCutAfterManySyncs(t *testing.T) {
	f, dir := MountT(t)
	path := filepath.Join(dir, "wal")
	fh, err := os.Create(path)
	require.NoError(t, err)
	syncDir(t, dir)
	want := make([]byte, 0, 64<<10)
	for i := range 512 {
		chunk := make([]byte, 128)
		for j := range chunk {
			chunk[j] = byte(i + j)
		}
		_, err := fh.Write(chunk)
		require.NoError(t, err)
		want = append(want, chunk...)
		if i%7 == 0 { // recycle: overwrite the start, as a reused log does
			_, err := fh.WriteAt([]byte{byte(i)}, 0)
			require.NoError(t, err)
			want[0] = byte(i)
		}
		require.NoError(t, fh.Sync())
	}
	_, err = fh.Write([]byte("lost"))
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	st, err := f.PowerCut()
	require.NoError(t, err)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, int64(4), st.LostBytes)
}

func TestAfterTheCutTheMountRefusesIO(t *testing.T) {
	f, dir := MountT(t)
	fh, err := os.Create(filepath.Join(dir, "open"))
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	f.mu.Lock()
	f.cut = true
	f.mu.Unlock()
	_, err = os.Create(filepath.Join(dir, "late"))
	require.Error(t, err, "no write lands after the power is cut")
	require.NoError(t, f.Unmount())
}

// Image leaves the mount in use and its later syncs out of the copy.
func TestImageWhileMounted(t *testing.T) {
	f, dir := MountT(t)
	writeSynced(t, filepath.Join(dir, "a"), []byte("one"))
	syncDir(t, dir)
	dst := t.TempDir()
	st, err := f.Image(dst)
	require.NoError(t, err)
	require.Equal(t, Stats{Files: 1, KeptBytes: 3}, st)
	fh, err := os.OpenFile(filepath.Join(dir, "a"), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = fh.WriteString(" two")
	require.NoError(t, err)
	require.NoError(t, fh.Sync())
	require.NoError(t, fh.Close())
	got, err := os.ReadFile(filepath.Join(dst, "a"))
	require.NoError(t, err)
	require.Equal(t, "one", string(got))
}

// Files stay when the kernel forgets their inodes (it does under memory
// pressure; dropping its caches forces it): the tree is the filesystem.
func TestFilesSurviveTheKernelForgettingThem(t *testing.T) {
	_, dir := MountT(t)
	for i := range 20 {
		writeSynced(t, filepath.Join(dir, fmt.Sprint("f", i)), []byte{byte(i)})
	}
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
		archivetest.SkipOrFail(t, "cannot drop the kernel's dentry and inode caches: %v", err)
	}
	for i := range 20 {
		got, err := os.ReadFile(filepath.Join(dir, fmt.Sprint("f", i)))
		require.NoError(t, err)
		require.Equal(t, []byte{byte(i)}, got)
	}
}
