//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validate runs `otelcol-audit validate --config path` in dir, with no
// environment variable the configs read set, and returns its output and
// error.
func validate(t *testing.T, dir, path string) (string, error) {
	t.Helper()
	cmd := exec.Command(binaryPath(t, envCollectorBin), "validate", "--config", path)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		// The configs default what they read from the environment; the
		// test checks those defaults, not the caller's settings.
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GLASSIX_API_SECRET", "SIEM_ENDPOINT", "CTREPLAY_LOG", "CTREPLAY_TIMEZONE", "OTELCOL_AUDIT_DATA",
			"COLLECTOR_NAME", "LISTEN_ENDPOINT", "VIEWER_ENDPOINT", "PG_DSN":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestShippedConfigsValidate checks that collector.yaml and every example
// load and validate in the built binary, without touching the disk.
func TestShippedConfigsValidate(t *testing.T) {
	binaryPath(t, envCollectorBin) // fail once, here, when it is missing
	examples, err := filepath.Glob(repoFile(t, "examples") + "/*.yaml")
	require.NoError(t, err)
	nested, err := filepath.Glob(repoFile(t, "examples") + "/*/*.yaml")
	require.NoError(t, err)
	examples = append(examples, nested...)
	require.NotEmpty(t, examples)
	for _, path := range append([]string{repoFile(t, "collector.yaml")}, examples...) {
		rel, err := filepath.Rel(repoFile(t, "."), path)
		require.NoError(t, err)
		t.Run(rel, func(t *testing.T) {
			dir := t.TempDir()
			out, err := validate(t, dir, path)
			require.NoError(t, err, "otelcol-audit validate --config %s:\n%s", rel, out)
			left, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, left, "validate must not create files (data directories, archives)")
		})
	}
}

// TestValidateRefusesABrokenConfig shows that validate is a real check:
// the shipped config with one misspelt setting fails, naming it.
func TestValidateRefusesABrokenConfig(t *testing.T) {
	shipped, err := os.ReadFile(repoFile(t, "collector.yaml"))
	require.NoError(t, err)
	broken := strings.Replace(string(shipped), "    transport: tcp\n", "    transport: tcp\n    framming: octet_counting\n", 1)
	require.NotEqual(t, string(shipped), broken, "collector.yaml no longer sets the rfc5424 transport: update this test")
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.yaml")
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
	out, err := validate(t, dir, path)
	require.Error(t, err, "validate accepted a misspelt setting:\n%s", out)
	assert.Contains(t, out, "framming")
}

// TestBenchOverlaysValidate checks that each overlay the load harness
// takes with -audit-config (bench/audit: the viewer, signing, the shared
// index and dedup::shared that bench/sharedcost/run.sh uses) loads and
// validates over the harness's own otelcol-audit configuration, as the
// harness merges them.
func TestBenchOverlaysValidate(t *testing.T) {
	bin := binaryPath(t, envCollectorBin)
	dir := t.TempDir()
	env := []string{
		"BENCH_HTTP_ENDPOINT=127.0.0.1:18088", "BENCH_SYSLOG_ENDPOINT=127.0.0.1:16514",
		"BENCH_ARCHIVE=" + filepath.Join(dir, "audit.jsonl"), "BENCH_GLASSIX_SECRET=secret",
		"BENCH_QUEUE_DIR=" + filepath.Join(dir, "queue"),
		"BENCH_PG_DSN=postgres://postgres@127.0.0.1:55433/postgres?sslmode=disable",
	}
	// validateOver runs validate on the harness's configuration with
	// overlay merged over it, the environment given last winning.
	validateOver := func(t *testing.T, overlay string, extra ...string) (string, error) {
		cmd := exec.Command(bin, "validate",
			"--config", repoFile(t, "bench/audit/collector.yaml"),
			"--config", repoFile(t, "bench/audit/durable.yaml"),
			"--config", repoFile(t, "bench/audit/"+overlay))
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), env...), extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, overlay := range []string{"viewer.yaml", "signing.yaml", "shared-index.yaml", "shared-dedup.yaml"} {
		t.Run(overlay, func(t *testing.T) {
			out, err := validateOver(t, overlay)
			require.NoError(t, err, "otelcol-audit validate with bench/audit/%s:\n%s", overlay, out)
		})
	}
	t.Run("a DSN that is not one", func(t *testing.T) {
		// The check is real: the shared overlays' DSN is read and checked.
		out, err := validateOver(t, "shared-dedup.yaml", "BENCH_PG_DSN=postgres://x:y@[::1/db")
		require.Error(t, err, "validate accepted a broken DSN:\n%s", out)
		assert.Contains(t, out, "dsn")
	})
}
