//go:build e2e

package e2e

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// TestArchiveDiskFull: the archive's filesystem (a real 8 MiB tmpfs) fills
// up while webhooks keep coming. The collector logs the error, keeps
// acknowledging and forwarding to the SIEM, and once there is room again
// the archive catches up: every event exactly once in both, and the chain
// intact.
func TestArchiveDiskFull(t *testing.T) {
	// The test body runs in a child process with the tmpfs mounted in
	// its private mount namespace; the collector it starts sees it too.
	dir, child := archivetest.Tmpfs(t, 8<<20)
	if !child {
		return
	}
	siem := startSIEM(t)
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint(), ArchiveDir: dir})
	c.start()
	scheme := newScheme(t)
	payloads := loadgen.NewPayloads(scheme, 1)
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	archiveOf := func() *tally { return archiveTally(t, c.archive, scheme) }
	siemOf := func() *tally { return siemTally(siem, scheme) }

	var before, during, all loadid.Set
	postEvents(t, client, c, payloads, 50, &before, &all)
	waitFor(t, "the archive before the disk fills", archiveOf, &before)

	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)
	postEvents(t, client, c, payloads, 100, &during, &all)
	waitFor(t, "the SIEM while the archive's disk is full", siemOf, &during)
	require.Eventually(t, func() bool { return logLine(c.log(), "auditfile", "no space left on device") != "" }, time.Minute,
		100*time.Millisecond, "the collector reports the full disk")
	t.Logf("the collector reports: %s", logLine(c.log(), "auditfile", "no space left on device"))
	c.requireRunning()
	archived := archiveOf()
	require.Zero(t, archived.ids.Len()-before.Len(), "nothing can be archived on a full disk; the archive holds %s", archived)

	require.NoError(t, os.Remove(filler))
	postEvents(t, client, c, payloads, 50, &all)
	waitDelivered(t, siem, c.archive, scheme, &all)
	c.stop()
	requireExactlyOnce(t, "the SIEM", siemOf(), &all)
	requireExactlyOnce(t, "the archive", archiveOf(), &all)
	requireVerified(t, c.archive)
}

// fillDisk writes path until its filesystem is full.
func fillDisk(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "filling the disk: %v", err)
			break
		}
	}
	// Whatever is left is less than a chunk: fill it to the last byte.
	for _, size := range []int{4096, 1} {
		for {
			if _, err := f.Write(chunk[:size]); err != nil {
				require.True(t, errors.Is(err, syscall.ENOSPC), "filling the disk: %v", err)
				break
			}
		}
	}
}

// logLine returns the first line of log that holds every part, or "".
func logLine(log string, parts ...string) string {
	for line := range strings.Lines(log) {
		found := true
		for _, p := range parts {
			found = found && strings.Contains(line, p)
		}
		if found {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
