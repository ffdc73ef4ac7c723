package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// TestKeygenSignVerify: keygen's key signs an archive; verify checks it
// with the public key only, refuses another key, and compares anchors.
func TestKeygenSignVerify(t *testing.T) {
	keys := t.TempDir()
	priv := filepath.Join(keys, "archive-signing.key")
	code, out, errOut := runCLI("keygen", priv)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "key id:")
	pub := filepath.Join(keys, "archive-signing.pub")
	st, err := os.Stat(priv)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	code, _, errOut = runCLI("keygen", priv)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "never overwrites")

	key, err := archive.LoadPrivateKey(priv)
	require.NoError(t, err)
	dir := t.TempDir()
	var toks []string
	w, err := archive.OpenWriter(archive.WriterOptions{Path: filepath.Join(dir, "audit.jsonl"), Signer: archive.NewSigner(key), CheckpointLines: 20,
		OnCheckpoint: func(_ archive.Checkpoint, tok string) { toks = append(toks, tok) }})
	require.NoError(t, err)
	for i := 1; i <= 50; i += 10 {
		require.NoError(t, w.Write(context.Background(), archive.EncodeLogs(archivetest.GlassixLogs(i, 10))))
	}
	require.NoError(t, w.Close())

	code, out, errOut = runCLI("verify", "-pubkey", pub, dir)
	require.Equal(t, exitOK, code, out+errOut)
	assert.Contains(t, out, "checkpoints signed by ")
	assert.Contains(t, out, "not yet covered by a checkpoint: 0 lines")

	other := filepath.Join(keys, "other.key")
	code, _, _ = runCLI("keygen", other)
	require.Equal(t, exitOK, code)
	code, out, _ = runCLI("verify", "-pubkey", filepath.Join(keys, "other.pub"), dir)
	assert.Equal(t, exitProblem, code)
	assert.Contains(t, out, ": signature: checkpoint covering seq 1..20: signed with key ")
	code, _, _ = runCLI("verify", "-pubkey", filepath.Join(keys, "other.pub"), "-pubkey", pub, dir)
	assert.Equal(t, exitOK, code)

	code, _, errOut = runCLI("verify", "-pubkey", priv, dir)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "give the .pub file")

	siem := filepath.Join(t.TempDir(), "siem.log")
	require.NoError(t, os.WriteFile(siem, []byte("<134>1 - h otelcol-audit - archive.checkpoint - archive.checkpoint: "+strings.Join(toks, "\n<134>1 - h otelcol-audit - archive.checkpoint - x: ")+"\n"), 0o600))
	code, out, _ = runCLI("verify", "-pubkey", pub, "-anchors", siem, dir, "-json")
	require.Equal(t, exitOK, code, out)
	require.Greater(t, len(toks), 1)
	assert.Contains(t, out, `"anchors_matched": `+strconv.Itoa(len(toks)))

	empty := filepath.Join(t.TempDir(), "empty.log")
	require.NoError(t, os.WriteFile(empty, []byte("nothing\n"), 0o600))
	code, _, errOut = runCLI("verify", "-anchors", empty, dir)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "holds no checkpoint")
}
