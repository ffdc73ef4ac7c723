//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/glassixapitest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/proc"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/sippyapitest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// puller is the built otelcol-audit running one of the shipped pull
// examples, with its state and archive in a directory of the test's.
type puller struct {
	t       testing.TB
	bin     string
	dir     string
	args    []string
	env     []string
	archive string
	proc    *proc.Process
	runs    int
}

func newPuller(t testing.TB, example, archiveName, overlay string, env ...string) *puller {
	t.Helper()
	p := &puller{t: t, bin: binaryPath(t, envCollectorBin), dir: t.TempDir()}
	p.archive = filepath.Join(p.dir, archiveName)
	overlay += `
service:
  telemetry:
    metrics:
      level: none
`
	ov := filepath.Join(p.dir, "overlay.yaml")
	require.NoError(t, os.WriteFile(ov, []byte(overlay), 0o600))
	p.args = []string{"--config", repoFile(t, example), "--config", ov}
	p.env = append(env, "OTELCOL_AUDIT_DATA="+p.dir, "GOMEMLIMIT="+goMemLimit)
	t.Cleanup(func() {
		if p.proc != nil {
			_ = p.proc.Stop(30 * time.Second)
		}
		if t.Failed() {
			t.Logf("collector logs:\n%s", tail(p.log(), 80))
		}
	})
	return p
}

func (p *puller) logPath(run int) string {
	return filepath.Join(p.dir, "collector-"+strconv.Itoa(run)+".log")
}

func (p *puller) log() string {
	var b strings.Builder
	for run := 1; run <= p.runs; run++ {
		data, _ := os.ReadFile(p.logPath(run))
		fmt.Fprintf(&b, "--- run %d ---\n%s", run, data)
	}
	return b.String()
}

func (p *puller) start() {
	p.t.Helper()
	p.runs++
	pr, err := proc.Start(p.bin, p.args, p.env, p.logPath(p.runs))
	require.NoError(p.t, err)
	p.proc = pr
}

func (p *puller) stop() {
	p.t.Helper()
	began := time.Now()
	defer func() { p.t.Logf("collector stopped in %s", time.Since(began).Round(time.Millisecond)) }()
	err := p.proc.Stop(time.Minute)
	if err == nil {
		err = p.proc.ExitErr()
	}
	p.proc = nil
	require.NoError(p.t, err, "collector shutdown")
}

func (p *puller) kill() {
	p.proc.Kill()
	p.proc = nil
}

// idCount counts events by an id taken from the audit.event_id.
type idCount map[string]int

func (c idCount) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// archiveIDs counts the archive's events by their audit.event_id.
func archiveIDs(t testing.TB, path string) idCount {
	t.Helper()
	ids := idCount{}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return ids
	}
	a, err := archive.Open(path)
	require.NoError(t, err)
	for e, err := range a.Entries() {
		require.NoError(t, err)
		if e.Status == archive.StatusIncomplete {
			continue
		}
		require.Equal(t, archive.StatusOK, e.Status, "%s:%d: %v", e.File, e.Line, e.Err)
		ev, err := e.Decode()
		require.NoError(t, err)
		if ev.IsMarker() {
			continue
		}
		id, _ := ev.Attributes["audit.event_id"].(string)
		ids[id]++
	}
	return ids
}

func siemIDs(siem *syslogtest.Server) idCount {
	ids := idCount{}
	for _, m := range siem.Messages() {
		ids[m.StructuredData[sdID]["audit.event_id"]]++
	}
	return ids
}

// requireOnce checks that ids holds each of want once and nothing else.
func requireOnce(t testing.TB, where string, ids idCount, want []string) {
	t.Helper()
	requireOnceAfter(t, where, ids, want, 0)
}

// requireOnceAfter is requireOnce where the first mayRepeat events of want
// may also arrive more than once: those a SIGKILL may have caught between
// an exporter's write and its persistent queue's record of it, which the
// queue then delivers again (the archive and the SIEM are at-least-once:
// the auditfile exporter's README, Errors and delivery). Every other event
// must arrive exactly once, and none may be missing.
func requireOnceAfter(t testing.TB, where string, ids idCount, want []string, mayRepeat int) {
	t.Helper()
	var missing, twice []string
	repeated := 0
	for i, id := range want {
		switch n := ids[id]; {
		case n == 0:
			missing = append(missing, id)
		case n == 1:
		case i < mayRepeat:
			repeated++
		default:
			twice = append(twice, fmt.Sprintf("%s x%d", id, n))
		}
	}
	require.Empty(t, missing, "%s: events lost (%d of %d)", where, len(missing), len(want))
	require.Empty(t, twice, "%s: events delivered more than once", where)
	require.Len(t, ids, len(want), "%s: events that do not exist", where)
	if mayRepeat > 0 {
		t.Logf("%s: %d of the %d events read before the kill arrived again after it", where, repeated, mayRepeat)
	}
}

func waitCount(t testing.TB, where string, count func() idCount, n int) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(deliveryDeadline)
	for {
		got := count()
		if len(got) >= n {
			t.Logf("%s: %d events after %s", where, n, time.Since(began).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d events after %s", where, len(got), n, deliveryDeadline)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestSippyPullBackfillRestartsKillAndOutage runs examples/sippy-pull.yaml
// against the Sippy simulator (Python's xmlrpc.server behind HTTP Digest):
// a backfill of 6000 records from SIPPY_START_AT, SIGKILLed in the middle,
// started again, stopped and started again, then the switch down for a
// while and new records written meanwhile. Every record reaches the SIEM
// (rsyslog) and the archive; only records read before the kill may arrive
// twice (at-least-once across a SIGKILL), every other exactly once.
func TestSippyPullBackfillRestartsKillAndOutage(t *testing.T) {
	const history = 6000
	t0 := time.Now().Add(-30 * time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: history, HistoryStart: t0, HistoryStep: 10 * time.Second, Algorithm: "SHA-256"})
	siem := startSIEM(t)
	p := newPuller(t, "examples/sippy-pull.yaml", "sippy-audit.jsonl", `
receivers:
  auditpull/sippy:
    sippy:
      poll_interval: 200ms
      lag: 2s
      overlap: 1m
      retry_on_failure:
        initial_interval: 100ms
        max_interval: 1s
`, "SIPPY_URL="+sim.URL, "SIPPY_USERNAME=admin", "SIPPY_PASSWORD=api-secret",
		"SIPPY_START_AT="+t0.Format(time.RFC3339), "SIEM_ENDPOINT="+siem.Endpoint())
	archiveCount := func() idCount { return archiveIDs(t, p.archive) }

	started := time.Now()
	p.start()
	// The receiver runs ahead of the archive (the exporters' persistent
	// queues are in between): the switch's count says how far it read.
	served := func() int { return sim.Stats(t).RecordsServed }
	require.Eventually(t, func() bool { return served() >= 1200 }, deliveryDeadline, 5*time.Millisecond)
	p.kill()
	killedAt := served()
	require.Less(t, killedAt, history/2, "the kill lands in the middle of the backfill")
	p.start()
	require.Eventually(t, func() bool { return served() >= 3500 }, deliveryDeadline, 5*time.Millisecond)
	p.stop()
	stoppedAt := served()
	require.Less(t, stoppedAt, history, "the stop lands in the middle of the backfill")
	p.start()
	waitCount(t, "the archive after the restarts", archiveCount, history)
	backfill := time.Since(started)

	// The switch goes down; records keep being written on it meanwhile.
	sim.Faults(t, map[string]any{"down": true})
	sim.Add(t, 150, time.Now().Add(-30*time.Second), 100*time.Millisecond)
	time.Sleep(3 * time.Second)
	require.Len(t, archiveCount(), history, "nothing new while the switch is down")
	sim.Faults(t, map[string]any{"down": false})
	sim.Add(t, 50, time.Time{}, 0)
	want := make([]string, 0, history+200)
	for i := 1; i <= history+200; i++ {
		want = append(want, fmt.Sprintf("sippy:%s:i_audit_log=%d", strings.TrimSuffix(strings.TrimPrefix(sim.URL, "http://"), "/xmlapi/xmlapi"), i))
	}
	waitCount(t, "the archive after the outage", archiveCount, len(want))
	waitCount(t, "the SIEM", func() idCount { return siemIDs(siem) }, len(want))
	time.Sleep(time.Second) // anything extra would arrive now
	p.stop()

	// The SIGKILL may catch a batch written but not yet marked done in the
	// persistent queue: it comes again, so only what was read before the
	// kill may repeat. The graceful stop and the outage repeat nothing.
	requireOnceAfter(t, "the archive", archiveCount(), want, killedAt)
	requireOnceAfter(t, "the SIEM", siemIDs(siem), want, killedAt)
	requireVerified(t, p.archive)
	st := sim.Stats(t)
	t.Logf("killed after %d records read, stopped after %d; backfill of %d records over 3 runs in %s; %d calls, %d records served (%d again in overlaps or after the kill)",
		killedAt, stoppedAt, history, backfill.Round(time.Millisecond), st.Calls, st.RecordsServed, st.RecordsServed-history-200)
	require.Contains(t, p.log(), "Resuming from the checkpoint")
	require.Contains(t, p.log(), "Sippy getAuditLogs failed; retrying from the checkpoint")
}

// TestGlassixPullQueueAcrossKill runs examples/glassix-pull.yaml against
// the Glassix API simulator: 2000 queued events, the collector SIGKILLed
// in the middle and started again, the API throttling for a while. Every
// event reaches the SIEM and the archive (only those handed out before the
// kill may arrive twice), and every one is deleted from the queue once.
func TestGlassixPullQueueAcrossKill(t *testing.T) {
	sim, err := glassixapitest.Start(glassixapitest.Options{
		APIKey: "key", APISecret: "secret", UserName: "api@example.com", Batch: 10, Visibility: 2 * time.Second,
	})
	require.NoError(t, err)
	defer sim.Close()
	siem := startSIEM(t)
	p := newPuller(t, "examples/glassix-pull.yaml", "glassix-pull-audit.jsonl", `
receivers:
  auditpull/glassix:
    glassix:
      poll_interval: 200ms
      retry_on_failure:
        initial_interval: 100ms
        max_interval: 1s
`, "GLASSIX_API_URL="+sim.URL, "GLASSIX_API_KEY=key", "GLASSIX_API_SECRET=secret",
		"GLASSIX_USER_NAME=api@example.com", "SIEM_ENDPOINT="+siem.Endpoint())
	archiveCount := func() idCount { return archiveIDs(t, p.archive) }
	const n = 2000
	var want []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("e2e-%04d", i)
		want = append(want, id)
		sim.Add(glassixapitest.Envelope(id, time.Now()))
	}
	p.start()
	// Killed while the queue still holds events: by the simulator's count,
	// the receiver runs ahead of the archive.
	require.Eventually(t, func() bool { return sim.Stats().Deleted >= 300 }, deliveryDeadline, 2*time.Millisecond)
	p.kill()
	atKill := sim.Stats()
	left := atKill.Remaining
	require.Positive(t, left, "the kill lands before the queue is drained")
	p.start()
	sim.Throttle(3)
	waitCount(t, "the archive", archiveCount, n)
	waitCount(t, "the SIEM", func() idCount { return siemIDs(siem) }, n)
	require.Eventually(t, func() bool { return sim.Stats().Remaining == 0 }, deliveryDeadline, 100*time.Millisecond)
	time.Sleep(time.Second)
	p.stop()

	// Only what the API had handed out before the kill may come twice
	// (a batch written but not yet marked done in the persistent queue;
	// the queue hands events out oldest first).
	requireOnceAfter(t, "the archive", archiveCount(), want, min(n, atKill.Handed))
	requireOnceAfter(t, "the SIEM", siemIDs(siem), want, min(n, atKill.Handed))
	requireVerified(t, p.archive)
	require.Empty(t, sim.DeletedTwice())
	st := sim.Stats()
	require.Equal(t, n, st.Deleted)
	t.Logf("glassix: killed with %d events queued; %d events handed out for %d (%d again after the kill), %d throttled", left, st.Handed, n, st.Handed-n, st.Throttled)
}
