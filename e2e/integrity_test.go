//go:build e2e

package e2e

import (
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
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// integrityOverlay makes the shipped config rotate every MiB and
// checkpoint every 200 lines, so that a short test has several files and
// checkpoints; everything else is collector.yaml's.
const integrityOverlay = `
exporters:
  auditfile:
    rotation:
      max_megabytes: 1
    signing:
      checkpoint_every: 200
      checkpoint_interval: 1s
`

// signedArchive runs the shipped config with a real rsyslog as the SIEM,
// posts 3000 Glassix events, stops and starts the collector once (the
// checkpoint written at shutdown is sent at the next start) and stops it
// when every rotated file is gzipped. It returns the collector and the
// SIEM's raw log, where every checkpoint has arrived.
func signedArchive(t *testing.T) (*collector, string) {
	t.Helper()
	siem := startSIEM(t)
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint(), Extra: integrityOverlay})
	c.start()
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	scheme := newScheme(t)
	var acked loadid.Set
	postEvents(t, client, c, loadgen.NewPayloads(scheme, 50), 60, &acked)
	waitDelivered(t, siem, c.archive, scheme, &acked)
	c.stop()
	require.Contains(t, c.log(), "Created the archive signing key; copy its public key off this host now")
	require.Contains(t, c.log(), `"fingerprint": "SHA256:`)

	c.start()
	head, err := archive.ReadHead(c.archive + ".head")
	require.NoError(t, err)
	require.NotEmpty(t, head.Checkpoint)
	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(siem.RawLogPath())
		return strings.Contains(string(data), head.Checkpoint)
	}, time.Minute, 50*time.Millisecond, "the shutdown checkpoint reaches the SIEM after the restart")
	require.Eventually(t, func() bool {
		files, err := archive.LayoutFor(c.archive).Files()
		require.NoError(t, err)
		for _, f := range files {
			if !f.Active && !f.Compressed {
				return false
			}
		}
		return len(files) >= 3
	}, time.Minute, 50*time.Millisecond, "rotated files gzipped")
	c.stop()

	// The SIEM's copies: one RFC 5424 message each, MSGID naming them.
	var checkpoints int
	for _, m := range siem.Messages() {
		if m.MsgID == "archive.checkpoint" {
			checkpoints++
			assert.Equal(t, selfaudit.Source, m.AppName)
			assert.Len(t, archive.FindTokens([]byte(m.Message)), 1, m.Message)
		}
	}
	require.GreaterOrEqual(t, checkpoints, 5)
	return c, siem.RawLogPath()
}

// copyArchive copies the archive's directory, for one tamper each.
func copyArchive(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(filepath.Dir(from))
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(from), e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600))
	}
	return filepath.Join(dir, "audit.jsonl")
}

// TestTamperingIsDetected: each tamper someone with write access to the
// archive's directory can do, alone and combined, across rotated and
// gzipped files, is reported by the built auditctl with the public key,
// naming file and line; with the stolen private key too, the SIEM's copies
// of the checkpoints catch the rewrite.
func TestTamperingIsDetected(t *testing.T) {
	c, anchors := signedArchive(t)
	pub := c.pubKey()

	out, code := auditctl(t, "verify", "-pubkey", pub, "-anchors", anchors, c.archive)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `^OK .* checkpoints signed by [0-9a-f]{16} checked, (\d+) of (\d+) SIEM anchors found\n`, out)
	require.Contains(t, out, "not yet covered by a checkpoint: 0 lines")
	out, code = auditctl(t, "verify", c.archive)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "NOT checked (no -pubkey)")
	require.Contains(t, out, "someone who rewrites lines and recomputes every hash (and the head) is not detected")

	forger := func(path string, key bool) *archivetest.Forger {
		f := &archivetest.Forger{Dir: filepath.Dir(path), Base: "audit.jsonl"}
		if key {
			k, err := archive.LoadPrivateKey(c.keyFile())
			require.NoError(t, err)
			f.Key = k
		}
		return f
	}
	edit := func(t *testing.T, f *archivetest.Forger, change func([]archivetest.ForgedLine) []archivetest.ForgedLine) {
		lines, err := f.Lines()
		require.NoError(t, err)
		require.NoError(t, f.Rewrite(change(lines)))
	}
	changeLine := func(i int) func([]archivetest.ForgedLine) []archivetest.ForgedLine {
		return func(l []archivetest.ForgedLine) []archivetest.ForgedLine {
			require.Contains(t, l[i].Text, `"source":"glassix"`)
			l[i].Text = strings.Replace(l[i].Text, `"source":"glassix"`, `"source":"glassiz"`, 1)
			return l
		}
	}
	tests := []struct {
		name    string
		tamper  func(t *testing.T, path string)
		args    []string
		want    []string // in the -all output
		nowhere string   // output must not contain
	}{
		{"a line in a gzipped rotated file changed, every hash and the head recomputed", func(t *testing.T, path string) {
			edit(t, forger(path, false), changeLine(10))
		}, nil, []string{".jsonl.gz:", ": signature: checkpoint covering seq 1..", "does not verify"}, ""},
		{"the last lines cut, the head rewritten to match", func(t *testing.T, path string) {
			edit(t, forger(path, false), func(l []archivetest.ForgedLine) []archivetest.ForgedLine { return l[:len(l)-30] })
		}, nil, []string{"audit.jsonl.head: head: the head's signature does not verify"}, ""},
		{"the head deleted (directory given)", func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path+".head"))
		}, nil, []string{"audit.jsonl.head: head: no head file"}, "no archive"},
		{"a rotated file deleted", func(t *testing.T, path string) {
			files, err := archive.LayoutFor(path).Files()
			require.NoError(t, err)
			require.NoError(t, os.Remove(files[1].Path))
		}, nil, []string{":1: missing-file: "}, ""},
		{"a rotated file replaced by a copy of another", func(t *testing.T, path string) {
			files, err := archive.LayoutFor(path).Files()
			require.NoError(t, err)
			data, err := os.ReadFile(files[0].Path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(files[1].Path, data, 0o600))
		}, nil, []string{":1: reordered: "}, ""},
		{"two lines of a gzipped file swapped, hashes recomputed", func(t *testing.T, path string) {
			edit(t, forger(path, false), func(l []archivetest.ForgedLine) []archivetest.ForgedLine {
				l[5], l[6] = l[6], l[5]
				return l
			})
		}, nil, []string{".jsonl.gz:7: reordered: "}, "missing"},
		{"combined: a line changed in place, the tail cut, the head deleted", func(t *testing.T, path string) {
			edit(t, forger(path, false), func(l []archivetest.ForgedLine) []archivetest.ForgedLine { return l[:len(l)-10] })
			active := path
			data, err := os.ReadFile(active)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(active, []byte(strings.Replace(string(data), `"source":"glassix"`, `"source":"glassiz"`, 1)), 0o600))
			require.NoError(t, os.Remove(path+".head"))
		}, nil, []string{"audit.jsonl:", ": modified: content does not match its hash", "head: no head file"}, ""},
		{"stolen key: a line changed, every checkpoint and the head re-signed", func(t *testing.T, path string) {
			edit(t, forger(path, true), changeLine(100))
		}, []string{"-anchors", anchors}, []string{"\n" + anchors + ":", ": anchor: the SIEM's checkpoint made ", "the archive was rewritten"}, ""},
		{"stolen key: the tail cut, the head re-signed", func(t *testing.T, path string) {
			edit(t, forger(path, true), func(l []archivetest.ForgedLine) []archivetest.ForgedLine { return l[:len(l)-300] })
		}, []string{"-anchors", anchors}, []string{": anchor: ", "lines were cut from its end"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := copyArchive(t, c.archive)
			tt.tamper(t, path)
			target := path
			if strings.Contains(tt.name, "directory given") {
				target = filepath.Dir(path)
			}
			args := append(append([]string{"verify", "-all", "-pubkey", pub}, tt.args...), target)
			out, code := auditctl(t, args...)
			t.Logf("auditctl %s:\n%s", strings.Join(args, " "), out)
			assert.Equal(t, 1, code, "broken: exit 1")
			assert.True(t, strings.HasPrefix(out, "BROKEN "), out)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			if tt.nowhere != "" {
				assert.NotContains(t, out, tt.nowhere)
			}
			if strings.HasPrefix(tt.name, "stolen key") {
				// Without the SIEM's copies the forgery holds: that is what
				// the anchors are for.
				out, code := auditctl(t, "verify", "-pubkey", pub, path)
				assert.Equal(t, 0, code, out)
			}
		})
	}

	// The JSON report for automation.
	out, code = auditctl(t, "verify", "-json", "-pubkey", pub, c.archive)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, `"signatures_checked": true`)
	assert.Contains(t, out, `"uncovered_lines": 0`)
}

// TestKeyRotation: a new key made with auditctl keygen signs from the next
// start; verify needs both public keys, and says which key it lacks.
func TestKeyRotation(t *testing.T) {
	siem := startSIEM(t)
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint(), Extra: integrityOverlay})
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	scheme := newScheme(t)
	payloads := loadgen.NewPayloads(scheme, 50)
	var acked loadid.Set
	c.start()
	postEvents(t, client, c, payloads, 6, &acked)
	waitFor(t, "the archive", func() *tally { return archiveTally(t, c.archive, scheme) }, &acked)
	c.stop()

	oldPub := filepath.Join(t.TempDir(), "archive-signing-old.pub")
	require.NoError(t, os.Rename(c.pubKey(), oldPub))
	require.NoError(t, os.Remove(c.keyFile()))
	out, code := auditctl(t, "keygen", c.keyFile())
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "key id:")

	c.start()
	postEvents(t, client, c, payloads, 6, &acked)
	waitFor(t, "the archive", func() *tally { return archiveTally(t, c.archive, scheme) }, &acked)
	c.stop()
	require.Contains(t, c.log(), "Signing archive checkpoints")

	out, code = auditctl(t, "verify", "-pubkey", oldPub, "-pubkey", c.pubKey(), "-anchors", siem.RawLogPath(), c.archive)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `checkpoints signed by [0-9a-f]{16}, [0-9a-f]{16} checked`, out)
	out, code = auditctl(t, "verify", "-pubkey", c.pubKey(), c.archive)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "which no given public key matches (give it with -pubkey)")
}

// TestKilledCollectorLeavesAVerifiableArchive: after SIGKILL the archive
// verifies, with the lines after its last checkpoint reported as not yet
// covered; the next run covers them.
func TestKilledCollectorLeavesAVerifiableArchive(t *testing.T) {
	siem := startSIEM(t)
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint(), Extra: `
exporters:
  auditfile:
    signing:
      checkpoint_every: 100
      checkpoint_interval: 1m
`})
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	scheme := newScheme(t)
	payloads := loadgen.NewPayloads(scheme, 10)
	var acked loadid.Set
	c.start()
	postEvents(t, client, c, payloads, 25, &acked)
	waitFor(t, "the archive", func() *tally { return archiveTally(t, c.archive, scheme) }, &acked)
	postEvents(t, client, c, payloads, 3, &acked) // fewer than a checkpoint's worth
	waitFor(t, "the archive", func() *tally { return archiveTally(t, c.archive, scheme) }, &acked)
	c.kill()

	out, code := auditctl(t, "verify", "-pubkey", c.pubKey(), "-anchors", siem.RawLogPath(), c.archive)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `not yet covered by a checkpoint: [1-9]\d* lines`, out)
	require.Contains(t, out, "not yet covered by a signature: proven by the hash chain only")

	// The next start sends the newest checkpoint again (waiting for it also
	// keeps the SIGTERM below clear of the collector's start, which installs
	// its signal handler only after /health answers).
	head, err := archive.ReadHead(c.archive + ".head")
	require.NoError(t, err)
	require.NotEmpty(t, head.Checkpoint)
	sent := func() int {
		data, _ := os.ReadFile(siem.RawLogPath())
		return strings.Count(string(data), head.Checkpoint)
	}
	before := sent()
	c.start()
	require.Eventually(t, func() bool { return sent() > before }, time.Minute, 50*time.Millisecond, "the newest checkpoint sent again at start")
	c.stop()
	out, code = auditctl(t, "verify", "-pubkey", c.pubKey(), c.archive)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "not yet covered by a checkpoint: 0 lines")
}

// TestViewerAuditTrail: the viewer's failed logins (throttled after five
// from one address), queries and downloads reach the SIEM and the archive
// as audit events of source otelcol-audit.
func TestViewerAuditTrail(t *testing.T) {
	siem := startSIEM(t)
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint()})
	c.start()
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	scheme := newScheme(t)
	var acked loadid.Set
	postEvents(t, client, c, loadgen.NewPayloads(scheme, 5), 2, &acked)
	waitDelivered(t, siem, c.archive, scheme, &acked)

	get := func(path, user, pass string) int {
		req, err := http.NewRequest(http.MethodGet, "http://"+c.viewer+path, nil)
		require.NoError(t, err)
		req.SetBasicAuth(user, pass)
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("/api/events?source=glassix&text=role", "auditor", viewerPassword))
	require.Equal(t, http.StatusOK, get("/api/events.csv?actor=admin", "auditor", viewerPassword))
	codes := map[int]int{}
	start := time.Now()
	for range 100 {
		codes[get("/api/events", "auditor", "wrong-guess")]++
	}
	t.Logf("100 wrong passwords in %s: %v", time.Since(start), codes)
	require.Equal(t, map[int]int{http.StatusUnauthorized: 5, http.StatusTooManyRequests: 95}, codes)
	require.Equal(t, http.StatusTooManyRequests, get("/api/events", "auditor", viewerPassword), "throttled even with the right password")

	var trail []syslogtest.Message
	require.Eventually(t, func() bool {
		trail = trail[:0]
		for _, m := range siem.Messages() {
			if m.AppName == selfaudit.Source && strings.HasPrefix(m.MsgID, "viewer.") {
				trail = append(trail, m)
			}
		}
		return len(trail) >= 8
	}, time.Minute, 50*time.Millisecond, "the viewer's audit trail at the SIEM")
	byMsgID := map[string][]syslogtest.Message{}
	for _, m := range trail {
		byMsgID[m.MsgID] = append(byMsgID[m.MsgID], m)
	}
	require.Len(t, byMsgID["viewer.login_failed"], 5)
	require.Len(t, byMsgID["viewer.login_throttled"], 1)
	require.Len(t, byMsgID["viewer.query"], 1)
	require.Len(t, byMsgID["viewer.download"], 1)
	failed := byMsgID["viewer.login_failed"][0].StructuredData[sdID]
	assert.Equal(t, "auditor", failed["audit.actor"])
	assert.Equal(t, "127.0.0.1", failed["audit.client_address"])
	assert.Equal(t, "failure", failed["audit.outcome"])
	assert.Equal(t, "source=glassix&text=role", byMsgID["viewer.query"][0].StructuredData[sdID]["audit.filter"])
	assert.Equal(t, "actor=admin", byMsgID["viewer.download"][0].StructuredData[sdID]["audit.filter"])
	c.stop()

	events := map[string]int{}
	a, err := archive.Open(c.archive)
	require.NoError(t, err)
	for e, err := range a.Entries() {
		require.NoError(t, err)
		ev, err := e.Decode()
		require.NoError(t, err)
		if ev.Source == selfaudit.Source {
			events[ev.Name]++
		}
	}
	assert.Equal(t, map[string]int{"viewer.login_failed": 5, "viewer.login_throttled": 1, "viewer.query": 1, "viewer.download": 1}, events)
	out, code := auditctl(t, "verify", "-pubkey", c.pubKey(), c.archive)
	require.Equal(t, 0, code, out)
}
