package rfc5424exporter

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap/zaptest"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/transport/relptest"
)

// startWithTelemetry starts an exporter whose own metrics tel collects.
func startWithTelemetry(t *testing.T, cfg *Config) (exporter.Logs, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zaptest.NewLogger(t)
	set.ID = component.NewID(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.TelemetrySettings.Logger = set.Logger
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	return exp, tel
}

func counter(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0 // never recorded
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		total += dp.Value
	}
	return total
}

func relpConfig(addr string) *Config {
	cfg := syncConfig(addr)
	cfg.Transport = TransportRELP
	return cfg
}

func TestRELPLifecycle(t *testing.T) {
	// Nothing listens: the collector must still start, twice, and a
	// session opened and closed politely must leave nothing behind.
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint, cfg.Transport = "127.0.0.1:1", TransportRELP
	for i := 0; i < 2; i++ {
		exp := createExporter(t, cfg)
		require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, exp.ConsumeLogs(context.Background(), newLogs("glassix", "Queued")), "the queue accepts while the SIEM is down")
		require.NoError(t, exp.Shutdown(context.Background()))
	}
	srv := relptest.Start(t, relptest.Options{})
	exp := createExporter(t, relpConfig(srv.Addr()))
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeLogs(context.Background(), newLogs("glassix", "Sent")))
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, 1, srv.Closes(), "shutdown sends close")

	// RELP over TLS with a CA file that does not exist fails at start.
	bad := relpConfig(srv.Addr())
	bad.RELP.TLS = true
	bad.TLS.CAFile = "/nonexistent/ca.pem"
	exp = createExporter(t, bad)
	err := exp.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, "tls: ")
	require.NoError(t, exp.Shutdown(context.Background()))
}

func TestRELPRecordsReachTheServerValid(t *testing.T) {
	srv := relptest.Start(t, relptest.Options{})
	exp := startExporter(t, relpConfig(srv.Addr()))
	require.NoError(t, exp.ConsumeLogs(context.Background(), auditLogs()))
	got := srv.Messages()
	require.Len(t, got, 2, "ConsumeLogs returns once the server answered every message")
	p := rfc5424.NewParser(rfc5424.WithCompliantMsg())
	for _, m := range got {
		_, err := p.Parse(m)
		require.NoError(t, err, "%s", m)
	}
	assert.Contains(t, string(got[1]), "line one\nline two é", "no newline escaping: RELP frames by length")
}

func TestRELPBatchHandsBackOnlyUnansweredRecords(t *testing.T) {
	// The server refuses message 2 and drops the session after keeping
	// message 6 without answering it.
	srv := relptest.Start(t, relptest.Options{Decide: func(n int, _ []byte) relptest.Action {
		switch n {
		case 2:
			return relptest.Refuse
		case 6:
			return relptest.CrashAfter
		}
		return relptest.Accept
	}})
	cfg := relpConfig(srv.Addr())
	cfg.RELP.WindowSize = 4
	exp, tel := startWithTelemetry(t, cfg)
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	ld := newLogs("glassix", "e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9")
	err := exp.ConsumeLogs(context.Background(), ld)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "a broken session is worth retrying")
	assert.ErrorContains(t, err, "session broken")
	var logsErr consumererror.Logs
	require.ErrorAs(t, err, &logsErr)
	back := eventNames(logsErr.Data())
	// 0, 1, 3, 4, 5 were answered 200 (the window is 4, so 0-3 were
	// answered before 6 was sent); 2 was refused; 6 and what followed in
	// the window have no answer.
	assert.Subset(t, back, []string{"e2", "e6"})
	assert.NotContains(t, back, "e0")
	assert.NotContains(t, back, "e1")
	assert.NotContains(t, back, "e3")
	unconfirmed := counter(t, tel, "otelcol_exporter_rfc5424_relp_unconfirmed")
	assert.Equal(t, int64(len(back)-1), unconfirmed, "every record handed back but the refused one was unconfirmed")
	assert.Equal(t, int64(1), counter(t, tel, "otelcol_exporter_rfc5424_relp_refused"))

	// The retry (here by hand) delivers the rest on a new session.
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsErr.Data()))
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		seen[regexp.MustCompile(` (e\d) \[`).FindStringSubmatch(string(m))[1]]++
	}
	for i := 0; i < 10; i++ {
		assert.GreaterOrEqual(t, seen["e"+string(rune('0'+i))], 1)
	}
	assert.Equal(t, 2, seen["e6"], "the message kept without an answer arrives twice")
	assert.Equal(t, 2, srv.Sessions())
}

func TestRELPRefusalIsAClearRetryableError(t *testing.T) {
	srv := relptest.Start(t, relptest.Options{OpenAnswer: "500 relp disabled for this peer"})
	exp := startExporter(t, relpConfig(srv.Addr()))
	err := exp.ConsumeLogs(context.Background(), newLogs("sippy", "a"))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.ErrorContains(t, err, `the server refused the session: "500 relp disabled for this peer"`)
}

func eventNames(ld plog.Logs) []string {
	var out []string
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				out = append(out, lrs.At(k).EventName())
			}
		}
	}
	return out
}

var seqRE = regexp.MustCompile(`seq="(\d+)"`)

func TestRELPQueueAndRetryLoseNothingAcrossBrokenSessions(t *testing.T) {
	// Sessions break three times in the middle of the stream, once with
	// a message kept but not answered.
	srv := relptest.Start(t, relptest.Options{Decide: func(n int, _ []byte) relptest.Action {
		switch n {
		case 150:
			return relptest.CrashAfter
		case 400:
			return relptest.ServerClose
		case 700:
			return relptest.CrashBefore
		}
		return relptest.Accept
	}})
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint, cfg.Transport, cfg.Hostname = srv.Addr(), TransportRELP, "collector-1"
	cfg.RetryConfig = retryForever()
	cfg.RELP.WindowSize = 32
	exp, tel := startWithTelemetry(t, cfg)

	const n = 1000
	for i := 0; i < n; i++ {
		require.NoError(t, exp.ConsumeLogs(context.Background(), numbered(i)))
	}
	deadline := time.Now().Add(30 * time.Second)
	seen := map[string]int{}
	for len(seen) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		clear(seen)
		for _, m := range srv.Messages() {
			seen[seqRE.FindStringSubmatch(string(m))[1]]++
		}
	}
	require.NoError(t, exp.Shutdown(context.Background()))
	require.Len(t, seen, n, "every record delivered")
	dups := len(srv.Messages()) - n
	unconfirmed := counter(t, tel, "otelcol_exporter_rfc5424_relp_unconfirmed")
	assert.Positive(t, dups, "the message kept without an answer was sent again")
	assert.LessOrEqual(t, int64(dups), unconfirmed, "the counter bounds the duplicates")
	assert.Equal(t, 4, srv.Sessions())
}
