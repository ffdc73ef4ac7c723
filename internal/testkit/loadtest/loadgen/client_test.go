package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// server is a webhook receiver that checks signatures, refuses every
// third request with 503 and remembers the events it acknowledged.
type server struct {
	secret string
	mu     sync.Mutex
	acked  []string
	conns  atomic.Int64
	calls  atomic.Int64
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.secret != "" && r.Header.Get("X-Hub-Signature") != Sign([]byte(s.secret), body) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if s.calls.Add(1)%3 == 0 {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "queue full", http.StatusServiceUnavailable)
		return
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, c := range env.Changes {
		s.acked = append(s.acked, c.Log["id"].(string))
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func TestRunCountsWhatTheServerAcknowledged(t *testing.T) {
	srv := &server{secret: "s3cret"}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			srv.conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()

	scheme := loadid.NewScheme(3)
	var acked loadid.Set
	res, err := Run(context.Background(), Config{
		URL: ts.URL + "/glassix", Clients: 4, Secret: srv.secret,
		Start: time.Now(), Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
		Timeout: 10 * time.Second,
	}, NewPayloads(scheme, 5), &acked)
	require.NoError(t, err)

	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.NotEmpty(t, srv.acked)
	assert.Equal(t, uint64(len(srv.acked)), acked.Len(), "acked holds exactly what the server acknowledged")
	for _, id := range srv.acked {
		var seq uint64
		scheme.Scan([]byte(id), func(s uint64) { seq = s })
		assert.True(t, acked.Contains(seq), "event %s", id)
	}
	assert.Equal(t, acked.Len(), res.TotalAcceptedEvents)
	assert.Equal(t, res.Accepted*5, res.AcceptedEvents)
	assert.LessOrEqual(t, res.AcceptedEvents, res.TotalAcceptedEvents, "the window is part of the run")
	assert.Positive(t, res.Refused[http.StatusServiceUnavailable], "503s are counted as refused")
	assert.Zero(t, res.Refused[http.StatusUnauthorized], "every signature verified")
	assert.Zero(t, res.Failed)
	assert.Equal(t, res.Requests, res.Accepted+res.Refused[http.StatusServiceUnavailable])
	assert.LessOrEqual(t, srv.conns.Load(), int64(4), "clients keep their connections alive")
	assert.LessOrEqual(t, res.P50, res.P99)
	assert.LessOrEqual(t, res.P99, res.Max)
}

func TestRunRetriesRefusedBodiesLikeAWebhookSender(t *testing.T) {
	srv := &server{}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	scheme := loadid.NewScheme(4)
	var acked loadid.Set
	const clients, events = 3, 2
	res, err := Run(context.Background(), Config{
		URL: ts.URL, Clients: clients, Retry: true,
		Start: time.Now(), Duration: 300 * time.Millisecond, Timeout: 10 * time.Second,
	}, NewPayloads(scheme, events), &acked)
	require.NoError(t, err)

	assert.Positive(t, res.Retries)
	assert.Positive(t, res.Refused[http.StatusServiceUnavailable])
	// Every body was eventually accepted, except those abandoned (still
	// waiting for a retry when the window closed).
	var highest uint64
	srv.mu.Lock()
	for _, id := range srv.acked {
		scheme.Scan([]byte(id), func(seq uint64) { highest = max(highest, seq) })
	}
	srv.mu.Unlock()
	var gaps uint64
	for seq := uint64(0); seq <= highest; seq++ {
		if !acked.Contains(seq) {
			gaps++
		}
	}
	assert.LessOrEqual(t, gaps, res.Abandoned*events, "refused events were sent again until accepted")
	assert.Equal(t, acked.Len(), uint64(len(srv.acked)), "a retried body is acknowledged once")
}

func TestRunPacesClientsWithInterval(t *testing.T) {
	var calls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		calls.Add(1)
	}))
	defer ts.Close()

	var acked loadid.Set
	const clients, interval, duration = 2, 100 * time.Millisecond, time.Second
	res, err := Run(context.Background(), Config{
		URL: ts.URL, Clients: clients, Interval: interval,
		Start: time.Now(), Duration: duration, Timeout: 10 * time.Second,
	}, NewPayloads(loadid.NewScheme(5), 1), &acked)
	require.NoError(t, err)
	// A closed loop against this server would send thousands; paced, each
	// client sends at most one request per interval (a slow machine can
	// only send fewer).
	maxRequests := clients * int64(duration/interval+1)
	assert.LessOrEqual(t, calls.Load(), maxRequests)
	assert.GreaterOrEqual(t, calls.Load(), int64(clients), "every client sent")
	assert.Equal(t, uint64(calls.Load()), res.TotalRequests)
	assert.Equal(t, uint64(calls.Load()), acked.Len())
}

func TestRetryRules(t *testing.T) {
	for status, want := range map[int]bool{429: true, 408: true, 500: true, 503: true, 400: false, 401: false, 413: false} {
		assert.Equal(t, want, retryable(status), "status %d", status)
	}
	assert.Equal(t, minRetryAfter, parseRetryAfter(""))
	assert.Equal(t, minRetryAfter, parseRetryAfter("0"))
	assert.Equal(t, minRetryAfter, parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"))
	assert.Equal(t, maxRetryAfter, parseRetryAfter("120"))
}

func TestRunReportsAnUnreachableServer(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // nothing listens there any more

	var acked loadid.Set
	res, err := Run(context.Background(), Config{
		URL: url, Clients: 2, Start: time.Now(), Duration: 100 * time.Millisecond, Timeout: time.Second,
	}, NewPayloads(loadid.NewScheme(1), 1), &acked)
	require.NoError(t, err)
	assert.Positive(t, res.Failed)
	assert.Zero(t, res.Accepted)
	assert.Contains(t, res.FirstFailure, "connection refused")
	assert.Zero(t, acked.Len())
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var acked loadid.Set
	_, err := Run(ctx, Config{URL: ts.URL, Clients: 2, Start: time.Now(), Duration: time.Hour, Timeout: time.Second},
		NewPayloads(loadid.NewScheme(1), 1), &acked)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRunRejectsNoClients(t *testing.T) {
	var acked loadid.Set
	_, err := Run(context.Background(), Config{Clients: 0}, NewPayloads(loadid.NewScheme(1), 1), &acked)
	assert.ErrorContains(t, err, "clients")
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"no values", nil, 99, 0},
		{"one value", ms(7), 50, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 1..100 is 99", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of ten is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Percentile(tt.sorted, tt.p))
		})
	}
}
