package glassixapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/glassixapitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var creds = Credentials{APIKey: "key", APISecret: "secret", UserName: "api@example.com"}

func start(t *testing.T, o glassixapitest.Options) (*glassixapitest.Server, *Client) {
	o.APIKey, o.APISecret, o.UserName = creds.APIKey, creds.APISecret, creds.UserName
	sim, err := glassixapitest.Start(o)
	require.NoError(t, err)
	tr := &http.Transport{}
	t.Cleanup(func() { tr.CloseIdleConnections(); sim.Close() })
	return sim, New(sim.URL, &http.Client{Transport: tr, Timeout: 5 * time.Second}, creds)
}

func TestGetAndDelete(t *testing.T) {
	sim, c := start(t, glassixapitest.Options{Batch: 3})
	for i := range 5 {
		sim.Add(glassixapitest.Envelope(string(rune('a'+i)), time.Now()))
	}
	ctx := context.Background()
	evs, err := c.GetEvents(ctx)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	for _, e := range evs {
		require.NoError(t, e.Problem())
		var env map[string]any
		require.NoError(t, json.Unmarshal(e.Raw, &env))
		assert.Contains(t, env, "changes")
	}
	require.NoError(t, c.DeleteEvents(ctx, evs))
	evs, err = c.GetEvents(ctx)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.NoError(t, c.DeleteEvents(ctx, evs))
	st := sim.Stats()
	assert.Equal(t, 5, st.Deleted)
	assert.Equal(t, 0, st.Remaining)
	assert.Equal(t, 1, st.TokensIssued, "the token is reused")
}

func TestTokenRefresh(t *testing.T) {
	sim, c := start(t, glassixapitest.Options{TokenLife: 10 * time.Second})
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()
	_, err := c.GetEvents(ctx)
	require.NoError(t, err)
	// 9.5 s later the token has under a tenth of its life left: renewed.
	now = now.Add(9500 * time.Millisecond)
	_, err = c.GetEvents(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, sim.Stats().TokensIssued)
	// A token the API stops honouring is replaced once.
	sim.ExpireTokens()
	_, err = c.GetEvents(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, sim.Stats().TokensIssued)
	assert.Equal(t, 1, sim.Stats().TokenRefusals)
}

func TestWrongCredentials(t *testing.T) {
	sim, _ := start(t, glassixapitest.Options{})
	c := New(sim.URL, &http.Client{Transport: &http.Transport{}}, Credentials{APIKey: "key", APISecret: "wrong", UserName: "x"})
	_, err := c.GetEvents(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "check api_key, api_secret and user_name")
}

func TestThrottleAndServerError(t *testing.T) {
	sim, c := start(t, glassixapitest.Options{})
	ctx := context.Background()
	_, err := c.Token(ctx)
	require.NoError(t, err)
	sim.Throttle(1)
	_, err = c.GetEvents(ctx)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusTooManyRequests, e.Status)
	assert.Equal(t, time.Second, e.RetryAfter)
	sim.Fail(1)
	_, err = c.GetEvents(ctx)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusServiceUnavailable, e.Status)
	_, err = c.GetEvents(ctx)
	require.NoError(t, err)
}

func TestEventWithoutHandles(t *testing.T) {
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1.2/token/get" {
			_, _ = w.Write([]byte(`{"access_token":"t","expires_in":3600}`))
			return
		}
		_, _ = w.Write([]byte(`[{"key":"k","changes":[]},{"queueReceiptHandle":"h","queueMessageId":"m","changes":[]},7]`))
	})}
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := New("http://"+ln.Addr().String()+"/api/v1.2", &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, creds)
	evs, err := c.GetEvents(context.Background())
	require.NoError(t, err)
	require.Len(t, evs, 3)
	assert.ErrorContains(t, evs[0].Problem(), "no queueReceiptHandle")
	assert.NoError(t, evs[1].Problem())
	assert.ErrorContains(t, evs[2].Problem(), "not an object")
}
