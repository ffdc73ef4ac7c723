package examples

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/winstontest"
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
			require.Greater(t, len(files), 5, "winston rotated: %v", files)

			var seqs []int
			require.Eventually(t, func() bool {
				seqs = seqs[:0]
				for _, r := range p.records(0) {
					seqs = append(seqs, winstontest.Seq(r.attr("params"))...)
				}
				return winstontest.Tally(seqs, n).Lost == 0
			}, 30*time.Second, 100*time.Millisecond, "all events arrive")
			time.Sleep(500 * time.Millisecond) // a last poll: nothing more comes
			seqs = seqs[:0]
			for _, r := range p.records(0) {
				seqs = append(seqs, winstontest.Seq(r.attr("params"))...)
			}
			c := winstontest.Tally(seqs, n)
			t.Logf("%s: %d files, %s", m.name, len(files), c)
			assert.Zero(t, c.Lost, c.String())
			assert.Zero(t, c.Duplicated, c.String())
			assert.Len(t, seqs, n)
		})
	}
}
