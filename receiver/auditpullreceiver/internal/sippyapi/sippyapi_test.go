package sippyapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/sippyapitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func client(sim *sippyapitest.Sim, user, pass string) *Client {
	return New(sim.URL, &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{}}, user, pass)
}

func TestFormatDate(t *testing.T) {
	assert.Equal(t, "09:57:29.000 GMT Wed Nov 18 2009", FormatDate(time.Date(2009, 11, 18, 11, 57, 29, 0, time.FixedZone("x", 7200))))
}

func TestPagesWithDigest(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			sim := sippyapitest.Start(t, sippyapitest.Options{History: 250, HistoryStart: t0, Algorithm: alg})
			c := client(sim, "admin", "api-secret")
			defer c.http.CloseIdleConnections()
			var ids []int64
			for off := 0; ; off += MaxLimit {
				recs, err := c.GetAuditLogs(context.Background(), Query{Start: t0, End: t0.Add(time.Hour), Limit: MaxLimit, Offset: off})
				require.NoError(t, err)
				for _, r := range recs {
					ids = append(ids, r.(map[string]any)["i_audit_log"].(int64))
				}
				if len(recs) < MaxLimit {
					break
				}
			}
			require.Len(t, ids, 250)
			assert.Equal(t, int64(1), ids[0])
			assert.Equal(t, int64(250), ids[249])
		})
	}
}

func TestNilValues(t *testing.T) {
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 2, HistoryStart: t0})
	c := client(sim, "admin", "api-secret")
	defer c.http.CloseIdleConnections()
	recs, err := c.GetAuditLogs(context.Background(), Query{Start: t0, End: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	// Record 1 has <nil/> in node, record 2 a string.
	r0, r1 := recs[0].(map[string]any), recs[1].(map[string]any)
	v, ok := r0["node"]
	assert.True(t, ok, "a <nil/> member is kept")
	assert.Nil(t, v)
	assert.Equal(t, "node-2", r1["node"])
	assert.Equal(t, "00:00:00.000 GMT Thu Jan 01 2026", r0["date"])
}

func TestWrongPassword(t *testing.T) {
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 1, HistoryStart: t0})
	c := client(sim, "admin", "nope")
	defer c.http.CloseIdleConnections()
	_, err := c.GetAuditLogs(context.Background(), Query{Start: t0, End: t0.Add(time.Minute), Limit: 10})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindUnauthorized, e.Kind)
	assert.Contains(t, err.Error(), "wrong login or API password")
}

func TestNoUsernameAgainstDigest(t *testing.T) {
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 1, HistoryStart: t0})
	c := client(sim, "", "")
	defer c.http.CloseIdleConnections()
	_, err := c.GetAuditLogs(context.Background(), Query{Start: t0, End: t0.Add(time.Minute), Limit: 10})
	assert.ErrorContains(t, err, "no username is configured")
}

func TestTrustedMode(t *testing.T) {
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 3, HistoryStart: t0, Trusted: true})
	c := client(sim, "", "")
	defer c.http.CloseIdleConnections()
	recs, err := c.GetAuditLogs(context.Background(), Query{Start: t0, End: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	assert.Len(t, recs, 3)
}

func TestFaults(t *testing.T) {
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 3, HistoryStart: t0, SlowSeconds: 3})
	c := client(sim, "admin", "api-secret")
	defer c.http.CloseIdleConnections()
	q := Query{Start: t0, End: t0.Add(time.Minute), Limit: 10}
	for _, tc := range []struct {
		fault, kind, msg string
	}{
		{"xmlrpc_fault", KindFault, "getAuditLogs fault 403: Access denied: simulated fault"},
		{"http_500", KindHTTP, "getAuditLogs answered HTTP 500"},
		{"malformed", KindMalformed, "getAuditLogs answer"},
		{"slow", KindTransport, "no answer within the timeout"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			sim.Faults(t, map[string]any{tc.fault: 1})
			_, err := c.GetAuditLogs(context.Background(), q)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.kind, e.Kind, err.Error())
			assert.Contains(t, err.Error(), tc.msg)
			if tc.kind == KindFault {
				assert.Equal(t, 403, e.FaultCode)
			}
			// The next call succeeds.
			recs, err := c.GetAuditLogs(context.Background(), q)
			require.NoError(t, err)
			assert.Len(t, recs, 3)
		})
	}
	t.Run("down", func(t *testing.T) {
		sim.Faults(t, map[string]any{"down": true})
		_, err := c.GetAuditLogs(context.Background(), q)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, KindTransport, e.Kind)
		sim.Faults(t, map[string]any{"down": false})
	})
}

func TestDecodeHostile(t *testing.T) {
	for name, body := range map[string]string{
		"not xml":            "hello",
		"html":               "<html><body>proxy error</body></html>",
		"result not OK":      `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>result</name><value><string>FAILED</string></value></member></struct></value></param></params></methodResponse>`,
		"records string":     `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>result</name><value><string>OK</string></value></member><member><name>records</name><value><string>x</string></value></member></struct></value></param></params></methodResponse>`,
		"nested 100000 deep": `<?xml version="1.0"?><methodResponse><params><param>` + strings.Repeat("<value><array><data>", 100000) + strings.Repeat("</data></array></value>", 100000) + `</param></params></methodResponse>`,
		"truncated":          `<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>result</name><value><string>OK`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decode([]byte(body))
			var e *Error
			require.True(t, errors.As(err, &e), "%v", err)
			assert.Contains(t, []string{KindMalformed, KindResult}, e.Kind)
		})
	}
}

func TestRecordsThatAreNotStructs(t *testing.T) {
	body := `<?xml version="1.0"?><methodResponse><params><param><value><struct>
<member><name>result</name><value><string>OK</string></value></member>
<member><name>records</name><value><array><data>
<value><struct><member><name>action</name><value><string>U</string></value></member></struct></value>
<value><string>garbage</string></value>
<value><int>7</int></value>
</data></array></value></member></struct></value></param></params></methodResponse>`
	recs, err := decode([]byte(body))
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, map[string]any{"action": "U"}, recs[0])
	assert.Equal(t, "garbage", recs[1])
	assert.Equal(t, int64(7), recs[2])
}

func TestOversizedAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<?xml version=\"1.0\"?><methodResponse>"))
		_, _ = w.Write([]byte(strings.Repeat(" ", maxResponse)))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := New("http://"+ln.Addr().String()+"/xmlapi/xmlapi", &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, "", "")
	_, err = c.GetAuditLogs(context.Background(), Query{Limit: 1})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindMalformed, e.Kind)
	assert.Contains(t, err.Error(), "larger than")
}

// TestStaleNonce: the switch's nonce expires between calls; the client
// answers the new challenge (stale=true) without failing the call.
func TestStaleNonce(t *testing.T) {
	sim := sippyapitest.Start(t, sippyapitest.Options{History: 3, HistoryStart: t0, NonceLifetime: time.Second})
	c := client(sim, "admin", "api-secret")
	defer c.http.CloseIdleConnections()
	q := Query{Start: t0, End: t0.Add(time.Minute), Limit: 10}
	for range 3 {
		recs, err := c.GetAuditLogs(context.Background(), q)
		require.NoError(t, err)
		require.Len(t, recs, 3)
		time.Sleep(1200 * time.Millisecond)
	}
	st := sim.Stats(t)
	assert.Positive(t, st.StaleNonces, "the nonce went stale")
	assert.Zero(t, st.AuthFailures)
	assert.Equal(t, 3, st.Answered)
}
