package auditfileexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// TestSigningCreatesTheKeyAndAnchorsCheckpoints: the first start creates
// the key pair; each checkpoint is written to the archive and handed to
// the checkpoints stream; the next start sends the newest one again.
func TestSigningCreatesTheKeyAndAnchorsCheckpoints(t *testing.T) {
	records, unsub, err := selfaudit.Subscribe(selfaudit.StreamCheckpoints)
	require.NoError(t, err)
	defer unsub()

	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Signing.KeyFile = filepath.Join(dir, "keys", "archive-signing.key")
	cfg.Signing.CheckpointEvery = 10
	exp, shutdown := startExporter(t, cfg, exportertest.NewNopSettings(metadata.Type))
	for i := 1; i <= 30; i += 5 {
		require.NoError(t, exp.ConsumeLogs(context.Background(), archivetest.GlassixLogs(i, 5)))
	}
	shutdown()

	st, err := os.Stat(cfg.Signing.KeyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pub, err := archive.LoadPublicKey(filepath.Join(dir, "keys", "archive-signing.pub"))
	require.NoError(t, err)
	keys := archive.Keyring{}
	keys.Add(pub)
	r, err := archive.Verify(cfg.Path, archive.VerifyOptions{Keys: keys})
	require.NoError(t, err)
	require.True(t, r.Intact(), "%v", r.Problems)
	require.Positive(t, r.Checkpoints)

	var got []selfaudit.Record
	for len(got) < r.Checkpoints {
		select {
		case rec := <-records:
			got = append(got, rec)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d checkpoints published, want %d", len(got), r.Checkpoints)
		}
	}
	last := got[len(got)-1]
	assert.Equal(t, CheckpointEventName, last.Event)
	c, err := archive.ParseToken(last.Body)
	require.NoError(t, err)
	require.NoError(t, keys.Check(&c))
	assert.Equal(t, int64(c.LastSeq), last.Attributes["checkpoint.last_seq"])

	_, shutdown = startExporter(t, cfg, exportertest.NewNopSettings(metadata.Type))
	select {
	case rec := <-records:
		assert.Equal(t, last.Body, rec.Body, "the newest checkpoint is sent again at start")
	case <-time.After(10 * time.Second):
		t.Fatal("the newest checkpoint was not sent again at start")
	}
	shutdown()
}

func TestSigningRefusesAKeyOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Signing.KeyFile = filepath.Join(dir, "archive-signing.key")
	_, err := archive.GenerateKeyFiles(cfg.Signing.KeyFile, filepath.Join(dir, "archive-signing.pub"))
	require.NoError(t, err)
	require.NoError(t, os.Chmod(cfg.Signing.KeyFile, 0o644))
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = exp.Start(context.Background(), nil)
	require.ErrorContains(t, err, "signing::key_file: private key")
	require.ErrorContains(t, err, "chmod 600")
	require.NoError(t, exp.Shutdown(context.Background()))
}
