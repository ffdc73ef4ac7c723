package archive

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/lossyfs"
)

func TestWriterRestartContinuesChain(t *testing.T) {
	dir := t.TempDir()
	for run := range 3 {
		w := openTestWriter(t, dir, WriterOptions{})
		writeEvents(t, w, run*10+1, 10, 3)
		require.NoError(t, w.Close())
	}
	seqs := allSeqs(t, dir)
	require.Len(t, seqs, 30)
	for i, s := range seqs {
		require.Equal(t, uint64(i+1), s)
	}
	r := requireIntact(t, dir, VerifyOptions{})
	assert.Equal(t, 30, r.Events)
	assert.Equal(t, uint64(30), r.Head.Seq)
}

func TestWriterRotatesBySize(t *testing.T) {
	dir := t.TempDir()
	const maxSize = 8 << 10
	w := openTestWriter(t, dir, WriterOptions{MaxSize: maxSize})
	writeEvents(t, w, 1, 200, 5)
	require.NoError(t, w.Close())

	files, err := LayoutFor(filepath.Join(dir, "audit.jsonl")).Files()
	require.NoError(t, err)
	require.Greater(t, len(files), 5)
	var names []string
	for _, f := range files[:len(files)-1] {
		names = append(names, f.Name)
		st, err := os.Stat(f.Path)
		require.NoError(t, err)
		assert.LessOrEqual(t, st.Size(), int64(maxSize), f.Name)
		assert.Greater(t, st.Size(), int64(maxSize/2), "%s: rotated much too early", f.Name)
		assert.Regexp(t, `^audit-\d{8}T\d{6}\.\d{9}Z\.jsonl$`, f.Name)
	}
	assert.True(t, sort.StringsAreSorted(names))
	assert.True(t, files[len(files)-1].Active)

	msgs := eventMessages(t, dir)
	require.Len(t, msgs, 200)
	for i, m := range msgs {
		require.Equal(t, fmt.Sprintf("user-%d removed by admin", i+1), m)
	}
	requireIntact(t, dir, VerifyOptions{})
}

// testClock is a settable clock for the writer.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func rotatedNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := LayoutFor(filepath.Join(dir, "audit.jsonl")).Files()
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		if !f.Active {
			names = append(names, f.Name)
		}
	}
	return names
}

func TestWriterRotatesDailyOnUTCDays(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: time.Date(2024, 1, 1, 22, 0, 0, 0, time.UTC)}
	w := openTestWriter(t, dir, WriterOptions{Daily: true, Now: clock.Now})
	writeEvents(t, w, 1, 2, 2)

	// 09:00 at UTC+10 is 23:00 UTC the same day: no rotation.
	clock.Set(time.Date(2024, 1, 2, 9, 0, 0, 0, time.FixedZone("UTC+10", 10*3600)))
	writeEvents(t, w, 3, 2, 2)
	assert.Empty(t, rotatedNames(t, dir))

	clock.Set(time.Date(2024, 1, 2, 0, 0, 1, 0, time.UTC))
	writeEvents(t, w, 5, 2, 2)
	assert.Equal(t, []string{"audit-20240102T000001.000000000Z.jsonl"}, rotatedNames(t, dir))
	assert.Len(t, fileLines(t, filepath.Join(dir, "audit-20240102T000001.000000000Z.jsonl")), 4)
	require.NoError(t, w.Close())

	// A restart on the same day keeps writing to the day's file; the file's
	// modification time tells its day.
	active := filepath.Join(dir, "audit.jsonl")
	day2 := time.Date(2024, 1, 2, 12, 0, 0, 0, time.UTC)
	require.NoError(t, os.Chtimes(active, day2, day2))
	clock.Set(day2.Add(time.Hour))
	w = openTestWriter(t, dir, WriterOptions{Daily: true, Now: clock.Now})
	writeEvents(t, w, 7, 2, 2)
	assert.Len(t, rotatedNames(t, dir), 1)

	clock.Set(time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC))
	writeEvents(t, w, 9, 2, 2)
	require.NoError(t, w.Close())
	assert.Equal(t, []string{"audit-20240102T000001.000000000Z.jsonl", "audit-20240103T000000.000000000Z.jsonl"}, rotatedNames(t, dir))
	assert.Len(t, fileLines(t, filepath.Join(dir, "audit-20240103T000000.000000000Z.jsonl")), 4)
	assert.Len(t, fileLines(t, active), 2)
	requireIntact(t, dir, VerifyOptions{})
}

// allCompressed waits until every rotated file is gzipped.
func allCompressed(t *testing.T, dir string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, n := range rotatedNames(t, dir) {
			if !strings.HasSuffix(n, ".gz") {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond)
}

func TestWriterCompressesRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, Compress: true})
	writeEvents(t, w, 1, 100, 5)
	allCompressed(t, dir)
	require.NoError(t, w.Close())

	names := rotatedNames(t, dir)
	require.Greater(t, len(names), 3)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasSuffix(e.Name(), ".tmp"), "temporary file left: %s", e.Name())
	}
	total := 0
	for _, n := range names {
		lines := fileLines(t, filepath.Join(dir, n)) // gunzips
		require.NotEmpty(t, lines)
		total += len(lines)
	}
	total += len(fileLines(t, filepath.Join(dir, "audit.jsonl")))
	assert.Equal(t, 100, total)
	assert.Len(t, eventMessages(t, dir), 100)
	requireIntact(t, dir, VerifyOptions{})
}

// Compression a stop interrupted (or never started) is done at the next start.
func TestWriterCompressionResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10})
	writeEvents(t, w, 1, 100, 5)
	require.NoError(t, w.Close())
	for _, n := range rotatedNames(t, dir) {
		require.False(t, strings.HasSuffix(n, ".gz"))
	}
	// A crash during compression leaves a temporary file behind.
	require.NoError(t, os.WriteFile(filepath.Join(dir, rotatedNames(t, dir)[0]+".gz.tmp"), []byte("junk"), 0o600))

	w = openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, Compress: true})
	allCompressed(t, dir)
	require.NoError(t, w.Close())
	_, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(rotatedNames(t, dir)[0], ".gz")+".gz.tmp"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Len(t, eventMessages(t, dir), 100)
	requireIntact(t, dir, VerifyOptions{})
}

func TestWriterRetentionByCount(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, MaxBackups: 2, Compress: true})
	writeEvents(t, w, 1, 200, 5)
	require.Eventually(t, func() bool { return len(rotatedNames(t, dir)) == 2 }, 30*time.Second, 10*time.Millisecond)
	allCompressed(t, dir)
	require.NoError(t, w.Close())

	// What is left is the newest events, without a hole.
	msgs := eventMessages(t, dir)
	require.NotEmpty(t, msgs)
	require.Less(t, len(msgs), 200)
	first := 200 - len(msgs) + 1
	for i, m := range msgs {
		require.Equal(t, fmt.Sprintf("user-%d removed by admin", first+i), m)
	}
	r := requireIntact(t, dir, VerifyOptions{})
	assert.Greater(t, r.FirstSeq, uint64(1))
	assert.Contains(t, strings.Join(r.Notes, "\n"), "removed by retention")
}

func TestWriterRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	day := func(d int) time.Time { return time.Date(2024, 3, d, 12, 0, 0, 0, time.UTC) }
	clock := &testClock{t: day(1)}
	w := openTestWriter(t, dir, WriterOptions{Daily: true, MaxAge: 48 * time.Hour, Now: clock.Now})
	for d := 1; d <= 6; d++ {
		clock.Set(day(d))
		writeEvents(t, w, d*10, 3, 3)
	}
	// Rotated at noon on days 2..6; on day 6, the files rotated on days 2
	// and 3 are more than 48 hours old (day 4's is exactly 48).
	want := []string{"audit-20240304T120000.000000000Z.jsonl", "audit-20240305T120000.000000000Z.jsonl", "audit-20240306T120000.000000000Z.jsonl"}
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, rotatedNames(t, dir)) }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, w.Close())
	r := requireIntact(t, dir, VerifyOptions{})
	assert.Contains(t, strings.Join(r.Notes, "\n"), "removed by retention")
}

// If the writer stops between recording a retention and removing every file
// it named, the archive still verifies: its oldest file is one retention
// named.
func TestWriterRetentionInterruptedBetweenRemovals(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10})
	writeEvents(t, w, 1, 100, 5)
	require.NoError(t, w.Close())
	names := rotatedNames(t, dir)
	require.Greater(t, len(names), 4)
	saved := map[string][]byte{}
	for _, n := range names[1 : len(names)-2] {
		data, err := os.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		saved[n] = data
	}

	// The start-up retention removes all but two rotated files ...
	w = openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, MaxBackups: 2})
	require.NoError(t, w.Close())
	require.Len(t, rotatedNames(t, dir), 2)
	// ... but suppose only the first removal had happened.
	for n, data := range saved {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), data, 0o600))
	}
	r := requireIntact(t, dir, VerifyOptions{})
	assert.Equal(t, len(names)-1, len(rotatedNames(t, dir)))
	assert.Contains(t, strings.Join(r.Notes, "\n"), "removed by retention")
}

func TestWriterPermissions(t *testing.T) {
	tests := []struct {
		name               string
		fileMode, dirMode  fs.FileMode
		wantFile, wantDir  fs.FileMode
		compress, rotation bool
	}{
		{name: "defaults: 0600 files in a 0700 directory", wantFile: 0o600, wantDir: 0o700, compress: true, rotation: true},
		{name: "configured modes are applied exactly, whatever the umask", fileMode: 0o640, dirMode: 0o750, wantFile: 0o640, wantDir: 0o750, compress: true, rotation: true},
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new", "archive")
			w := openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, Compress: tt.compress, FileMode: tt.fileMode, DirMode: tt.dirMode})
			writeEvents(t, w, 1, 60, 5)
			allCompressed(t, dir)
			require.NoError(t, w.Close())
			// A partial line saved at the next start gets the mode too.
			appendBytes(t, filepath.Join(dir, "audit.jsonl"), `{"seq":61,"prev":"ab`)
			w = openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, Compress: tt.compress, FileMode: tt.fileMode, DirMode: tt.dirMode})
			require.NoError(t, w.Close())

			st, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, tt.wantDir, st.Mode().Perm(), "directory")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			kinds := map[string]bool{}
			for _, e := range entries {
				info, err := e.Info()
				require.NoError(t, err)
				assert.Equal(t, tt.wantFile, info.Mode().Perm(), e.Name())
				switch {
				case strings.HasSuffix(e.Name(), ".gz"):
					kinds["gzip"] = true
				case strings.HasSuffix(e.Name(), ".head"):
					kinds["head"] = true
				case strings.Contains(e.Name(), ".partial-"):
					kinds["partial"] = true
				case e.Name() == "audit.jsonl":
					kinds["active"] = true
				}
			}
			assert.Equal(t, map[string]bool{"gzip": true, "head": true, "partial": true, "active": true}, kinds)
		})
	}
}

func appendBytes(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestWriterConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{MaxSize: 32 << 10, Compress: true})
	const writers, batches, perBatch = 8, 25, 4
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				first := (g*batches+b)*perBatch + 1
				assert.NoError(t, w.Write(context.Background(), EncodeLogs(glassix(first, perBatch))))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, w.Close())

	const total = writers * batches * perBatch
	seqs := allSeqs(t, dir)
	require.Len(t, seqs, total)
	for i, s := range seqs {
		require.Equal(t, uint64(i+1), s)
	}
	seen := map[string]int{}
	msgs := eventMessages(t, dir)
	for _, m := range msgs {
		seen[m]++
	}
	require.Len(t, seen, total)
	for i := 1; i <= total; i++ {
		require.Equal(t, 1, seen[fmt.Sprintf("user-%d removed by admin", i)], i)
	}
	// A batch stays together: its events are consecutive lines.
	for i := 0; i < len(msgs); i += perBatch {
		var n int
		_, err := fmt.Sscanf(msgs[i], "user-%d removed by admin", &n)
		require.NoError(t, err)
		require.Equal(t, 1, n%perBatch, "batch split at line %d", i)
		for j := 1; j < perBatch; j++ {
			require.Equal(t, fmt.Sprintf("user-%d removed by admin", n+j), msgs[i+j])
		}
	}
	requireIntact(t, dir, VerifyOptions{})
}

func TestWriterCutsPartialLineAtStart(t *testing.T) {
	tests := []struct {
		name    string
		partial func(lastLine string) string
	}{
		{"half a line", func(string) string { return `{"seq":11,"prev":"0a1b` }},
		{"a whole line but its newline", func(last string) string { return strings.Replace(last, `"seq":10`, `"seq":11`, 1) }},
		{"a single byte", func(string) string { return "{" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			active := filepath.Join(dir, "audit.jsonl")
			w := openTestWriter(t, dir, WriterOptions{})
			writeEvents(t, w, 1, 10, 5)
			require.NoError(t, w.Close())
			lines := fileLines(t, active)
			partial := tt.partial(lines[len(lines)-1])
			appendBytes(t, active, partial)

			w = openTestWriter(t, dir, WriterOptions{})
			writeEvents(t, w, 11, 5, 5)
			require.NoError(t, w.Close())

			saved, err := filepath.Glob(filepath.Join(dir, "audit.jsonl.partial-*"))
			require.NoError(t, err)
			require.Len(t, saved, 1)
			data, err := os.ReadFile(saved[0])
			require.NoError(t, err)
			assert.Equal(t, partial, string(data))

			a, err := Open(dir)
			require.NoError(t, err)
			var markers []Event
			for e, err := range a.Entries() {
				require.NoError(t, err)
				if e.IsMarker() {
					ev, err := e.Decode()
					require.NoError(t, err)
					markers = append(markers, ev)
				}
			}
			require.Len(t, markers, 1)
			assert.Equal(t, MarkerPartialLineRemoved, markers[0].Marker)
			assert.Equal(t, uint64(11), markers[0].Seq)
			assert.Equal(t, int64(len(partial)), markers[0].Detail["length"])
			assert.Equal(t, filepath.Base(saved[0]), markers[0].Detail["saved_as"])

			msgs := eventMessages(t, dir)
			require.Len(t, msgs, 15)
			r := requireIntact(t, dir, VerifyOptions{})
			assert.Contains(t, strings.Join(r.Notes, "\n"), "cut a partial line")
		})
	}
}

// Lines cut from the end while the writer was stopped: at its restart the
// writer sees that its head is ahead of the archive, records it, and
// continues the chain after the head's line, so verify keeps reporting it.
func TestWriterRecordsTailCutWhileStopped(t *testing.T) {
	dir := t.TempDir()
	active := filepath.Join(dir, "audit.jsonl")
	w := openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 1, 20, 5)
	require.NoError(t, w.Close())
	lines := fileLines(t, active)
	require.NoError(t, os.WriteFile(active, []byte(strings.Join(lines[:15], "\n")+"\n"), 0o600))

	w = openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 21, 5, 5)
	require.NoError(t, w.Close())

	r, err := Verify(dir, VerifyOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, r.Problems)
	p := r.Problems[0]
	assert.Equal(t, Problem{File: "audit.jsonl", Line: 16, Kind: KindTruncated, Message: p.Message}, p)
	assert.Contains(t, p.Message, "seq 15 while its head recorded seq 20")
}

func TestWriterRecordsHeadProblemsFoundAtStart(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, dir string)
		message string
	}{
		{"head deleted", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "audit.jsonl.head")))
		}, "found the head missing or unreadable"},
		{"head garbled", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl.head"), []byte("{"), 0o600))
		}, "found the head missing or unreadable"},
		{"last line rewritten and re-hashed", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "audit.jsonl")
			lines := fileLines(t, path)
			lines[len(lines)-1] = rehash(t, strings.Replace(lines[len(lines)-1], "user-10 ", "user-99 ", 1), nil)
			require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
		}, "found line seq 10 changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openTestWriter(t, dir, WriterOptions{})
			writeEvents(t, w, 1, 10, 5)
			require.NoError(t, w.Close())
			tt.tamper(t, dir)

			w = openTestWriter(t, dir, WriterOptions{})
			writeEvents(t, w, 11, 5, 5)
			require.NoError(t, w.Close())

			r, err := Verify(dir, VerifyOptions{})
			require.NoError(t, err)
			require.Len(t, r.Problems, 1)
			assert.Equal(t, KindWriterAlarm, r.Problems[0].Kind)
			assert.Equal(t, 11, r.Problems[0].Line)
			assert.Contains(t, r.Problems[0].Message, tt.message)
		})
	}
}

// A write that does not finish within the caller's deadline returns; one
// that could not even start is never written.
func TestWriterHonoursDeadlines(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{})
	stuck, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w.hookBeforeWrite = func() {
		once.Do(func() {
			close(stuck)
			<-release // a disk that hangs
		})
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { errA <- w.Write(ctxA, EncodeLogs(glassix(1, 2))) }()
	<-stuck
	cancelA() // as exporterhelper's timeout does
	require.ErrorIs(t, <-errA, context.Canceled)

	ctxB, cancelB := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelB()
	err := w.Write(ctxB, EncodeLogs(glassix(3, 2)))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for the writer")

	close(release)
	require.NoError(t, w.Write(context.Background(), EncodeLogs(glassix(5, 2))))
	require.NoError(t, w.Close())
	// The stuck write completed after its caller gave up (a retry would
	// store it again: at least once); the one that never started is absent.
	assert.Equal(t, []string{"user-1 removed by admin", "user-2 removed by admin", "user-5 removed by admin", "user-6 removed by admin"}, eventMessages(t, dir))
	requireIntact(t, dir, VerifyOptions{})
}

func TestWriterFsyncIntervalUpdatesHead(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{Fsync: FsyncInterval, FsyncInterval: 5 * time.Millisecond})
	writeEvents(t, w, 1, 10, 5)
	assert.Len(t, eventMessages(t, dir), 10, "lines are visible before the interval fsync")
	require.Eventually(t, func() bool {
		h, err := ReadHead(filepath.Join(dir, "audit.jsonl.head"))
		return err == nil && h.Seq == 10
	}, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, w.Close())
	requireIntact(t, dir, VerifyOptions{})
}

func TestWriterRefusesUnusablePaths(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.jsonl")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	tests := []struct {
		name, path, want string
	}{
		{"empty path", "", "path is empty"},
		{"a directory", dir, "is a directory"},
		{"a FIFO", fifo, "is not a regular file"},
		{"below a file", filepath.Join(file, "audit.jsonl"), "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := OpenWriter(WriterOptions{Path: tt.path})
			require.Nil(t, w)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestWriterKeyedArchive(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{HMACKey: key, MaxSize: 8 << 10, Compress: true})
	writeEvents(t, w, 1, 50, 5)
	require.NoError(t, w.Close())

	r := requireIntact(t, dir, VerifyOptions{HMACKey: key})
	assert.True(t, r.HMACChecked)

	r, err := Verify(dir, VerifyOptions{})
	require.NoError(t, err)
	assert.Empty(t, r.Problems)
	assert.Contains(t, strings.Join(r.Notes, "\n"), "no key was given")

	r, err = Verify(dir, VerifyOptions{HMACKey: []byte("another key, 16+ bytes")})
	require.NoError(t, err)
	require.NotEmpty(t, r.Problems)
	assert.Equal(t, KindModified, r.Problems[0].Kind)
	assert.Equal(t, 1, r.Problems[0].Line)
	assert.Contains(t, r.Problems[0].Message, "HMAC does not match")
}

// A power cut after any write leaves an archive that reopens without an
// alarm and holds every event whose Write returned: the lines, the head
// and every file's name are durable by then (lossyfs keeps only what was
// synced, directory entries only once their directory was). Rotation
// runs in between (8 KiB files).
func TestWriterSurvivesPowerCuts(t *testing.T) {
	disk, mnt := lossyfs.MountT(t)
	dir := filepath.Join(mnt, "var", "archive")
	opts := WriterOptions{MaxSize: 8 << 10}
	w := openTestWriter(t, dir, opts)
	written := 0
	for cut := range 4 {
		writeEvents(t, w, written+1, 30, 5)
		written += 30
		after := t.TempDir()
		_, err := disk.Image(after)
		require.NoError(t, err)
		kept := filepath.Join(after, "var", "archive")
		opts.Path = filepath.Join(kept, "audit.jsonl")
		w2, err := OpenWriter(opts)
		require.NoError(t, err, "cut %d: reopening what the disk kept", cut)
		writeEvents(t, w2, 100000+cut*10, 5, 5)
		require.NoError(t, w2.Close())
		r := requireIntact(t, kept, VerifyOptions{})
		require.Equal(t, written+5, r.Events, "cut %d: every event written before the cut, and the 5 after", cut)
	}
}

// A signing key made at the first start survives a power cut right
// after: both files and the directory made for them. A lost key would be
// made again, and what the first one signed would no longer verify.
func TestGeneratedKeysSurviveAPowerCut(t *testing.T) {
	disk, mnt := lossyfs.MountT(t)
	priv, created, err := LoadOrCreatePrivateKey(filepath.Join(mnt, "keys", "archive-signing.key"), true)
	require.NoError(t, err)
	require.True(t, created)
	after := t.TempDir()
	_, err = disk.Image(after)
	require.NoError(t, err)
	kept, err := LoadPrivateKey(filepath.Join(after, "keys", "archive-signing.key"))
	require.NoError(t, err)
	require.Equal(t, priv, kept)
	pub, err := LoadPublicKey(filepath.Join(after, "keys", "archive-signing.pub"))
	require.NoError(t, err)
	require.Equal(t, priv.Public(), pub)
}
