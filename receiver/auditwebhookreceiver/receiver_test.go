package auditwebhookreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/glassix"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/vendortest"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"
)

const testSecret = "glassix-api-secret"

// testServer is a started receiver on a real socket.
type testServer struct {
	addr string
	rcv  *auditReceiver
	tel  *componenttest.Telemetry
	logs *observer.ObservedLogs
}

// testConfig serves all three vendors on an ephemeral port.
func testConfig(mutate func(*Config)) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Glassix.GetOrInsertDefault()
	cfg.CTReplay.GetOrInsertDefault()
	cfg.Sippy.GetOrInsertDefault()
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
}

func startReceiver(t testing.TB, mutate func(*Config), next consumer.Logs) *testServer {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	rcv, err := newReceiver(testConfig(mutate), set, next)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
	return &testServer{addr: rcv.addr.String(), rcv: rcv, tel: tel, logs: logs}
}

// reply is what a test sees of an HTTP answer.
type reply struct {
	status int
	header http.Header
	body   response
	raw    string
}

// client keeps no idle connections, so goleak sees none after a test.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}

func (s *testServer) do(t testing.TB, method, path string, body io.Reader, header http.Header) reply {
	t.Helper()
	r, err := s.send(method, path, body, header)
	require.NoError(t, err)
	return r
}

// send is do for goroutines the test spawns: it returns its error, since a
// require there would end that goroutine and leave the test waiting.
func (s *testServer) send(method, path string, body io.Reader, header http.Header) (reply, error) {
	req, err := http.NewRequest(method, "http://"+s.addr+path, body)
	if err != nil {
		return reply{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("response body %s: %w", raw, err)
		}
	}
	return r, nil
}

// postInBackground posts body from a goroutine of its own and delivers the
// reply, or the error, on the channel it returns.
func (s *testServer) postInBackground(path string, body []byte, kv ...string) <-chan replyOrError {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	out := make(chan replyOrError, 1)
	go func() {
		r, err := s.send(http.MethodPost, path, bytes.NewReader(body), h)
		out <- replyOrError{r, err}
	}()
	return out
}

type replyOrError struct {
	reply
	err error
}

func (s *testServer) post(t testing.TB, path string, body []byte, kv ...string) reply {
	t.Helper()
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return s.do(t, http.MethodPost, path, bytes.NewReader(body), h)
}

// metricSum adds up a counter's data points whose attributes include attrs.
func (s *testServer) metricSum(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := s.tel.GetMetric(name)
	if err != nil {
		return 0 // never recorded
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	var total int64
	for _, dp := range sum.DataPoints {
		match := true
		for _, kv := range attrs {
			if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
				match = false
			}
		}
		if match {
			total += dp.Value
		}
	}
	return total
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func attr(t *testing.T, m pcommon.Map, key string) string {
	t.Helper()
	v, ok := m.Get(key)
	require.True(t, ok, "attribute %q missing", key)
	return v.AsString()
}

// records flattens what the sink received, checking the resource and
// scope of each request's logs.
func records(t *testing.T, sink *consumertest.LogsSink, source string) []plog.LogRecord {
	t.Helper()
	var out []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		require.Equal(t, 1, ld.ResourceLogs().Len(), "one ResourceLogs per request")
		rl := ld.ResourceLogs().At(0)
		assert.Equal(t, source, attr(t, rl.Resource().Attributes(), auditrecord.AttrSource))
		assert.Equal(t, source, attr(t, rl.Resource().Attributes(), auditrecord.AttrServiceName))
		require.Equal(t, 1, rl.ScopeLogs().Len())
		assert.Equal(t, metadata.ScopeName, rl.ScopeLogs().At(0).Scope().Name())
		lrs := rl.ScopeLogs().At(0).LogRecords()
		for i := 0; i < lrs.Len(); i++ {
			out = append(out, lrs.At(i))
		}
	}
	return out
}

func TestGlassixSeedSamples(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	before := time.Now()
	for _, tt := range []struct {
		file, eventName, logType, body string
		timestamp                      time.Time
	}{
		{"glassix_informative.json", "ChatbotMappingsChange", "Informative", "admin@example.com changed chatbot mappings", time.Date(2024, 1, 7, 12, 23, 16, 796522900, time.UTC)},
		{"glassix_security.json", "UserRemoved", "Security", "john@example.com removed by admin@example.com", time.Date(2024, 1, 11, 9, 18, 32, 745235800, time.UTC)},
	} {
		t.Run(tt.file, func(t *testing.T) {
			sink.Reset()
			r := s.post(t, "/glassix", testdata(t, tt.file), "Content-Type", "application/json")
			require.Equal(t, http.StatusOK, r.status, r.raw)
			assert.Equal(t, response{Accepted: 1, Parsed: 1}, r.body)
			recs := records(t, sink, auditrecord.SourceGlassix)
			require.Len(t, recs, 1)
			lr := recs[0]
			assert.Equal(t, tt.timestamp, lr.Timestamp().AsTime(), "7 fractional digits kept")
			assert.False(t, lr.ObservedTimestamp().AsTime().Before(before), "observed = receipt time")
			assert.Equal(t, tt.eventName, lr.EventName())
			assert.Equal(t, tt.logType, attr(t, lr.Attributes(), "logType"))
			assert.Equal(t, "9200c94a-13d7-4397-a52c-1728fc6bb670", attr(t, lr.Attributes(), glassix.AttrKey))
			assert.Equal(t, tt.body, lr.Body().Str())
		})
	}
}

func TestGlassixEnvelopeWithManyChanges(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	body := `{"key":"k","dateTime":"2024-01-15T11:19:08Z","changes":[
		{"_event":"AUDIT_LOGS","log":{"id":"1","dateTime":"2024-01-15T11:19:07.1Z","type":"RoleRemoved","message":"one"}},
		{"_event":"NEW_TICKET","ticket":{"id":7}},
		{"_event":"AUDIT_LOGS","log":{"id":"2","dateTime":"2024-01-15T11:19:07.2Z","type":"UserRemoved","message":"two"}},
		{"_event":"AUDIT_LOGS","log":{"id":"3","dateTime":"2024-01-15T11:19:07.3Z","type":"UserLogin","message":"three"}}]}`
	r := s.post(t, "/glassix", []byte(body))
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, response{Accepted: 3, Parsed: 3, Skipped: 1}, r.body)
	recs := records(t, sink, auditrecord.SourceGlassix)
	require.Len(t, recs, 3)
	for i, want := range []string{"RoleRemoved", "UserRemoved", "UserLogin"} {
		assert.Equal(t, want, recs[i].EventName())
	}
	assert.Equal(t, int64(1), s.metricSum(t, "otelcol_receiver_auditwebhook_skipped_events", attribute.String("source", "glassix")))
	assert.Equal(t, int64(3), s.metricSum(t, "otelcol_receiver_accepted_log_records"))
}

func TestGlassixSignatures(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, func(cfg *Config) {
		cfg.Glassix.Get().Secret = testSecret
	}, sink)
	body := testdata(t, "glassix_security.json")
	sign := func(msg []byte) string { return loadgen.Sign([]byte(testSecret), msg) }
	now := time.Now().UTC()
	date := now.Format(http.TimeFormat)
	stale := now.Add(-time.Hour).Format(http.TimeFormat)

	tests := []struct {
		name   string
		header []string
		status int
		errMsg string
	}{
		{"X-Hub-Signature over the body", []string{"X-Hub-Signature", sign(body)}, http.StatusOK, ""},
		{"X-Glassix-Auth-Signature over the date", []string{"X-Glassix-Auth-Signature", sign([]byte(date)), "X-Glassix-Auth-Date", date}, http.StatusOK, ""},
		{"X-Glassix-Auth over an RFC 3339 date", []string{"X-Glassix-Auth", sign([]byte(now.Format(time.RFC3339))), "X-Glassix-Auth-Date", now.Format(time.RFC3339)}, http.StatusOK, ""},
		{"unsigned", nil, http.StatusUnauthorized, "unsigned request"},
		{"forged body signature", []string{"X-Hub-Signature", loadgen.Sign([]byte("guess"), body)}, http.StatusUnauthorized, "X-Hub-Signature does not match the body"},
		{"signature of another body", []string{"X-Hub-Signature", sign([]byte(`{"changes":[]}`))}, http.StatusUnauthorized, "X-Hub-Signature does not match the body"},
		{"forged date signature", []string{"X-Glassix-Auth-Signature", loadgen.Sign([]byte("guess"), []byte(date)), "X-Glassix-Auth-Date", date}, http.StatusUnauthorized, "does not match X-Glassix-Auth-Date"},
		{"clock skew exceeded", []string{"X-Glassix-Auth-Signature", sign([]byte(stale)), "X-Glassix-Auth-Date", stale}, http.StatusUnauthorized, "more than max_clock_skew (5m0s)"},
	}
	refused := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink.Reset()
			r := s.post(t, "/glassix", body, tt.header...)
			require.Equal(t, tt.status, r.status, r.raw)
			if tt.status == http.StatusOK {
				assert.Equal(t, 1, r.body.Accepted)
				assert.Equal(t, 1, sink.LogRecordCount())
				return
			}
			refused++
			assert.Contains(t, r.body.Error, tt.errMsg)
			assert.Zero(t, sink.LogRecordCount(), "nothing ingested")
		})
	}
	assert.Equal(t, int64(refused), s.metricSum(t, "otelcol_receiver_auditwebhook_bad_signatures", attribute.String("source", "glassix")))
	assert.Zero(t, s.logs.FilterMessageSnippet("glassix::secret is not set").Len(), "no warning with a secret")
}

func TestGlassixSignatureCoversTheDecompressedBody(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, func(cfg *Config) { cfg.Glassix.Get().Secret = testSecret }, sink)
	body := testdata(t, "glassix_informative.json")
	r := s.post(t, "/glassix", gzipped(t, body), "Content-Encoding", "gzip",
		"X-Hub-Signature", loadgen.Sign([]byte(testSecret), body))
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, 1, sink.LogRecordCount())
}

func TestGlassixWithoutSecretWarnsOnce(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	for range 2 {
		r := s.post(t, "/glassix", testdata(t, "glassix_informative.json"))
		require.Equal(t, http.StatusOK, r.status, r.raw)
	}
	assert.Equal(t, 2, sink.LogRecordCount(), "unsigned requests accepted")
	assert.Equal(t, 1, s.logs.FilterMessageSnippet("glassix::secret is not set").Len(), "one warning, at start")
}

func TestCTReplaySeed(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	r := s.post(t, "/ctreplay", testdata(t, "ctreplay_seed.jsonl"), "Content-Type", "application/x-ndjson")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, 2, r.body.Accepted)
	assert.Equal(t, 1, r.body.Parsed)
	assert.Equal(t, 1, r.body.Flagged)
	require.Len(t, r.body.Errors, 1)
	assert.Equal(t, 2, r.body.Errors[0].Line)
	assert.Contains(t, r.body.Errors[0].Error, "line 2, column 101: ")

	recs := records(t, sink, auditrecord.SourceCTReplay)
	require.Len(t, recs, 2)
	assert.Equal(t, "GET ALL Profile", recs[0].EventName())
	assert.Equal(t, time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), recs[0].Timestamp().AsTime())
	assert.Equal(t, "info", attr(t, recs[0].Attributes(), "level"))
	assert.True(t, strings.HasSuffix(recs[1].Body().Str(), `"action":"SE`), "the truncated line travels on as evidence")
	assert.Equal(t, "2", attr(t, recs[1].Attributes(), auditrecord.AttrParseLine))
	assert.Equal(t, int64(1), s.metricSum(t, "otelcol_receiver_auditwebhook_unparsed_events",
		attribute.String("source", "ctreplay"), attribute.Bool("forwarded", true)))
}

func TestJSONLinesWithABadLineInTheMiddle(t *testing.T) {
	body := []byte(`{"ts":"08/01/2021 - 12:44:30.479","action":"GET ALL Profile","params":""}
{"ts":"08/01/2021 - 12:44:31.000","action":"DELETE Recording","params":"id=1"
{"ts":"08/01/2021 - 12:44:32.000","action":"PLAY Recording","params":"id=2"}
`)
	for _, forward := range []bool{true, false} {
		t.Run(map[bool]string{true: "forwarded", false: "dropped"}[forward], func(t *testing.T) {
			sink := new(consumertest.LogsSink)
			s := startReceiver(t, func(cfg *Config) { cfg.ForwardUnparsed = forward }, sink)
			r := s.post(t, "/ctreplay", body)
			require.Equal(t, http.StatusOK, r.status, r.raw)
			require.Len(t, r.body.Errors, 1)
			assert.Equal(t, [2]int{2, 2}, [2]int{r.body.Errors[0].Event, r.body.Errors[0].Line}, "names the event and its line")
			assert.Equal(t, "line 3, column 1: expected ',' or '}' after object member, found '{'", r.body.Errors[0].Error)
			recs := records(t, sink, auditrecord.SourceCTReplay)
			names := []string{}
			for _, lr := range recs {
				names = append(names, lr.EventName())
			}
			if forward {
				assert.Equal(t, []string{"GET ALL Profile", "", "PLAY Recording"}, names, "good lines around the bad one kept")
				assert.Equal(t, response{Accepted: 3, Parsed: 2, Flagged: 1, Errors: r.body.Errors}, r.body)
			} else {
				assert.Equal(t, []string{"GET ALL Profile", "PLAY Recording"}, names)
				assert.Equal(t, response{Accepted: 2, Parsed: 2, Dropped: 1, Errors: r.body.Errors}, r.body)
			}
		})
	}
}

func TestSippyRecords(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	body := `[{"resource":"accounts:i_account=5:balance=10","action":"U","action_by":"u:1:3726:main_admin","date":"09:57:29.000 GMT Wed Nov 18 2009","user_ip":"192.0.2.10"},
	{"resource":"customer:username=alice","action":"AUTH_FAIL","action_by":"c:1:0:000123","date":"2009-11-18T09:58:00Z","user_ip":"node-7"}]`
	r := s.post(t, "/sippy", []byte(body), "Content-Type", "text/plain")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, response{Accepted: 2, Parsed: 2}, r.body)
	recs := records(t, sink, auditrecord.SourceSippy)
	require.Len(t, recs, 2)
	assert.Equal(t, "U", recs[0].EventName())
	assert.Equal(t, "U accounts:i_account=5:balance=10", recs[0].Body().Str())
	assert.Equal(t, time.Date(2009, 11, 18, 9, 57, 29, 0, time.UTC), recs[0].Timestamp().AsTime().UTC())
	assert.Equal(t, "AUTH_FAIL customer:username=alice", recs[1].Body().Str())
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// unsized hides a body's length, so the client sends it chunked.
type unsized struct{ io.Reader }

func TestStatusCodes(t *testing.T) {
	const limit = 4096
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, func(cfg *Config) {
		cfg.MaxRequestBodySize = limit
		cfg.ForwardUnparsed = false
	}, sink)
	sample := testdata(t, "glassix_informative.json")
	oversized := bytes.Repeat([]byte(`{"action":"GET USERS"}`+"\n"), 2*limit/23)

	tests := []struct {
		name    string
		method  string
		path    string
		body    func() io.Reader
		header  []string
		status  int
		errMsg  string
		checkFn func(t *testing.T, r reply)
	}{
		{name: "gzip body accepted", path: "/glassix", body: func() io.Reader { return bytes.NewReader(gzipped(t, sample)) },
			header: []string{"Content-Encoding", "gzip"}, status: http.StatusOK},
		{name: "identity encoding accepted", path: "/glassix", body: func() io.Reader { return bytes.NewReader(sample) },
			header: []string{"Content-Encoding", "identity"}, status: http.StatusOK},
		{name: "form content type accepted (curl -d)", path: "/glassix", body: func() io.Reader { return bytes.NewReader(sample) },
			header: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: http.StatusOK},
		{name: "no content type accepted", path: "/sippy", body: func() io.Reader {
			return strings.NewReader(`{"action":"BRUN","resource":"i_account=1","date":"2009-11-18T09:57:29Z"}`)
		}, status: http.StatusOK},
		{name: "UTF-8 BOM skipped", path: "/sippy", body: func() io.Reader {
			return strings.NewReader("\xEF\xBB\xBF" + `{"action":"BRUN","resource":"i_account=1","date":"2009-11-18T09:57:29Z"}`)
		}, status: http.StatusOK},
		{name: "405 on GET with Allow", method: http.MethodGet, path: "/glassix", status: http.StatusMethodNotAllowed,
			errMsg: "method GET not allowed", checkFn: func(t *testing.T, r reply) { assert.Equal(t, "POST", r.header.Get("Allow")) }},
		{name: "405 on the health path", method: http.MethodPost, path: "/health", body: func() io.Reader { return strings.NewReader("{}") },
			status: http.StatusMethodNotAllowed, checkFn: func(t *testing.T, r reply) { assert.Equal(t, "GET, HEAD", r.header.Get("Allow")) }},
		{name: "health answers 200", method: http.MethodGet, path: "/health", status: http.StatusOK},
		{name: "404 on another path", path: "/glassix/", body: func() io.Reader { return bytes.NewReader(sample) },
			status: http.StatusNotFound, errMsg: "no audit source is served at /glassix/"},
		{name: "400 on an empty body", path: "/ctreplay", body: func() io.Reader { return strings.NewReader(" \n") },
			status: http.StatusBadRequest, errMsg: "empty body: expected CTReplay events"},
		{name: "400 when nothing parses and forwarding is off", path: "/ctreplay", body: func() io.Reader { return strings.NewReader("{\"ts\":\n{oops}\n") },
			status: http.StatusBadRequest, errMsg: "no usable event in the request (2 could not be parsed and forward_unparsed is off)",
			checkFn: func(t *testing.T, r reply) {
				require.Len(t, r.body.Errors, 2)
				assert.Equal(t, 1, r.body.Errors[0].Line)
				assert.Equal(t, 2, r.body.Errors[1].Line)
			}},
		{name: "400 on a broken Glassix envelope when forwarding is off", path: "/glassix", body: func() io.Reader { return strings.NewReader(`{"key":"k"}`) },
			status: http.StatusBadRequest, checkFn: func(t *testing.T, r reply) {
				require.Len(t, r.body.Errors, 1)
				assert.Equal(t, `not a Glassix envelope: no "changes" array`, r.body.Errors[0].Error)
			}},
		{name: "400 on a corrupt gzip body", path: "/glassix", body: func() io.Reader { return strings.NewReader("not gzip at all") },
			header: []string{"Content-Encoding", "gzip"}, status: http.StatusBadRequest, errMsg: "cannot decode the request body"},
		{name: "413 over the limit with Content-Length", path: "/ctreplay", body: func() io.Reader { return bytes.NewReader(oversized) },
			status: http.StatusRequestEntityTooLarge, errMsg: "request body larger than max_request_body_size (4096 bytes"},
		{name: "413 over the limit when chunked", path: "/ctreplay", body: func() io.Reader { return unsized{bytes.NewReader(oversized)} },
			status: http.StatusRequestEntityTooLarge},
		{name: "413 when decompression exceeds the limit", path: "/ctreplay", body: func() io.Reader { return bytes.NewReader(gzipped(t, bytes.Repeat([]byte(" "), 1<<20))) },
			header: []string{"Content-Encoding", "gzip"}, status: http.StatusRequestEntityTooLarge},
		{name: "415 on an unsupported Content-Encoding", path: "/glassix", body: func() io.Reader { return bytes.NewReader(sample) },
			header: []string{"Content-Encoding", "br"}, status: http.StatusUnsupportedMediaType, errMsg: `unsupported Content-Encoding "br"`,
			checkFn: func(t *testing.T, r reply) { assert.Contains(t, r.header.Get("Accept-Encoding"), "gzip") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink.Reset()
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader
			if tt.body != nil {
				body = tt.body()
			}
			h := http.Header{}
			for i := 0; i < len(tt.header); i += 2 {
				h.Set(tt.header[i], tt.header[i+1])
			}
			r := s.do(t, method, tt.path, body, h)
			require.Equal(t, tt.status, r.status, r.raw)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Contains(t, r.body.Error, tt.errMsg)
			if tt.status != http.StatusOK || tt.path == "/health" {
				assert.Zero(t, sink.LogRecordCount(), "nothing ingested")
			} else {
				assert.Positive(t, sink.LogRecordCount())
			}
			if tt.checkFn != nil {
				tt.checkFn(t, r)
			}
		})
	}
}

func TestPipelineRefusals(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		retryAfter string
	}{
		{"retryable refusal is 503 with Retry-After", errors.New("sending queue is full"), http.StatusServiceUnavailable, "7"},
		{"permanent refusal is 500", consumererror.NewPermanent(errors.New("cannot marshal")), http.StatusInternalServerError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startReceiver(t, func(cfg *Config) { cfg.RetryAfter = 6500 * time.Millisecond }, consumertest.NewErr(tt.err))
			r := s.post(t, "/ctreplay", testdata(t, "ctreplay_seed.jsonl"))
			require.Equal(t, tt.status, r.status, r.raw)
			assert.Equal(t, tt.retryAfter, r.header.Get("Retry-After"))
			assert.Zero(t, r.body.Accepted, "nothing acknowledged")
			assert.Contains(t, r.body.Error, tt.err.Error())
			assert.Equal(t, int64(2), s.metricSum(t, "otelcol_receiver_refused_log_records"))
			assert.Zero(t, s.metricSum(t, "otelcol_receiver_accepted_log_records"))
		})
	}
}

func TestHostileInput(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	good := `{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS"}`
	tests := []struct {
		name    string
		path    string
		body    string
		flagged int
		parsed  int
		errMsg  string
	}{
		{"deep nesting", "/ctreplay", good + "\n" + strings.Repeat("[", 1<<20) + "\n" + good, 1, 2, "nesting deeper than 32 levels"},
		{"deep nesting in a Glassix log", "/glassix", `{"changes":[{"_event":"AUDIT_LOGS","log":` + strings.Repeat(`{"a":`, 100000) + `1` + strings.Repeat("}", 100000) + `}]}`,
			1, 0, "changes[0]: line 1, column 187: nesting deeper than 32 levels"},
		{"huge string", "/ctreplay", `{"ts":"08/01/2021 - 12:44:30.479","action":"X","params":"` + strings.Repeat("A", 2<<20) + `"}` + "\n" + good, 1, 1, "string longer than 1048576 bytes"},
		{"duplicate keys", "/sippy", `{"action":"U","action":"D","date":"2009-11-18T09:57:29Z"}`, 1, 0, `duplicate key "action"`},
		{"object with too many members", "/sippy", "{" + vendortest.ManyMembers(257) + "}", 1, 0, "object has more than 256 members"},
		// Kept with U+FFFD and flagged (internal/jsonpolicy); the line
		// that is not JSON at all is unreadable.
		{"invalid UTF-8", "/sippy", "{\"action\":\"U\xff\",\"date\":\"2009-11-18T09:57:29Z\"}\n\xfe\xfd", 2, 0, "line 1, column 13: invalid UTF-8 or lone surrogate replaced by U+FFFD"},
		{"NUL bytes", "/ctreplay", "\x00\x00\x00\n" + good, 1, 1, "expected a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink.Reset()
			r := s.post(t, tt.path, []byte(tt.body))
			require.Equal(t, http.StatusOK, r.status, r.raw)
			assert.Equal(t, tt.flagged, r.body.Flagged)
			assert.Equal(t, tt.parsed, r.body.Parsed)
			require.NotEmpty(t, r.body.Errors)
			assert.Contains(t, r.body.Errors[0].Error, tt.errMsg)
			for _, ld := range sink.AllLogs() {
				// What is forwarded must survive OTLP's UTF-8 rule.
				_, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
				require.NoError(t, err)
			}
		})
	}
	r := s.post(t, "/ctreplay", []byte(good))
	assert.Equal(t, http.StatusOK, r.status, "still serving")
}

func TestOtherContentIsIgnoredWhenNotForwarded(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	r := s.post(t, "/glassix", []byte(`{"key":"k","changes":[{"_event":"NEW_TICKET","ticket":{}}]}`))
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, response{Skipped: 1}, r.body, "2xx so Glassix does not retry an event we do not want")
	assert.Zero(t, sink.LogRecordCount())
}
