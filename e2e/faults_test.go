//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// TestSIEMDownAtStartComesUpAMinuteLater: the collector starts while the
// SIEM is down and takes webhooks for a minute; the archive gets them at
// once, the SIEM every one of them, once, after it comes up.
func TestSIEMDownAtStartComesUpAMinuteLater(t *testing.T) {
	siem, c, scheme := startWithSIEMDown(t, "")
	started := time.Now()

	// 2 clients, 4 requests/s each, for most of the minute: about 400
	// events, well inside the sending queue (1000 requests).
	load := startLoad(t, c, scheme, loadSpec{clients: 2, interval: 250 * time.Millisecond, duration: 50 * time.Second})
	res := load.wait(t)
	requireAllAccepted(t, res)
	require.Greater(t, load.acked.Len(), uint64(100))
	// The SIEM's outage does not hold up the archive.
	waitFor(t, "the archive while the SIEM is down", func() *tally { return archiveTally(t, c.archive, scheme) }, &load.acked)
	require.Empty(t, siem.Messages(), "the SIEM is down")
	assert.Contains(t, c.log(), "connection refused", "the collector reports that the SIEM is unreachable")

	time.Sleep(time.Until(started.Add(time.Minute))) // the scenario: up a minute after the collector
	siem.Start()
	requireEachOnce(t, siem, c, scheme, &load.acked)
}

// TestSIEMRestartedUnderSteadyLoad: rsyslog is stopped and started again in
// the middle of a steady load; every event reaches it. The exporter speaks
// RELP here, the transport whose promise this is: over plain TCP a record
// the kernel handed to rsyslog in the instant it stopped is lost without
// either side knowing (the rfc5424 exporter's README, "What plain syslog
// cannot promise"; this test over TCP missed 16 events in one run of
// many). RELP resends what rsyslog had not answered, so a record it wrote
// but could not answer before stopping may arrive twice: duplicates are
// allowed at the SIEM and counted; the archive holds each event once.
func TestSIEMRestartedUnderSteadyLoad(t *testing.T) {
	siem := syslogtest.Start(t, syslogtest.Rsyslog, syslogtest.Config{Transport: syslogtest.RELP})
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint(), Extra: "exporters:\n  rfc5424:\n    transport: relp\n"})
	c.start()
	scheme := newScheme(t)

	// 4 clients, 20 requests/s each: about 80 events/s for 20 s.
	load := startLoad(t, c, scheme, loadSpec{clients: 4, interval: 50 * time.Millisecond, duration: 20 * time.Second})
	load.waitAcked(t, 400)
	siem.Stop()
	stoppedAt := load.acked.Len()
	// Events keep being acknowledged while the SIEM is away.
	load.waitAcked(t, stoppedAt+200)
	siem.Start()
	res := load.wait(t)
	requireAllAccepted(t, res)
	t.Logf("SIEM stopped after %d events, started again after %d", stoppedAt, stoppedAt+200)

	waitDelivered(t, siem, c.archive, scheme, &load.acked)
	c.stop()
	atSIEM := siemTally(siem, scheme)
	require.Zero(t, atSIEM.missing(&load.acked), "the SIEM: acknowledged events lost; it holds %s", atSIEM)
	require.Zero(t, atSIEM.unwanted(&load.acked), "the SIEM: events nobody acknowledged")
	t.Logf("the SIEM: %d acknowledged events, %d duplicates (resent after the restart)", load.acked.Len(), atSIEM.ids.Duplicates())
	requireExactlyOnce(t, "the archive", archiveTally(t, c.archive, scheme), &load.acked)
	requireVerified(t, c.archive)
}

// TestCollectorKilledUnderLoadLosesNothingAcknowledged: the collector is
// killed with SIGKILL in the middle of a load and started again with the
// same persistent queues; every event whose request was answered 2xx
// reaches the SIEM and the archive. The clients retry what failed, as
// Glassix does; duplicates are allowed, counted and logged.
func TestCollectorKilledUnderLoadLosesNothingAcknowledged(t *testing.T) {
	siem := startSIEM(t)
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint()})
	c.start()
	scheme := newScheme(t)

	load := startLoad(t, c, scheme, loadSpec{clients: 4, interval: 20 * time.Millisecond, duration: 25 * time.Second, retry: true})
	load.waitAcked(t, 500)
	c.kill()
	killedAt := load.acked.Len()
	c.start() // the same config, ports, queues and archive
	res := load.wait(t)
	t.Logf("killed after %d acknowledged events; %d acknowledged in all", killedAt, load.acked.Len())
	require.Greater(t, load.acked.Len(), killedAt, "the restarted collector took more")
	require.Positive(t, res.Failed, "requests failed while the collector was down: the kill happened under load")

	waitDelivered(t, siem, c.archive, scheme, &load.acked)
	c.stop()
	requireNothingAcknowledgedLost(t, siem, c, scheme, &load.acked, "the kill")
}

// requireNothingAcknowledgedLost requires every acknowledged event at the
// SIEM and in the archive of the stopped collector, and the archive
// verified. After a crash (what) duplicates are allowed, and so are
// events whose request got no 2xx (in flight then): both are logged.
func requireNothingAcknowledgedLost(t *testing.T, siem *syslogtest.Server, c *collector, scheme loadid.Scheme, acked *loadid.Set, what string) {
	t.Helper()
	for _, d := range []struct {
		where string
		tl    *tally
	}{
		{"the SIEM", siemTally(siem, scheme)},
		{"the archive", archiveTally(t, c.archive, scheme)},
	} {
		require.Zero(t, d.tl.missing(acked), "%s: acknowledged events lost in %s; it holds %s", d.where, what, d.tl)
		require.Equal(t, acked.Len(), d.tl.ids.Len()-d.tl.unwanted(acked), "%s: every acknowledged event", d.where)
		t.Logf("%s: %d acknowledged events delivered; %d duplicates; %d events delivered whose request got no 2xx (in flight at %s)",
			d.where, acked.Len(), d.tl.ids.Duplicates(), d.tl.unwanted(acked), what)
	}
	requireVerified(t, c.archive)
}

// TestKilledWhileSIEMDownReplaysOnlyToTheSIEM: with the SIEM down, the
// archive takes every event and the SIEM's wait in its queue and in the
// journal; the collector is killed with SIGKILL and started again, then
// the SIEM comes up. The journal replays to the SIEM what it never got,
// and not to the archive what it already wrote: each event once in each.
func TestKilledWhileSIEMDownReplaysOnlyToTheSIEM(t *testing.T) {
	siem, c, scheme := startWithSIEMDown(t, "")

	load := startLoad(t, c, scheme, loadSpec{clients: 2, interval: 50 * time.Millisecond, duration: 5 * time.Second})
	res := load.wait(t)
	requireAllAccepted(t, res)
	require.Greater(t, load.acked.Len(), uint64(50))
	waitFor(t, "the archive while the SIEM is down", func() *tally { return archiveTally(t, c.archive, scheme) }, &load.acked)
	// A line is in the archive a moment before the exporter reports it
	// written: a kill in that moment replays it (a duplicate, never a
	// loss). Past it, the journal knows the archive has every event.
	time.Sleep(time.Second)
	c.kill()

	c.start()
	assert.Eventually(t, func() bool {
		return strings.Contains(c.log(), "replaying them to the exporters that had not delivered them")
	},
		30*time.Second, 50*time.Millisecond, "the restarted collector replays the journal")
	siem.Start()
	requireEachOnce(t, siem, c, scheme, &load.acked)
}

// smallSIEMQueue makes the SIEM's queue hold 200 records and the journal
// keep the SIEM's events past 100 unsettled on disk only.
const smallSIEMQueue = `
processors:
  auditlog:
    journal:
      max_unsettled: 100
exporters:
  rfc5424:
    sending_queue:
      queue_size: 200
      batch:
        min_size: 50
        max_size: 100
`

// TestSIEMDownLongerThanItsQueue: the SIEM is down for more events than
// its sending queue holds. Past journal::max_unsettled the SIEM's events
// wait in the journal on disk only, so every webhook is still answered
// 2xx (no 503, no retry storm) and the archive gets each event once; once
// the SIEM is back the journal hands it the rest, in order, each once.
// Without max_unsettled the queue fills and the webhooks fail.
// killed: the collector is killed with SIGKILL and started again before
// the SIEM comes back; the waiting events are replayed from the journal.
func TestSIEMDownLongerThanItsQueue(t *testing.T) {
	for _, killed := range []bool{false, true} {
		t.Run(map[bool]string{false: "running", true: "killed"}[killed], func(t *testing.T) {
			siem, c, scheme := startWithSIEMDown(t, smallSIEMQueue)

			// 4 clients, 20 requests/s each, 10 s: about 800 events, 4
			// times the SIEM's queue.
			load := startLoad(t, c, scheme, loadSpec{clients: 4, interval: 50 * time.Millisecond, duration: 10 * time.Second})
			res := load.wait(t)
			requireAllAccepted(t, res)
			require.Greater(t, load.acked.Len(), uint64(400), "more events than the SIEM's queue holds")
			waitFor(t, "the archive while the SIEM is down", func() *tally { return archiveTally(t, c.archive, scheme) }, &load.acked)
			require.Empty(t, siem.Messages(), "the SIEM is down")
			assert.Contains(t, c.log(), "Exporter far behind: new events wait in the journal on disk")

			if killed {
				time.Sleep(time.Second) // past the archive's report of its last write (see TestKilledWhileSIEMDownReplaysOnlyToTheSIEM)
				c.kill()
				c.start()
			}
			siem.Start()
			if !killed {
				assert.Eventually(t, func() bool { return strings.Contains(c.log(), "Exporter caught up") },
					90*time.Second, 50*time.Millisecond, "the journal says when the SIEM has caught up")
			}
			requireEachOnce(t, siem, c, scheme, &load.acked)
		})
	}
}

// startWithSIEMDown starts rsyslog and stops it again (its port stays
// reserved for it in the config), then the collector, with extra YAML
// merged over the shipped config.
func startWithSIEMDown(t *testing.T, extra string) (*syslogtest.Server, *collector, loadid.Scheme) {
	siem := startSIEM(t)
	siem.Stop()
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint(), Extra: extra})
	c.start()
	return siem, c, newScheme(t)
}

// requireEachOnce waits until the SIEM and the archive hold every
// acknowledged event, stops the collector, and requires each exactly once
// in both and the archive verified.
func requireEachOnce(t *testing.T, siem *syslogtest.Server, c *collector, scheme loadid.Scheme, acked *loadid.Set) {
	waitDelivered(t, siem, c.archive, scheme, acked)
	c.stop()
	requireExactlyOnce(t, "the SIEM", siemTally(siem, scheme), acked)
	requireExactlyOnce(t, "the archive", archiveTally(t, c.archive, scheme), acked)
	requireVerified(t, c.archive)
}

// TestViewerTrailSurvivesAKillWhileSIEMDown: the collector's own audit
// events are journaled like the vendors'. With rsyslog down, five wrong
// viewer passwords make five viewer.login_failed events (and the archive
// takes them); the collector is killed with SIGKILL, started again, and
// rsyslog comes up: all five reach it, once each.
func TestViewerTrailSurvivesAKillWhileSIEMDown(t *testing.T) {
	siem, c, _ := startWithSIEMDown(t, "")
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	for range 5 {
		req, err := http.NewRequest(http.MethodGet, "http://"+c.viewer+"/api/events", nil)
		require.NoError(t, err)
		req.SetBasicAuth("auditor", "wrong-guess")
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	failedLogins := func(msgs []syslogtest.Message) map[string]int {
		ids := map[string]int{}
		for _, m := range msgs {
			if m.AppName == selfaudit.Source && m.MsgID == "viewer.login_failed" {
				ids[m.StructuredData[sdID]["audit.event_id"]]++
			}
		}
		return ids
	}
	inArchive := func() int {
		data, _ := os.ReadFile(c.archive)
		return strings.Count(string(data), `"event":"viewer.login_failed"`)
	}
	require.Eventually(t, func() bool { return inArchive() == 5 }, time.Minute, 50*time.Millisecond, "the archive takes the trail while the SIEM is down")
	time.Sleep(time.Second) // past the archive's report of its write
	c.kill()
	c.start()
	siem.Start()
	var got map[string]int
	require.Eventually(t, func() bool {
		got = failedLogins(siem.Messages())
		return len(got) == 5
	}, time.Minute, 100*time.Millisecond, "the journal replays the trail to the SIEM")
	c.stop()
	for id, n := range failedLogins(siem.Messages()) {
		assert.Equal(t, 1, n, "event %s", id)
	}
	assert.Equal(t, 5, inArchive(), "the archive got each once")
	requireVerified(t, c.archive)
}
