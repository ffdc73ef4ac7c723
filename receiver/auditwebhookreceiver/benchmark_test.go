package auditwebhookreceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/metadata"
)

// BenchmarkRequestPath measures one request through the receiver's handler
// (read body, verify signature, parse, build pdata, hand to the pipeline,
// write the JSON answer) without the network, with no-op telemetry so the
// figures are the receiver's own. They are in README.md.
func BenchmarkRequestPath(b *testing.B) {
	security := testdata(b, "glassix_security.json")
	var ct, sp bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&ct, `{"ts":"08/01/2021 - 12:44:%02d.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"DOWNLOAD Recording","params":"id=%d","level":"info"}`+"\n", i%60, i)
		fmt.Fprintf(&sp, `{"resource":"accounts:i_account=%d:balance=10","action":"U","action_by":"u:1:3726:main_admin","date":"09:57:29.000 GMT Wed Nov 18 2009","user_ip":"192.0.2.10"}`+"\n", i)
	}
	tests := []struct {
		name   string
		path   string
		body   []byte
		events int
		header http.Header
		secret string
	}{
		{"glassix/1_event", "/glassix", security, 1, nil, ""},
		{"glassix/1_event_signed", "/glassix", security, 1, http.Header{"X-Hub-Signature": {loadgen.Sign([]byte(testSecret), security)}}, testSecret},
		{"ctreplay/100_lines", "/ctreplay", ct.Bytes(), 100, nil, ""},
		{"sippy/100_lines", "/sippy", sp.Bytes(), 100, nil, ""},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			cfg := testConfig(func(cfg *Config) { cfg.Glassix.Get().Secret = configopaque.String(tt.secret) })
			rcv, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, rcv.Start(context.Background(), componenttest.NewNopHost()))
			b.Cleanup(func() { require.NoError(b, rcv.Shutdown(context.Background())) })
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(tt.body))
				for k, v := range tt.header {
					req.Header[k] = v
				}
				w := httptest.NewRecorder()
				rcv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(tt.events*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
