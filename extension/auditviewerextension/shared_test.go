package auditviewerextension

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
)

// startShared starts a viewer over the archive at path whose index is in
// the shared PostgreSQL at dsn, under collector name.
func startShared(t *testing.T, path, dsn, name string) *testViewer {
	t.Helper()
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Path = path
	cfg.MaxPageSize = 5000
	pg := cfg.Index.Postgres.GetOrInsertDefault()
	pg.DSN, pg.CollectorName = configopaque.String(dsn), name
	pg.RefreshInterval, pg.MaxRetryInterval = 100*time.Millisecond, 400*time.Millisecond
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(ctx, extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	v := ext.(*viewer)
	return &testViewer{viewer: v, base: "http://" + v.addr.String()}
}

// eventually polls cond (the index follows the archive in the background).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two collectors' viewers over one shared index: each page shows both
// archives' events, each naming its collector and archive; the detail of
// the other's line says where it is. PostgreSQL stopped: the page says
// the index cannot answer (503, at once); lines written meanwhile are
// indexed when it is back, each once.
func TestSharedIndexTwoViewers(t *testing.T) {
	pg := pgtest.Start(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	wA, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: filepath.Join(dirA, "audit.jsonl")})
	require.NoError(t, err)
	defer wA.Close()
	pathB := writeArchive(t, dirB, 700)
	g := auditquerytest.NewGenerator(3, time.Second)
	ctx := context.Background()
	require.NoError(t, wA.Write(ctx, g.Next(300)))
	a := startShared(t, dirA, pg.DSN(), "east")
	b := startShared(t, pathB, pg.DSN(), "west")
	total := func(tv *testViewer) int { return tv.page(t, "limit=1").Total }
	eventually(t, "both archives indexed, seen from each viewer", func() bool { return total(a) == 1000 && total(b) == 1000 })

	p := b.page(t, "limit=5000")
	per := map[string]int{}
	for _, r := range p.Rows {
		per[r.Collector]++
		switch r.Collector {
		case "east":
			assert.Equal(t, filepath.Join(dirA, "audit.jsonl"), r.Archive)
		case "west":
			assert.Equal(t, pathB, r.Archive)
		}
	}
	assert.Equal(t, map[string]int{"east": 300, "west": 700}, per)
	assert.Equal(t, 1000, p.Archive.Lines)
	for _, r := range p.Rows {
		if r.Collector == "east" {
			resp := b.get(t, "/api/line?file="+r.Collector+"/"+r.File+"&line="+itoa(r.Line))
			require.Equal(t, http.StatusOK, resp.status, string(resp.body))
			assert.Contains(t, string(resp.body), `"collector":"east"`)
			assert.Contains(t, string(resp.body), `"line":""`, "the line is on the other machine")
			resp = a.get(t, "/api/line?file="+r.Collector+"/"+r.File+"&line="+itoa(r.Line))
			require.Equal(t, http.StatusOK, resp.status, string(resp.body))
			assert.NotContains(t, string(resp.body), `"line":""`, "its own collector reads it back")
			break
		}
	}

	pg.Stop()
	require.NoError(t, wA.Write(ctx, g.Next(200)))
	start := time.Now()
	resp := b.get(t, "/api/events?limit=1")
	assert.Equal(t, http.StatusServiceUnavailable, resp.status, string(resp.body))
	assert.Less(t, time.Since(start), 20*time.Second, "answered, not hung")
	eventually(t, "east says its index is behind", func() bool {
		st := a.viewer.index.Stats()
		return len(st.Warnings) > 0 && strings.Contains(st.Warnings[len(st.Warnings)-1], "the index is behind")
	})
	pg.Start()
	eventually(t, "caught up", func() bool {
		r := b.get(t, "/api/events?limit=1")
		return r.status == http.StatusOK && total(b) == 1200
	})
	p = a.page(t, "limit=5000")
	seen := map[string]bool{}
	for _, r := range p.Rows {
		k := r.Collector + "/" + r.File + ":" + itoa(r.Line)
		assert.False(t, seen[k], "indexed twice: %s", k)
		seen[k] = true
	}
	assert.Len(t, seen, 1200)
	eventually(t, "no longer behind", func() bool { return len(a.viewer.index.Stats().Warnings) == 0 })
}

func itoa(n int) string { return strconv.Itoa(n) }
