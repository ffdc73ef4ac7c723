package auditwebhookreceiver

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
)

const otelhttpScope = "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

// httpSpans counts the spans otelhttp ended for the receiver's requests.
func (s *testServer) httpSpans() int {
	n := 0
	for _, sp := range s.tel.SpanRecorder.Ended() {
		if sp.InstrumentationScope().Name == otelhttpScope {
			n++
		}
	}
	return n
}

func TestHTTPInstrumentationIsOffByDefault(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	r := s.post(t, "/glassix", testdata(t, "glassix_security.json"), "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Positive(t, sink.LogRecordCount(), "the request is served")
	assert.Zero(t, s.httpSpans(), "no otelhttp span without http_instrumentation")
	assert.Positive(t, s.metricSum(t, "otelcol_receiver_accepted_log_records"), "the receiver's own telemetry is unchanged")
}

func TestHTTPInstrumentationOn(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, func(cfg *Config) { cfg.HTTPInstrumentation = true }, sink)
	r := s.post(t, "/glassix", testdata(t, "glassix_security.json"), "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	r = s.post(t, "/nowhere", []byte("{}"), "Content-Type", "application/json")
	require.Equal(t, http.StatusNotFound, r.status, r.raw)
	assert.Equal(t, 2, s.httpSpans(), "one otelhttp span per request, as confighttp's default")
}
