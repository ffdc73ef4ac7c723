package examples

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/winstontest"
)

// winston's File transport, in each of its rotation modes, writing while
// the example pipeline runs: every event arrives once.
func TestCTReplayFileExampleWinstonRotation(t *testing.T) {
	winstontest.Dir(t)
	modes := []struct {
		name string
		file winstontest.File
	}{
		{"numbered files (winston's default)", winstontest.File{MaxSize: 16 << 10}},
		{"tailable", winstontest.File{MaxSize: 16 << 10, MaxFiles: 100, Tailable: true}},
		{"zippedArchive", winstontest.File{MaxSize: 16 << 10, ZippedArchive: true}},
		{"tailable zippedArchive", winstontest.File{MaxSize: 16 << 10, MaxFiles: 100, Tailable: true, ZippedArchive: true}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := filepath.Join(dir, "logs")
			require.NoError(t, os.MkdirAll(logs, 0o700))
			t.Setenv("CTREPLAY_LOG", filepath.Join(logs, "ctreplay*.log"))
			t.Setenv("OTELCOL_AUDIT_DATA", filepath.Join(dir, "data"))
			p := startExample(t, loadExample(t, "ctreplay-file.yaml"), "logs/ctreplay")

			f := m.file
			f.Filename = filepath.Join(logs, "ctreplay.log")
			w := winstontest.Start(t, winstontest.Config{File: &f})
			const n = 1200
			// Bursts and pauses: rotations both while the collector is
			// reading and between its polls.
			for from := 0; from < n; from += 200 {
				w.Burst(from, 200, "rotation", 0)
				time.Sleep(150 * time.Millisecond)
			}
			w.Close()
			files, _ := filepath.Glob(filepath.Join(logs, "*"))
			require.GreaterOrEqual(t, len(files), 4, "winston rotated: %v", files)

			// winston itself sometimes loses entries while it rotates under
			// load (they are in no file): the collector must deliver every
			// entry winston wrote, once.
			written := map[int]bool{}
			for _, seq := range onDisk(t, logs) {
				written[seq] = true
			}
			require.Greater(t, len(written), n/2, "winston wrote most events")
			delivered := func() map[int]int {
				got := map[int]int{}
				for _, r := range p.records(0) {
					for _, seq := range winstontest.Seq(r.attr("params")) {
						got[seq]++
					}
				}
				return got
			}
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				got := delivered()
				missing := 0
				for seq := range written {
					if got[seq] == 0 {
						missing++
					}
				}
				assert.Zero(ct, missing, "of %d entries in winston's files, missing", len(written))
			}, 30*time.Second, 100*time.Millisecond)
			time.Sleep(500 * time.Millisecond) // a last poll: nothing more comes
			got := delivered()
			dups := 0
			for _, k := range got {
				dups += k - 1
			}
			t.Logf("%s: %d files; winston wrote %d of %d entries; delivered %d, duplicated %d", m.name, len(files), len(written), n, len(got), dups)
			assert.Zero(t, dups, "duplicated")
			assert.Len(t, got, len(written), "nothing but what winston wrote")
		})
	}
}

// onDisk returns the seq numbers in the files winston wrote, gzipped or not.
func onDisk(t *testing.T, dir string) []int {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	var seqs []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.HasSuffix(f, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			require.NoError(t, err)
			data, err = io.ReadAll(zr)
			require.NoError(t, err)
		}
		seqs = append(seqs, winstontest.Seq(string(data))...)
	}
	return seqs
}
