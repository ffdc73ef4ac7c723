//go:build e2e

package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
)

// newHACollector is the built binary running examples/ha/collector.yaml as
// one instance of several, with the environment that file documents.
func newHACollector(t testing.TB, name, siem, dsn string) *collector {
	t.Helper()
	c := &collector{t: t, bin: binaryPath(t, envCollectorBin), dir: t.TempDir()}
	c.addr, c.viewer = freeAddr(t), freeAddr(t)
	data := filepath.Join(c.dir, "data")
	c.archive = filepath.Join(data, "audit.jsonl")
	// The internal metrics server would bind :8888 on a shared machine.
	noMetrics := c.writeFile("telemetry.yaml", "service:\n  telemetry:\n    metrics:\n      level: none\n")
	c.args = []string{"--config", repoFile(t, "examples/ha/collector.yaml"), "--config", noMetrics}
	c.env = []string{
		"COLLECTOR_NAME=" + name, "LISTEN_ENDPOINT=" + c.addr, "VIEWER_ENDPOINT=" + c.viewer,
		"OTELCOL_AUDIT_DATA=" + data, "PG_DSN=" + dsn, "SIEM_ENDPOINT=" + siem,
		"GLASSIX_API_SECRET=", "VIEWER_PASSWORD=" + viewerPassword, "GOMEMLIMIT=" + goMemLimit,
	}
	t.Cleanup(func() {
		if c.proc != nil {
			if err := c.proc.Stop(30 * time.Second); err != nil {
				t.Errorf("collector %s: %v", name, err)
			}
		}
		if t.Failed() {
			t.Logf("collector %s logs:\n%s", name, tail(c.log(), 100))
		}
	})
	return c
}

// TestHARetryReachingTheOtherInstanceIsDeliveredOnce: Glassix's retry of a
// webhook the first instance answered lands on the second, behind a load
// balancer; the SIEM gets the event once, and the first instance's archive
// holds it.
func TestHARetryReachingTheOtherInstanceIsDeliveredOnce(t *testing.T) {
	pg := pgtest.Start(t)
	siem := startSIEM(t)
	a := newHACollector(t, "audit-a", siem.Endpoint(), pg.DSN())
	b := newHACollector(t, "audit-b", siem.Endpoint(), pg.DSN())
	a.start()
	b.start()
	scheme := newScheme(t)
	payloads := loadgen.NewPayloads(scheme, 1)
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()

	var want loadid.Set
	for range 20 {
		body, first := payloads.Build(nil, time.Now())
		want.Add(first)
		for _, c := range []*collector{a, b} { // the first try, then the retry
			r := post(t, client, c.url("/glassix"), body)
			require.Equal(t, http.StatusOK, r.status, r.body)
		}
	}
	waitFor(t, "the SIEM", func() *tally { return siemTally(siem, scheme) }, &want)
	waitFor(t, "a's archive", func() *tally { return archiveTally(t, a.archive, scheme) }, &want)
	a.stop()
	b.stop()
	requireExactlyOnce(t, "the SIEM", siemTally(siem, scheme), &want)
	requireExactlyOnce(t, "a's archive", archiveTally(t, a.archive, scheme), &want)
	require.Zero(t, archiveTally(t, b.archive, scheme).total, "b dropped every retry")
	for _, m := range siem.Messages() {
		require.Equal(t, "audit-a", m.Hostname, "COLLECTOR_NAME names the instance at the SIEM")
	}
	requireVerified(t, a.archive)
}

// TestHAOneInstanceKilledAndTheDatabaseRestartedUnderLoad spreads load over
// two instances, kills one with SIGKILL and restarts it, then stops and
// restarts PostgreSQL: every acknowledged event reaches the SIEM, delivery
// never stops for the database, and the instances say when they fall back.
func TestHAOneInstanceKilledAndTheDatabaseRestartedUnderLoad(t *testing.T) {
	pg := pgtest.Start(t)
	siem := startSIEM(t)
	a := newHACollector(t, "audit-a", siem.Endpoint(), pg.DSN())
	b := newHACollector(t, "audit-b", siem.Endpoint(), pg.DSN())
	a.start()
	b.start()
	schemeA, schemeB := newScheme(t), newScheme(t)
	spec := loadSpec{clients: 2, interval: 20 * time.Millisecond, duration: 30 * time.Second, retry: true}
	loadA, loadB := startLoad(t, a, schemeA, spec), startLoad(t, b, schemeB, spec)

	loadA.waitAcked(t, 300)
	a.kill()
	killedAt := loadA.acked.Len()
	a.start()
	loadA.waitAcked(t, killedAt+300)

	pg.Stop()
	pg.WaitDown()
	downAt := loadB.acked.Len()
	loadB.waitAcked(t, downAt+300) // delivery goes on without the database
	pg.Start()

	loadA.wait(t)
	requireAllAccepted(t, loadB.wait(t)) // the database's outage refused no request
	for _, l := range []struct {
		name   string
		c      *collector
		scheme loadid.Scheme
		acked  *loadid.Set
	}{{"a", a, schemeA, &loadA.acked}, {"b", b, schemeB, &loadB.acked}} {
		waitFor(t, "the SIEM ("+l.name+")", func() *tally { return siemTally(siem, l.scheme) }, l.acked)
		waitFor(t, l.name+"'s archive", func() *tally { return archiveTally(t, l.c.archive, l.scheme) }, l.acked)
		tl := siemTally(siem, l.scheme)
		require.Zero(t, tl.missing(l.acked), "%s: acknowledged events lost at the SIEM; it holds %s", l.name, tl)
		t.Logf("%s: %d acknowledged events delivered to the SIEM; %d duplicates; %d delivered without a 2xx (in flight at the kill)",
			l.name, l.acked.Len(), tl.ids.Duplicates(), tl.unwanted(l.acked))
	}
	a.stop()
	b.stop()
	log := b.log()
	require.Contains(t, log, "The shared dedup table cannot be reached", "b says it fell back")
	require.Contains(t, log, "The shared dedup table answers again", "and that it is back")
	require.Equal(t, 1, strings.Count(log, "The shared dedup table cannot be reached"), "one line per outage, not one per batch")
	requireVerified(t, a.archive)
	requireVerified(t, b.archive)
}
