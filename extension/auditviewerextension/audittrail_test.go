package auditviewerextension

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// viewerTrail takes the viewer stream for the test, emptied of what
// earlier tests left.
func viewerTrail(t *testing.T) <-chan selfaudit.Record {
	t.Helper()
	records, unsub, err := selfaudit.Subscribe(selfaudit.StreamViewer)
	require.NoError(t, err)
	t.Cleanup(unsub)
	for {
		select {
		case <-records:
		default:
			return records
		}
	}
}

func next(t *testing.T, records <-chan selfaudit.Record) selfaudit.Record {
	t.Helper()
	select {
	case r := <-records:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no audit record from the viewer")
		return selfaudit.Record{}
	}
}

func request(t *testing.T, url, user, pass string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestFailedLoginsAreAuditedAndThrottled: each failed login is an audit
// event naming the user tried and the client address; after
// max_failures the address gets 429 even with the right password, while
// another address and a request without credentials are unaffected.
func TestFailedLoginsAreAuditedAndThrottled(t *testing.T) {
	records := viewerTrail(t)
	path := writeArchive(t, t.TempDir(), 5)
	tv := startViewerHtpasswd(t, path, "auditor:right", "right", func(c *Config) { c.LoginThrottle = LoginThrottleConfig{MaxFailures: 3, Window: time.Hour} })

	assert.Equal(t, http.StatusUnauthorized, request(t, tv.base+"/api/events", "", "").StatusCode)
	for i := 0; i < 3; i++ {
		assert.Equal(t, http.StatusUnauthorized, request(t, tv.base+"/api/events?source=sippy", "mallory", "guess").StatusCode)
		r := next(t, records)
		assert.Equal(t, eventLoginFailed, r.Event, "a request without credentials is no failed login")
		assert.Equal(t, "mallory", r.Attributes["audit.actor"])
		assert.Equal(t, "127.0.0.1", r.Attributes["audit.client_address"])
		assert.Equal(t, "failure", r.Attributes["audit.outcome"])
		assert.Equal(t, "source=sippy", r.Attributes["audit.filter"])
	}
	r := next(t, records)
	assert.Equal(t, eventLoginThrottled, r.Event)
	assert.Contains(t, r.Body, "3 failed logins from 127.0.0.1")

	resp := request(t, tv.base+"/api/events", "auditor", "right")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "throttled, even with the right password")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusUnauthorized, request(t, tv.base+"/api/events", "", "").StatusCode, "no credentials: the prompt")
	select {
	case r := <-records:
		t.Fatalf("throttled requests are not audited one by one: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestLoginThrottleWindow(t *testing.T) {
	th := newLoginThrottle(2, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th.now = func() time.Time { return now }
	_, blocked := th.fail("a")
	assert.False(t, blocked)
	now = now.Add(30 * time.Second)
	_, blocked = th.fail("a")
	assert.True(t, blocked)
	assert.Equal(t, 30*time.Second, th.blockedFor("a"))
	assert.Zero(t, th.blockedFor("b"))
	now = now.Add(31 * time.Second)
	assert.Zero(t, th.blockedFor("a"), "the first failure left the window")
}

// TestQueriesAndDownloadsAreAudited: the user, the client address and the
// filter of every query and download.
func TestQueriesAndDownloadsAreAudited(t *testing.T) {
	records := viewerTrail(t)
	path := writeArchive(t, t.TempDir(), 20)
	tv := startViewer(t, path, "pw")
	require.Equal(t, http.StatusOK, tv.get(t, "/api/events?source=glassix&text=role").status)
	r := next(t, records)
	assert.Equal(t, eventQuery, r.Event)
	assert.Equal(t, "auditor", r.Attributes["audit.actor"])
	assert.Equal(t, "source=glassix&text=role", r.Attributes["audit.filter"])
	assert.Equal(t, "success", r.Attributes["audit.outcome"])

	require.Equal(t, http.StatusOK, tv.get(t, "/api/events.csv?actor=alice").status)
	r = next(t, records)
	assert.Equal(t, eventDownload, r.Event)
	assert.Equal(t, "actor=alice", r.Attributes["audit.filter"])
	assert.Equal(t, "csv", r.Attributes["format"])
	assert.Contains(t, r.Body, "download (csv)")
}

// TestIntegrityFromCheckpoints: the viewer's whole-archive check reports
// a cut tail that the per-line index cannot see, names swapped lines
// reordered, and points to auditctl verify.
func TestIntegrityFromCheckpoints(t *testing.T) {
	keys := t.TempDir()
	pubFile := filepath.Join(keys, "archive-signing.pub")
	priv, err := archive.GenerateKeyFiles(filepath.Join(keys, "archive-signing.key"), pubFile)
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	w, err := archive.OpenWriter(archive.WriterOptions{Path: path, Signer: archive.NewSigner(priv), CheckpointLines: 5})
	require.NoError(t, err)
	for i := 1; i <= 12; i++ {
		require.NoError(t, w.Write(context.Background(), archive.EncodeLogs(archivetest.GlassixLogs(i, 1))))
	}
	require.NoError(t, w.Close())

	integrityWith := func(t *testing.T, path, pubFile string) integrityReport {
		tv := startViewerHtpasswd(t, path, "", "", func(c *Config) { c.PublicKeys = []string{pubFile} })
		var rep integrityReport
		require.Eventually(t, func() bool {
			r := tv.get(t, "/api/integrity")
			return r.status == http.StatusOK && json.Unmarshal(r.body, &rep) == nil
		}, 10*time.Second, 20*time.Millisecond)
		return rep
	}
	integrity := func(t *testing.T) integrityReport { return integrityWith(t, path, pubFile) }
	rep := integrityWith(t, path, filepath.Join(keys, "not-yet.pub"))
	assert.Contains(t, rep.Summary, "public_keys: open ", "a key not there yet (the exporter creates it after the viewer starts) is reported, not fatal")
	assert.False(t, rep.SignaturesChecked)
	rep = integrity(t)
	require.True(t, rep.Intact, rep.Summary)
	assert.Contains(t, rep.Summary, "signed checkpoints verified")
	assert.Contains(t, rep.Command, "auditctl verify -pubkey "+pubFile)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	lines[len(lines)-1] += "\n"
	swapped := append([]string{}, lines...)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(swapped, "")), 0o600))
	rep = integrity(t)
	assert.False(t, rep.Intact)
	assert.Contains(t, rep.Summary, "reordered")
	assert.NotContains(t, rep.Summary, "missing")

	// The last lines cut: each line left is sound; the head's signed
	// checkpoint shows the cut.
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-4], "")), 0o600))
	rep = integrity(t)
	assert.False(t, rep.Intact)
	assert.Contains(t, rep.Summary, "truncated")
}
