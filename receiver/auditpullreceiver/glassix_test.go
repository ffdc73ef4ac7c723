package auditpullreceiver

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/glassixapitest"
)

func glassixSim(t *testing.T, o glassixapitest.Options) *glassixapitest.Server {
	o.APIKey, o.APISecret, o.UserName = "key", "secret", "api@example.com"
	sim, err := glassixapitest.Start(o)
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	return sim
}

func glassixCfg(url string) *Config {
	cfg := createDefaultConfig().(*Config)
	g := cfg.Glassix.GetOrInsertDefault()
	g.Endpoint = url
	g.APIKey, g.APISecret, g.UserName = "key", "secret", "api@example.com"
	g.PollInterval = 20 * time.Millisecond
	g.Timeout = 2 * time.Second
	cfg.Sippy = configoptional.None[SippyConfig]()
	fast(cfg)
	return cfg
}

// logIDs counts the records of each Glassix log id.
func logIDs(sink *consumertest.LogsSink) map[string]int {
	counts := map[string]int{}
	for _, ld := range sink.AllLogs() {
		forEach(ld, func(lr plog.LogRecord) {
			v, _ := lr.Attributes().Get("id")
			counts[v.AsString()]++
		})
	}
	return counts
}

func addEvents(sim *glassixapitest.Server, from, n int) {
	for i := from; i < from+n; i++ {
		sim.Add(glassixapitest.Envelope(fmt.Sprintf("log-%04d", i), time.Now()))
	}
}

func requireEachOnce(t *testing.T, counts map[string]int, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		require.Equal(t, 1, counts[fmt.Sprintf("log-%04d", i)], "log-%04d", i)
	}
	require.Len(t, counts, n)
}

// TestGlassixPull drains the queue: each event's records once, each event
// deleted once, and the records built as the webhook path builds them.
func TestGlassixPull(t *testing.T) {
	sim := glassixSim(t, glassixapitest.Options{Batch: 10})
	addEvents(sim, 0, 95)
	sink := &consumertest.LogsSink{}
	run := start(t, glassixCfg(sim.URL), componenttest.NewNopHost(), sink)
	waitRecords(t, sink, 95)
	require.Eventually(t, func() bool { return sim.Stats().Remaining == 0 }, 10*time.Second, 10*time.Millisecond)
	run.stop(t)
	requireEachOnce(t, logIDs(sink), 95)
	st := sim.Stats()
	assert.Equal(t, 95, st.Deleted)
	assert.Empty(t, sim.DeletedTwice())
	assert.Equal(t, 1, st.TokensIssued)

	lr := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	src, _ := sink.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().Get(auditrecord.AttrSource)
	assert.Equal(t, auditrecord.SourceGlassix, src.Str())
	assert.Equal(t, "UserRemoved", lr.EventName())
	assert.Equal(t, "admin@example.com removed agent log-0000", lr.Body().Str())
	assert.NotZero(t, lr.Timestamp())
	key, _ := lr.Attributes().Get("glassix.key")
	assert.Equal(t, "9200c94a-13d7-4397-a52c-1728fc6bb670", key.Str())
	_, queueField := lr.Attributes().Get("queueReceiptHandle")
	assert.False(t, queueField, "the queue's handles are not audit data")
}

// TestGlassixDeleteOnlyAfterAccept: while the pipeline refuses, nothing is
// deleted; once it accepts, all is.
func TestGlassixDeleteOnlyAfterAccept(t *testing.T) {
	sim := glassixSim(t, glassixapitest.Options{Batch: 10})
	addEvents(sim, 0, 10)
	ref := &refusing{sink: &consumertest.LogsSink{}}
	ref.refuse.Store(1 << 30)
	run := start(t, glassixCfg(sim.URL), componenttest.NewNopHost(), ref.consumer(t))
	require.Eventually(t, func() bool { return ref.calls.Load() >= 5 }, 10*time.Second, time.Millisecond)
	assert.Zero(t, sim.Stats().Deleted, "nothing is deleted while the pipeline refuses")
	ref.refuse.Store(0)
	waitRecords(t, ref.sink, 10)
	require.Eventually(t, func() bool { return sim.Stats().Deleted == 10 }, 10*time.Second, time.Millisecond)
	run.stop(t)
	requireEachOnce(t, logIDs(ref.sink), 10)
}

// TestGlassixFaults: 429 with Retry-After, 5xx, a failed delete (the
// events come back after the visibility timeout and are deleted, not
// delivered again), an expired token, the API down for a while.
func TestGlassixFaults(t *testing.T) {
	sim := glassixSim(t, glassixapitest.Options{Batch: 10, Visibility: 300 * time.Millisecond, TokenLife: time.Hour})
	sink := &consumertest.LogsSink{}
	sim.Throttle(2)
	addEvents(sim, 0, 20)
	run := start(t, glassixCfg(sim.URL), componenttest.NewNopHost(), sink)
	waitRecords(t, sink, 20)

	sim.FailDeletes(1)
	addEvents(sim, 20, 10)
	waitRecords(t, sink, 30)
	require.Eventually(t, func() bool { return sim.Stats().Remaining == 0 }, 10*time.Second, 10*time.Millisecond)

	sim.ExpireTokens()
	sim.Fail(3)
	addEvents(sim, 30, 10)
	waitRecords(t, sink, 40)

	sim.Down(true)
	require.Eventually(t, func() bool { return run.logs.FilterMessage("Glassix API call failed; retrying").Len() >= 12 }, 10*time.Second, 10*time.Millisecond)
	addEvents(sim, 40, 10)
	sim.Down(false)
	waitRecords(t, sink, 50)
	require.Eventually(t, func() bool { return sim.Stats().Remaining == 0 }, 10*time.Second, 10*time.Millisecond)
	run.stop(t)

	requireEachOnce(t, logIDs(sink), 50)
	st := sim.Stats()
	assert.Equal(t, 50, st.Deleted)
	assert.Empty(t, sim.DeletedTwice())
	assert.Equal(t, 2, st.Throttled)
	assert.GreaterOrEqual(t, st.Handed, 60, "the events whose delete failed were handed out again")
	assert.Equal(t, 2, st.TokensIssued, "a new token after the old one was refused")
	throttled := 0
	for _, e := range run.logs.FilterMessage("Glassix API call failed; retrying").All() {
		if e.ContextMap()["http_status"] == int64(429) {
			throttled++
			assert.GreaterOrEqual(t, e.ContextMap()["retry_in"], time.Second, "Retry-After is honoured")
		}
	}
	assert.Equal(t, 2, throttled)
	const errs = "otelcol_receiver_auditpull_api_errors"
	assert.EqualValues(t, 2, run.metricSum(t, errs, attribute.String("kind", "http_status"), attribute.Int("http_status", 429)))
	assert.Positive(t, run.metricSum(t, errs, attribute.String("operation", "deleteevents")), "the failed delete")
	assert.Positive(t, run.metricSum(t, "otelcol_receiver_auditpull_duplicates", attribute.String("source", "glassix")),
		"events handed out again after the failed delete were not delivered twice")
}

// TestGlassixWrongCredentials says which settings to check.
func TestGlassixWrongCredentials(t *testing.T) {
	sim := glassixSim(t, glassixapitest.Options{})
	addEvents(sim, 0, 3)
	cfg := glassixCfg(sim.URL)
	cfg.Glassix.Get().APISecret = "wrong"
	sink := &consumertest.LogsSink{}
	run := start(t, cfg, componenttest.NewNopHost(), sink)
	require.Eventually(t, func() bool { return run.logs.FilterMessage("Glassix API call failed; retrying").Len() >= 2 }, 10*time.Second, 10*time.Millisecond)
	run.stop(t)
	e := run.logs.FilterMessage("Glassix API call failed; retrying").All()[0]
	assert.Contains(t, e.ContextMap()["error"], "check api_key, api_secret and user_name")
	assert.Zero(t, sink.LogRecordCount())
	assert.Equal(t, 3, sim.Stats().Remaining)
}
