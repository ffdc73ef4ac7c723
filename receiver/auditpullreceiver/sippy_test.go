package auditpullreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/sippyapitest"
)

// sippyCfg polls url from startAt, with a checkpoint in file_storage/pull
// when storage is true.
func sippyCfg(url string, startAt time.Time, storage bool) *Config {
	cfg := createDefaultConfig().(*Config)
	s := cfg.Sippy.GetOrInsertDefault()
	s.Endpoint = url
	s.Username, s.Password = "admin", "api-secret"
	s.StartAt = startAt
	s.PollInterval = 20 * time.Millisecond
	s.Lag = time.Second
	s.Overlap = 2 * time.Minute
	s.Timeout = 2 * time.Second
	if storage {
		id := storageID
		s.Storage = &id
	}
	cfg.Glassix = configoptional.None[GlassixConfig]()
	fast(cfg)
	return cfg
}

// idCounts counts the records of each i_audit_log in sink.
func idCounts(t *testing.T, sink *consumertest.LogsSink) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, ld := range sink.AllLogs() {
		forEach(ld, func(lr plog.LogRecord) {
			v, ok := lr.Attributes().Get("i_audit_log")
			if !ok {
				t.Errorf("record without i_audit_log: %v", lr.Attributes().AsRaw())
				return
			}
			counts[v.AsString()]++
		})
	}
	return counts
}

func forEach(ld plog.Logs, f func(plog.LogRecord)) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				f(lrs.At(k))
			}
		}
	}
}

// requireExactlyOnce checks ids 1..n were each delivered once.
func requireExactlyOnce(t *testing.T, counts map[string]int, n int) {
	t.Helper()
	var missing, twice []string
	for i := 1; i <= n; i++ {
		switch c := counts[fmt.Sprint(i)]; {
		case c == 0:
			missing = append(missing, fmt.Sprint(i))
		case c > 1:
			twice = append(twice, fmt.Sprintf("%d(x%d)", i, c))
		}
	}
	require.Empty(t, missing, "records never delivered")
	require.Empty(t, twice, "records delivered more than once")
	require.Len(t, counts, n, "records delivered that the switch does not have")
}

func waitRecords(t *testing.T, sink *consumertest.LogsSink, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return sink.LogRecordCount() >= n }, 60*time.Second, 10*time.Millisecond,
		"delivered %d of %d records", sink.LogRecordCount(), n)
}

// TestSippyBackfill reads a long history (2500 records over 7 hours, so
// several one-hour windows of many pages), each record once, mapped as
// the push path maps it, with at most one checkpoint write per page.
func TestSippyBackfill(t *testing.T) {
	t0 := time.Now().Add(-8 * time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 2500, HistoryStart: t0, HistoryStep: 10 * time.Second})
	h, sets := newHost(t, t.TempDir())
	sink := &consumertest.LogsSink{}
	run := start(t, sippyCfg(sim.URL, t0, true), h, sink)
	waitRecords(t, sink, 2500)
	// Let it read up to now-lag: nothing more comes.
	require.Eventually(t, func() bool {
		return run.logs.FilterMessage("Sippy getAuditLogs failed; retrying from the checkpoint").Len() == 0 && sim.Stats(t).Calls > 30
	}, 10*time.Second, 10*time.Millisecond)
	run.stop(t)
	requireExactlyOnce(t, idCounts(t, sink), 2500)
	st := sim.Stats(t)
	assert.LessOrEqual(t, sets.Load(), int64(st.Answered), "at most one checkpoint write per page")
	assert.Positive(t, sets.Load())
	// The checkpoint gauge is within lag (+ a poll) of now.
	assert.InDelta(t, time.Now().Unix(), run.gauge(t, "otelcol_receiver_auditpull_checkpoint"), 5)

	// The record contract, as the webhook path fills it.
	ld := sink.AllLogs()[0]
	rl := ld.ResourceLogs().At(0)
	src, _ := rl.Resource().Attributes().Get(auditrecord.AttrSource)
	assert.Equal(t, auditrecord.SourceSippy, src.Str())
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, t0, lr.Timestamp().AsTime().UTC())
	assert.NotZero(t, lr.ObservedTimestamp())
	assert.Equal(t, "A", lr.EventName())
	assert.Equal(t, "A customers:i_customer=1:name=cust1", lr.Body().Str())
	id, _ := lr.Attributes().Get(auditrecord.AttrEventID)
	assert.Equal(t, "sippy:"+strings.TrimPrefix(strings.TrimSuffix(sim.URL, "/xmlapi/xmlapi"), "http://")+":i_audit_log=1", id.Str())
	by, _ := lr.Attributes().Get("action_by")
	assert.Equal(t, "u:1:3701:admin1", by.Str())
	node, ok := lr.Attributes().Get("node")
	assert.True(t, ok, "a <nil/> member is kept, empty")
	assert.Equal(t, "Empty", node.Type().String())
	_, flagged := lr.Attributes().Get(auditrecord.AttrParseError)
	assert.False(t, flagged)
}

// TestSippyRestartResumes stops the receiver in the middle of a backfill
// and starts a new one on the same storage: it goes on from the
// checkpoint, and the two runs together deliver each record once.
func TestSippyRestartResumes(t *testing.T) {
	t0 := time.Now().Add(-5 * time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 1500, HistoryStart: t0, HistoryStep: 10 * time.Second})
	dir := t.TempDir()
	sink := &consumertest.LogsSink{}
	for round := 0; round < 3; round++ {
		h, _ := newHost(t, dir)
		run := start(t, sippyCfg(sim.URL, t0, true), h, sink)
		if round < 2 {
			want := 400 * (round + 1)
			require.Eventually(t, func() bool { return sink.LogRecordCount() >= want }, 30*time.Second, time.Millisecond)
		} else {
			waitRecords(t, sink, 1500)
			time.Sleep(100 * time.Millisecond)
		}
		run.stop(t)
		if round > 0 {
			assert.Equal(t, 1, run.logs.FilterMessage("Resuming from the checkpoint").Len(), "round %d", round)
		}
	}
	requireExactlyOnce(t, idCounts(t, sink), 1500)
}

// TestSippyLiveAndLateRecords follows a growing log up to now-lag, with
// records inserted into the window while it is being paged (dated at its
// end, as a late writer would), then the growth stops: every record the
// switch holds is delivered, once.
func TestSippyLiveAndLateRecords(t *testing.T) {
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 450, HistoryStart: t0, HistoryStep: time.Second, GrowPerSecond: 7})
	h, _ := newHost(t, t.TempDir())
	sink := &consumertest.LogsSink{}
	cfg := sippyCfg(sim.URL, t0, true)
	run := start(t, cfg, h, sink)
	// While the first window (450 records and the growth, several pages)
	// is read, 25 records dated at its end are written.
	sim.Faults(t, map[string]any{"insert_during_paging": 25})
	waitRecords(t, sink, 450)
	// Let it follow the growing log for a while, then stop the growth: once
	// now-lag has passed the last record, every record is delivered, once.
	time.Sleep(3 * time.Second)
	left := sim.Faults(t, map[string]any{"grow_paused": true})
	assert.EqualValues(t, 0, left["insert_during_paging"], "the late records were written while a window was paged")
	time.Sleep(1100 * time.Millisecond) // a growth tick in progress ends
	total := sim.Stats(t).Records
	assert.GreaterOrEqual(t, total, 450+25+7)
	waitRecords(t, sink, total)
	time.Sleep(300 * time.Millisecond) // anything extra would arrive now
	run.stop(t)
	requireExactlyOnce(t, idCounts(t, sink), total)
	assert.Positive(t, run.metricSum(t, "otelcol_receiver_auditpull_duplicates"), "the overlaps were read again and dropped")
}

// TestSippyFaults injects every kind of failure: each is logged with
// what went wrong (an XML-RPC fault with its code and text), retried
// from the checkpoint, and costs no record and no repeat.
func TestSippyFaults(t *testing.T) {
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 600, HistoryStart: t0, HistoryStep: 15 * time.Second, SlowSeconds: 3})
	h, _ := newHost(t, t.TempDir())
	sink := &consumertest.LogsSink{}
	cfg := sippyCfg(sim.URL, t0, true)
	cfg.Sippy.Get().Timeout = time.Second
	sim.Faults(t, map[string]any{"xmlrpc_fault": 2, "http_500": 2, "malformed": 2, "slow": 1})
	run := start(t, cfg, h, sink)
	waitRecords(t, sink, 600)
	time.Sleep(200 * time.Millisecond)
	run.stop(t)
	requireExactlyOnce(t, idCounts(t, sink), 600)

	failures := run.logs.FilterMessage("Sippy getAuditLogs failed; retrying from the checkpoint").All()
	kinds := map[string]int{}
	for _, e := range failures {
		msg := e.ContextMap()["error"].(string)
		switch {
		case strings.Contains(msg, "fault 403: Access denied: simulated fault"):
			assert.EqualValues(t, 403, e.ContextMap()["fault_code"])
			kinds["fault"]++
		case strings.Contains(msg, "HTTP 500"):
			kinds["500"]++
		case strings.Contains(msg, "not {result, records}") || strings.Contains(msg, "not an XML-RPC"):
			kinds["malformed"]++
		case strings.Contains(msg, "no answer within the timeout"):
			kinds["timeout"]++
		default:
			t.Errorf("unexpected failure: %s", msg)
		}
	}
	assert.Equal(t, map[string]int{"fault": 2, "500": 2, "malformed": 2, "timeout": 1}, kinds)

	// The same in the receiver's telemetry.
	const errs = "otelcol_receiver_auditpull_api_errors"
	kind := func(k string) attribute.KeyValue { return attribute.String("kind", k) }
	assert.EqualValues(t, 2, run.metricSum(t, errs, kind("xmlrpc_fault"), attribute.Int("fault_code", 403)))
	assert.EqualValues(t, 2, run.metricSum(t, errs, kind("http_status"), attribute.Int("http_status", 500)))
	assert.EqualValues(t, 2, run.metricSum(t, errs, kind("malformed")))
	assert.EqualValues(t, 1, run.metricSum(t, errs, kind("transport")))
	assert.Positive(t, run.metricSum(t, "otelcol_receiver_auditpull_pages", attribute.String("source", "sippy")))
	assert.EqualValues(t, 600, run.metricSum(t, "otelcol_receiver_accepted_log_records"))
}

// TestSippySwitchDown: the switch drops every connection for a while; the
// receiver backs off, then resumes where it was.
func TestSippySwitchDown(t *testing.T) {
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 900, HistoryStart: t0, HistoryStep: 10 * time.Second})
	h, _ := newHost(t, t.TempDir())
	sink := &consumertest.LogsSink{}
	run := start(t, sippyCfg(sim.URL, t0, true), h, sink)
	require.Eventually(t, func() bool { return sink.LogRecordCount() >= 300 }, 30*time.Second, time.Millisecond)
	sim.Faults(t, map[string]any{"down": true})
	require.Eventually(t, func() bool {
		return run.logs.FilterMessage("Sippy getAuditLogs failed; retrying from the checkpoint").Len() >= 5
	}, 30*time.Second, 10*time.Millisecond)
	stalled := sink.LogRecordCount()
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, stalled, sink.LogRecordCount(), "nothing is delivered while the switch is down")
	sim.Faults(t, map[string]any{"down": false})
	waitRecords(t, sink, 900)
	time.Sleep(200 * time.Millisecond)
	run.stop(t)
	requireExactlyOnce(t, idCounts(t, sink), 900)
}

// TestSippyWrongPassword: nothing is read, the log says why, and the
// receiver keeps retrying (an operator may fix the switch's side).
func TestSippyWrongPassword(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 10, HistoryStart: t0})
	sink := &consumertest.LogsSink{}
	cfg := sippyCfg(sim.URL, t0, false)
	cfg.Sippy.Get().Password = "wrong"
	run := start(t, cfg, componenttest.NewNopHost(), sink)
	require.Eventually(t, func() bool {
		return run.logs.FilterMessage("Sippy getAuditLogs failed; retrying from the checkpoint").Len() >= 3
	}, 10*time.Second, 10*time.Millisecond)
	run.stop(t)
	e := run.logs.FilterMessage("Sippy getAuditLogs failed; retrying from the checkpoint").All()[0]
	assert.Contains(t, e.ContextMap()["error"], "wrong login or API password")
	assert.Equal(t, "error", e.Level.String())
	assert.Zero(t, sink.LogRecordCount())
}

// TestSippyPipelineRefusal: while the pipeline refuses, the page is
// retried and the checkpoint stays; once accepted, nothing is repeated.
func TestSippyPipelineRefusal(t *testing.T) {
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 350, HistoryStart: t0, HistoryStep: 10 * time.Second})
	h, _ := newHost(t, t.TempDir())
	ref := &refusing{sink: &consumertest.LogsSink{}}
	ref.refuse.Store(5)
	run := start(t, sippyCfg(sim.URL, t0, true), h, ref.consumer(t))
	waitRecords(t, ref.sink, 350)
	time.Sleep(100 * time.Millisecond)
	run.stop(t)
	requireExactlyOnce(t, idCounts(t, ref.sink), 350)
	assert.Equal(t, 5, run.logs.FilterMessage("The pipeline refused records; retrying").Len())
}

// TestSippyFieldRenames reads a switch whose members have other names.
func TestSippyRecordRenames(t *testing.T) {
	p := &sippyPoller{cfg: &SippyConfig{Fields: SippyFields{Resource: "res", Action: "act", ActionBy: "by", Date: "when", UserIP: "ip", ID: "rid"}}}
	key, raw := p.record(map[string]any{"res": "accounts:i_account=1", "act": "U", "by": "u:1:2:x", "when": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "ip": "192.0.2.1", "rid": int64(7), "extra": nil})
	assert.Equal(t, "id:7", key)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	assert.Equal(t, map[string]any{"resource": "accounts:i_account=1", "action": "U", "action_by": "u:1:2:x", "date": "2026-01-02T03:04:05Z", "user_ip": "192.0.2.1", "rid": float64(7), "extra": nil}, m)
	// Without an id, the content identifies the record, whatever the order.
	k1, _ := p.record(map[string]any{"act": "U", "when": "x"})
	k2, _ := p.record(map[string]any{"when": "x", "act": "U"})
	assert.Equal(t, k1, k2)
	assert.True(t, strings.HasPrefix(k1, "h:"))
}

// TestSippyUnreadableCheckpoint refuses to start rather than guess.
func TestSippyUnreadableCheckpoint(t *testing.T) {
	h, _ := newHost(t, t.TempDir())
	se := h.ext[storageID].(countingStorage)
	cfg := sippyCfg("http://127.0.0.1:1/xmlapi/xmlapi", time.Now(), true)
	rcv, err := NewFactory().CreateLogs(context.Background(), settings(), cfg, consumertest.NewNop())
	require.NoError(t, err)
	c, err := se.GetClient(context.Background(), component.KindReceiver, settings().ID, "sippy")
	require.NoError(t, err)
	require.NoError(t, c.Set(context.Background(), checkpointKey, []byte("{not json")))
	require.NoError(t, c.Close(context.Background()))
	err = rcv.Start(context.Background(), h)
	require.ErrorContains(t, err, "the checkpoint is unreadable")
	require.NoError(t, rcv.Shutdown(context.Background()))
}

// TestSippyHostileRecords: an element of records that is not a struct and
// a record with an unreadable date travel on flagged with
// audit.parse_error; the records around them are unaffected, and the page
// is not retried for ever.
func TestSippyHostileRecords(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 150, HistoryStart: t0, HistoryStep: time.Second})
	bad := sim.AddHostile(t, t0.Add(75*time.Second))
	sim.Add(t, 50, t0.Add(80*time.Second), time.Second)
	sink := &consumertest.LogsSink{}
	run := start(t, sippyCfg(sim.URL, t0, false), componenttest.NewNopHost(), sink)
	waitRecords(t, sink, 202)
	time.Sleep(200 * time.Millisecond)
	run.stop(t)
	require.Equal(t, 202, sink.LogRecordCount())
	var flagged []string
	for _, ld := range sink.AllLogs() {
		forEach(ld, func(lr plog.LogRecord) {
			if v, ok := lr.Attributes().Get(auditrecord.AttrParseError); ok {
				flagged = append(flagged, lr.Body().Str()+" | "+v.Str())
			}
		})
	}
	require.Len(t, flagged, 2, "%v", flagged)
	assert.Contains(t, flagged[0], `"garbage that is not a struct"`)
	assert.Contains(t, flagged[1], `date: cannot read "yesterday"`)
	counts := map[string]int{}
	for _, ld := range sink.AllLogs() {
		forEach(ld, func(lr plog.LogRecord) {
			if v, ok := lr.Attributes().Get("i_audit_log"); ok {
				counts[v.AsString()]++
			}
		})
	}
	requireExactlyOnce(t, counts, 201)
	assert.Equal(t, 151, bad, "the record with the unreadable date")
}

// TestSippyTLSWithTheSwitchCA: a switch with its own CA is read with
// tls::ca_file; without it the certificate is refused, and the log says
// so.
func TestSippyTLSWithTheSwitchCA(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestCA(t, dir)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 120, HistoryStart: t0, TLSCert: cert, TLSKey: key})
	require.True(t, strings.HasPrefix(sim.URL, "https://"))

	sink := &consumertest.LogsSink{}
	cfg := sippyCfg(sim.URL, t0, false)
	cfg.Sippy.Get().TLS.CAFile = ca
	run := start(t, cfg, componenttest.NewNopHost(), sink)
	waitRecords(t, sink, 120)
	run.stop(t)
	requireExactlyOnce(t, idCounts(t, sink), 120)

	sink = &consumertest.LogsSink{}
	run = start(t, sippyCfg(sim.URL, t0, false), componenttest.NewNopHost(), sink)
	require.Eventually(t, func() bool {
		return run.logs.FilterMessage("Sippy getAuditLogs failed; retrying from the checkpoint").Len() >= 2
	}, 10*time.Second, 10*time.Millisecond)
	run.stop(t)
	assert.Contains(t, run.logs.FilterMessage("Sippy getAuditLogs failed; retrying from the checkpoint").All()[0].ContextMap()["error"], "certificate")
	assert.Zero(t, sink.LogRecordCount())
}

// TestSippySameRecordTwiceInAPage: a switch that repeats a record within
// one answer delivers it once.
func TestSippySameRecordTwiceInAPage(t *testing.T) {
	rec := `<value><struct><member><name>i_audit_log</name><value><int>1</int></value></member>` +
		`<member><name>action</name><value><string>U</string></value></member>` +
		`<member><name>resource</name><value><string>accounts:i_account=1:balance=2</string></value></member>` +
		`<member><name>date</name><value><string>00:00:01.000 GMT Thu Jan 01 2026</string></value></member></struct></value>`
	body := `<?xml version="1.0"?><methodResponse><params><param><value><struct>` +
		`<member><name>result</name><value><string>OK</string></value></member>` +
		`<member><name>records</name><value><array><data>` + rec + rec + `</data></array></value></member>` +
		`</struct></value></param></params></methodResponse>`
	empty := strings.Replace(body, rec+rec, "", 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var calls atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// The first window's only page holds the record twice; the
		// switch holds nothing else.
		if calls.Add(1) == 1 {
			_, _ = w.Write([]byte(body))
			return
		}
		_, _ = w.Write([]byte(empty))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := sippyCfg("http://"+ln.Addr().String()+"/xmlapi/xmlapi", t0, false)
	cfg.Sippy.Get().Username, cfg.Sippy.Get().Password = "", ""
	cfg.Sippy.Get().Window = 24 * time.Hour
	sink := &consumertest.LogsSink{}
	run := start(t, cfg, componenttest.NewNopHost(), sink)
	require.Eventually(t, func() bool { return run.metricSum(t, "otelcol_receiver_auditpull_pages") >= 3 }, 10*time.Second, time.Millisecond)
	run.stop(t)
	assert.Equal(t, 1, sink.LogRecordCount())
}
