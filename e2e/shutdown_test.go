//go:build e2e

package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// lossClaims are what a log line says when it claims records were lost.
var lossClaims = []string{"Dropping data", "dropped_items", "data loss", "lost"}

// claimsOfLoss returns the lines of log that claim a loss.
func claimsOfLoss(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		for _, claim := range lossClaims {
			if strings.Contains(line, claim) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// TestStopWhileSIEMDownClaimsNoLoss: the collector is stopped (SIGTERM)
// while the SIEM is down and the exporter is waiting to retry. The records
// stay in the auditlog processor's journal, so no log line may claim they were
// dropped; started again with the SIEM up, it delivers every one, once.
func TestStopWhileSIEMDownClaimsNoLoss(t *testing.T) {
	siem := startSIEM(t)
	siem.Stop() // its port stays reserved for it in the config
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint()})
	c.start()
	scheme := newScheme(t)
	var acked loadid.Set
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	postEvents(t, client, c, loadgen.NewPayloads(scheme, 1), 20, &acked)
	waitFor(t, "the archive while the SIEM is down", func() *tally { return archiveTally(t, c.archive, scheme) }, &acked)
	require.Eventually(t, func() bool { return strings.Contains(c.log(), "Will retry") }, time.Minute, 50*time.Millisecond,
		"the rfc5424 exporter tried the SIEM and waits to retry")

	c.stop()
	stopped := c.log()
	assert.Empty(t, claimsOfLoss(stopped), "a loss claimed on shutdown, though the records are kept in the journal")
	assert.Contains(t, stopped, "the audit events are kept in the auditlog processor's journal", "the shutdown says where the records are")

	siem.Start()
	c.start() // the same config, ports, queues and archive
	waitDelivered(t, siem, c.archive, scheme, &acked)
	c.stop()
	requireExactlyOnce(t, "the SIEM", siemTally(siem, scheme), &acked)
	requireExactlyOnce(t, "the archive", archiveTally(t, c.archive, scheme), &acked)
	assert.Empty(t, claimsOfLoss(c.log()))
}
