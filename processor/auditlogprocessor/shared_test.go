package auditlogprocessor

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
)

func sharedConfig(dsn string) *Config {
	cfg := defaultConfig()
	sh := cfg.Dedup.Shared.GetOrInsertDefault()
	sh.DSN = dsn
	sh.Timeout = 2 * time.Second
	sh.RetryAfter = 100 * time.Millisecond
	return cfg
}

func (h *harness) fallbacks(op string) int64 {
	h.t.Helper()
	m, err := h.tel.GetMetric("otelcol_processor_auditlog_shared_dedup_fallbacks")
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value("operation"); ok && v.AsString() == op {
			n += dp.Value
		}
	}
	return n
}

// Two processors on one PostgreSQL stand for two collectors behind a load
// balancer: Glassix's retry of an event one delivered is dropped by the
// other.
func TestSharedDedupAcrossCollectors(t *testing.T) {
	pg := pgtest.Start(t)
	a := start(t, sharedConfig(pg.DSN()), nil, nil)
	b := start(t, sharedConfig(pg.DSN()), nil, nil)

	require.NoError(t, a.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	other := roleRemoved()
	other.json = strings.Replace(other.json, "ad681bbc-9608-4a2a-a283-717011f35c35", "22222222-9608-4a2a-a283-717011f35c35", 1)
	require.NoError(t, b.consume(logsOf(vendorResource(t, "glassix", roleRemoved(), other))))

	require.Len(t, a.records(), 1)
	recs := b.records()
	require.Len(t, recs, 1, "the retry that reached the other collector is dropped there")
	assert.Equal(t, "22222222-9608-4a2a-a283-717011f35c35", recs[0].attr("audit.event_id"))
	assert.Equal(t, int64(1), b.counter(metricDuplicates, "glassix"))

	// A batch of only a retry is not passed on at all.
	require.NoError(t, b.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	assert.Len(t, b.sink.AllLogs(), 1)
	assert.Zero(t, b.fallbacks("check")+b.fallbacks("record"))
}

// With the database down, delivery goes on against the local window and
// the telemetry says so; once the database is back, deduplication across
// collectors resumes.
func TestSharedDedupFallsBackWhileTheDatabaseIsDown(t *testing.T) {
	pg := pgtest.Start(t)
	a := start(t, sharedConfig(pg.DSN()), nil, nil)
	b := start(t, sharedConfig(pg.DSN()), nil, nil)
	event := func(id string) vendorEvent {
		ev := roleRemoved()
		ev.json = strings.Replace(ev.json, "ad681bbc-9608-4a2a-a283-717011f35c35", id, 1)
		return ev
	}
	require.NoError(t, a.consume(logsOf(vendorResource(t, "glassix", event("before")))))

	pg.Stop()
	pg.WaitDown()
	require.NoError(t, a.consume(logsOf(vendorResource(t, "glassix", event("during")))), "delivery never stops for the database")
	require.NoError(t, b.consume(logsOf(vendorResource(t, "glassix", event("during")))))
	require.NoError(t, a.consume(logsOf(vendorResource(t, "glassix", event("during")))))
	assert.Len(t, a.records(), 2, "the local window still drops a's own repeat")
	assert.Len(t, b.records(), 1, "b cannot know a delivered it: passed, not lost")
	assert.Positive(t, b.fallbacks("check"))
	assert.Positive(t, a.fallbacks("check")+a.fallbacks("record"))

	pg.Start()
	probe := 0
	require.Eventually(t, func() bool {
		probe++
		failed := a.fallbacks("check") + a.fallbacks("record")
		require.NoError(t, a.consume(logsOf(vendorResource(t, "glassix", event("probe-"+strconv.Itoa(probe))))))
		return a.fallbacks("check")+a.fallbacks("record") == failed
	}, 30*time.Second, 200*time.Millisecond, "the database answers a again")
	require.NoError(t, a.consume(logsOf(vendorResource(t, "glassix", event("after")))))
	delivered := len(b.records())
	require.NoError(t, b.consume(logsOf(vendorResource(t, "glassix", event("after")))))
	assert.Len(t, b.records(), delivered, "after the outage, b drops what a delivered")
}

// With a durable.Ticket in the call's context (the webhook receiver's),
// the call does not wait for its keys' statement: the ticket does, before
// the webhook is answered, so once it is answered the other collector
// drops the retry. A statement that fails does not fail the answer.
func TestSharedRecordWaitsInTheTicket(t *testing.T) {
	pg := pgtest.Start(t)
	a := start(t, sharedConfig(pg.DSN()), nil, nil)
	b := start(t, sharedConfig(pg.DSN()), nil, nil)

	ctx, ticket := durable.WithTicket(context.Background())
	require.NoError(t, a.proc.ConsumeLogs(ctx, logsOf(vendorResource(t, "glassix", roleRemoved()))))
	require.Equal(t, 1, ticket.Pending(), "the keys' statement is left to the ticket")
	require.NoError(t, ticket.Wait())
	require.NoError(t, b.consume(logsOf(vendorResource(t, "glassix", roleRemoved()))))
	assert.Empty(t, b.records(), "answered means recorded: the retry at the other collector is dropped")

	pg.Stop()
	pg.WaitDown()
	other := roleRemoved()
	other.json = strings.Replace(other.json, "ad681bbc-9608-4a2a-a283-717011f35c35", "33333333-9608-4a2a-a283-717011f35c35", 1)
	ctx, ticket = durable.WithTicket(context.Background())
	require.NoError(t, a.proc.ConsumeLogs(ctx, logsOf(vendorResource(t, "glassix", other))))
	assert.NoError(t, ticket.Wait(), "the database being down never fails an answer")
	assert.Positive(t, a.fallbacks("check")+a.fallbacks("record"))
}
