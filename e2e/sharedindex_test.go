//go:build e2e

package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
)

// newIndexedCollector is the shipped collector whose viewer keeps its
// index in the PostgreSQL at dsn, shared with other collectors, under
// name.
func newIndexedCollector(t testing.TB, name, siem, dsn string) *collector {
	t.Helper()
	return newCollector(t, collectorOptions{SIEM: siem, Extra: fmt.Sprintf(`
extensions:
  auditviewer:
    index:
      postgres:
        dsn: %q
        collector_name: %s
        refresh_interval: 200ms
`, dsn, name)})
}

// sharedPage is what the viewer's /api/events answers, as far as this
// test reads it.
type sharedPage struct {
	Rows []struct {
		Source    string `json:"source"`
		Collector string `json:"collector"`
		Archive   string `json:"archive"`
		Integrity string `json:"integrity"`
	} `json:"rows"`
	Total     int  `json:"total"`
	TotalMore bool `json:"total_more"`
}

func viewerPage(t testing.TB, c *collector, query string) (sharedPage, int) {
	t.Helper()
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "http://"+c.viewer+"/api/events?"+query, nil)
	require.NoError(t, err)
	req.SetBasicAuth("auditor", viewerPassword)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var p sharedPage
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(body, &p), string(body))
	}
	return p, resp.StatusCode
}

// TestSharedIndexViewerOnEitherInstance: two instances of the built binary,
// each archiving what it receives and indexing its archive into one
// PostgreSQL; the viewer on either finds the events posted to the other,
// each row naming the instance and the archive that holds it.
func TestSharedIndexViewerOnEitherInstance(t *testing.T) {
	pg := pgtest.Start(t)
	siem := startSIEM(t)
	a := newIndexedCollector(t, "audit-a", siem.Endpoint(), pg.DSN())
	b := newIndexedCollector(t, "audit-b", siem.Endpoint(), pg.DSN())
	a.start()
	b.start()
	payloads := loadgen.NewPayloads(newScheme(t), 1)
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	sent := map[*collector]int{a: 12, b: 7}
	for c, n := range sent {
		for range n {
			body, _ := payloads.Build(nil, time.Now())
			r := post(t, client, c.url("/glassix"), body)
			require.Equal(t, http.StatusOK, r.status, r.body)
		}
	}
	for _, viewer := range []*collector{a, b} {
		var p sharedPage
		require.Eventually(t, func() bool {
			var status int
			p, status = viewerPage(t, viewer, "source=glassix&limit=100")
			return status == http.StatusOK && p.Total == 19
		}, 2*time.Minute, 200*time.Millisecond, "the viewer on %s sees both instances' events", viewer.viewer)
		per := map[string]int{}
		for _, r := range p.Rows {
			per[r.Collector]++
			assert.Equal(t, "ok", r.Integrity)
			switch r.Collector {
			case "audit-a":
				assert.Equal(t, a.archive, r.Archive)
			case "audit-b":
				assert.Equal(t, b.archive, r.Archive)
			}
		}
		assert.Equal(t, map[string]int{"audit-a": 12, "audit-b": 7}, per)
	}
	// auditctl reads the same from the database alone.
	out, code := auditctl(t, "query", "--db", pg.DSN(), "--source", "glassix", "--limit", "0", "--format", "csv")
	require.Equal(t, 0, code, out)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err, out)
	assert.Len(t, recs, 19+1, "a header and every event")
	a.stop()
	b.stop()
	requireVerified(t, a.archive)
	requireVerified(t, b.archive)
}
