package auditviewerextension

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

// While the writer appends, rotates and gzips, the viewer answers from the
// same files: no sound line is ever reported as damaged, nothing is seen
// twice, and in the end every event is there.
func TestLiveArchive(t *testing.T) {
	t.Run("keep every file", func(t *testing.T) { testLiveArchive(t, 0) })
	t.Run("retention removes old files meanwhile", func(t *testing.T) { testLiveArchive(t, 4) })
}

func testLiveArchive(t *testing.T, maxBackups int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path, MaxSize: 48 << 10, Compress: true, Fsync: archive.FsyncInterval, MaxBackups: maxBackups})
	require.NoError(t, err)
	g := auditquerytest.NewGenerator(9, time.Second)
	require.NoError(t, p.Write(context.Background(), g.Next(10)))
	tv := startViewer(t, path, "")

	const batches, batch = 60, 20
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range batches {
			if err := p.Write(context.Background(), g.Next(batch)); err != nil {
				t.Errorf("writing: %v", err)
				return
			}
		}
	}()
	seen := 0
	for i := 0; ; i++ {
		pg := tv.page(t, "limit=5000")
		if !assert.Zero(t, pg.Archive.Problems, "request %d: %+v", i, pg.Archive) {
			for _, r := range pg.Rows {
				if r.Flagged() {
					t.Logf("flagged: %s:%d seq %d %s: %s", r.File, r.Line, r.Seq, r.Integrity, r.IntegrityError)
				}
			}
		}
		assert.Equal(t, pg.Total, len(pg.Rows))
		seqs := map[uint64]bool{}
		newest := uint64(0)
		for _, r := range pg.Rows {
			assert.False(t, seqs[r.Seq], "seq %d twice", r.Seq)
			seqs[r.Seq] = true
			newest = max(newest, r.Seq)
		}
		if maxBackups == 0 {
			assert.GreaterOrEqual(t, pg.Total, seen, "the archive only grows")
			seen = pg.Total
		}
		if newest >= 10+batches*batch {
			break
		}
		require.Less(t, i, 100000, "the viewer never saw every event")
	}
	wg.Wait()
	require.NoError(t, p.Close())
	final := tv.page(t, "limit=5000")
	assert.Zero(t, final.Archive.Problems)
	assert.Greater(t, final.Archive.Files, 3, "rotated meanwhile")
	a, err := archive.Open(path)
	require.NoError(t, err)
	lines := 0
	for _, err := range a.Entries() {
		require.NoError(t, err)
		lines++
	}
	assert.Equal(t, lines, final.Total, "every line of the archive, as the reader finds it")
	if maxBackups == 0 {
		assert.Equal(t, 10+batches*batch, final.Total)
	} else {
		assert.Less(t, final.Total, 10+batches*batch, "retention removed files")
	}
}

// The archive's writer in this process hands the index its lines (the
// tap), which holds 16 MiB at most and asks for a refresh at a quarter of
// that: the viewer must take them then, not at its next scheduled refresh
// (here an hour away), or the tap fills and every line is read back from
// the file: under the load harness's 100-event requests, the viewer took
// none of them.
func TestHandedOverLinesAreTakenWhenTheyWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path})
	require.NoError(t, err)
	defer p.Close()
	g := auditquerytest.NewGenerator(5, time.Second)
	require.NoError(t, p.Write(context.Background(), g.Next(1)))

	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Path = path
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	v := ext.(*viewer)
	v.refreshEvery = time.Hour
	require.NoError(t, v.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, v.Shutdown(context.Background())) })
	index := func() *auditquery.DiskIndex {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.index
	}
	require.Eventually(t, func() bool { return index() != nil && index().Stats().Lines == 1 }, time.Minute, 10*time.Millisecond,
		"the refresh at start indexed the first line")
	ix := index()

	// More than a quarter of what the handoff holds.
	for {
		require.NoError(t, p.Write(context.Background(), g.Next(100)))
		info, err := os.Stat(path)
		require.NoError(t, err)
		if info.Size() > 16<<20/4+(1<<20) {
			break
		}
	}
	// No request is made (a request would refresh): only the writer's
	// call can bring the index up to date. (What waits below a quarter
	// is taken at the next scheduled refresh.)
	require.Eventually(t, func() bool { return ix.HandedOver() > 0 && ix.Stats().Lines > 1 }, time.Minute, 10*time.Millisecond,
		"the index took the lines waiting in the tap without waiting for its scheduled refresh")
	assert.Zero(t, ix.Stats().Problems)
}
