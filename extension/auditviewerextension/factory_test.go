package auditviewerextension

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.ExtensionStability, f.Stability())
}

// Create, start, serve, shut down, twice; before the archive exists the
// API answers 503 and says why, and the page is served all the same.
func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	for round := range 2 {
		cfg := createDefaultConfig().(*Config)
		cfg.NetAddr.Endpoint = "127.0.0.1:0"
		cfg.Path = filepath.Join(dir, "audit.jsonl")
		ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
		require.NoError(t, err)
		require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()), "round %d", round)
		base := "http://" + ext.(*viewer).addr.String()

		resp, err := http.Get(base + "/api/events")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, string(body), "no archive")
		assert.Equal(t, "10", resp.Header.Get("Retry-After"))

		resp, err = http.Get(base + "/")
		require.NoError(t, err)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(body), "<title>Audit Logs Viewer</title>")

		require.NoError(t, ext.Shutdown(context.Background()))
	}
}

// Shutdown without Start is harmless.
func TestShutdownWithoutStart(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Path = "x"
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Shutdown(context.Background()))
}
