package auditwebhookreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientinfo "go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// ctreplayLines makes n CTReplay JSON lines whose actions are a0, a1, ...
func ctreplayLines(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"ts":"08/01/2021 - 12:44:30.479","domain":"D","userID":"u","ipAddress":"::1","action":"a%d","params":"","level":"info"}`+"\n", i)
	}
	return []byte(b.String())
}

// A request with more events than one pipeline call carries reaches the
// pipeline in calls of at most maxCallRecords, in order, and is accepted
// whole: a sending queue sized in records never sees more than that at once.
func TestALargeRequestReachesThePipelineInBoundedCalls(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	n := 2*maxCallRecords + 500
	r := s.post(t, "/ctreplay", ctreplayLines(n))
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, n, r.body.Accepted)

	var sizes []int
	for _, ld := range sink.AllLogs() {
		sizes = append(sizes, ld.LogRecordCount())
	}
	assert.Equal(t, []int{maxCallRecords, maxCallRecords, 500}, sizes)
	recs := records(t, sink, auditrecord.SourceCTReplay)
	require.Len(t, recs, n)
	for i, lr := range recs {
		require.Equal(t, fmt.Sprintf("a%d", i), lr.EventName(), "in request order")
	}
}

// A pipeline that does not take the events (a full sending queue that
// blocks) gets accept_timeout; then the sender is told to retry.
func TestAPipelineThatBlocksIsAnswered503AfterAcceptTimeout(t *testing.T) {
	blocking, err := consumer.NewLogs(func(ctx context.Context, _ plog.Logs) error {
		<-ctx.Done()
		return ctx.Err()
	})
	require.NoError(t, err)
	s := startReceiver(t, func(cfg *Config) { cfg.AcceptTimeout = 50 * time.Millisecond }, blocking)
	r := s.post(t, "/ctreplay", testdata(t, "ctreplay_seed.jsonl"))
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	assert.Equal(t, "5", r.header.Get("Retry-After"))
	assert.Contains(t, r.body.Error, "the pipeline is busy, retry later: context deadline exceeded")
	assert.Zero(t, r.body.Accepted)
}

// Concurrent requests, combined into shared pipeline calls or not, are each
// acknowledged for their own events, and every event arrives once.
func TestConcurrentRequestsAreEachAcknowledged(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	slow, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		time.Sleep(time.Millisecond) // let requests pile up behind a call
		mu.Lock()
		defer mu.Unlock()
		rl := ld.ResourceLogs()
		for i := 0; i < rl.Len(); i++ {
			recs := rl.At(i).ScopeLogs().At(0).LogRecords()
			for j := 0; j < recs.Len(); j++ {
				seen[recs.At(j).EventName()]++
			}
		}
		return nil
	})
	require.NoError(t, err)
	s := startReceiver(t, nil, slow)

	const clients, perClient = 8, 20
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				body := fmt.Sprintf(`{"ts":"08/01/2021 - 12:44:30.479","userID":"u","ipAddress":"::1","action":"c%d-%d"}`, c, i)
				r, err := s.send(http.MethodPost, "/ctreplay", strings.NewReader(body), nil)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, http.StatusOK, r.status, r.raw)
				assert.Equal(t, 1, r.body.Accepted)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, seen, clients*perClient)
	for name, n := range seen {
		assert.Equal(t, 1, n, name)
	}
}

// The hand-written common answer is byte for byte what encoding/json
// writes.
func TestCountsAnswerMatchesEncodingJSON(t *testing.T) {
	for _, resp := range []response{
		{},
		{Accepted: 1, Parsed: 1},
		{Accepted: 1000, Parsed: 998, Flagged: 2, Dropped: 0, Skipped: 31},
		{Accepted: 0, Dropped: 12345678, Skipped: 1},
	} {
		want, err := json.Marshal(resp)
		require.NoError(t, err)
		assert.Equal(t, string(want)+"\n", string(appendCounts(nil, &resp)))
	}
	// Answers with problems still go through encoding/json.
	resp := response{Error: `a "quoted" <error>`, Errors: []vendors.Problem{{Event: 1, Error: "bad"}}}
	want, err := json.Marshal(resp)
	require.NoError(t, err)
	rec := &headerRecorder{header: http.Header{}}
	writeResponse(rec, http.StatusBadRequest, &resp)
	assert.Equal(t, string(want)+"\n", rec.body.String())
	assert.Equal(t, http.StatusBadRequest, rec.status)
	assert.Equal(t, "application/json", rec.header.Get("Content-Type"))
}

type headerRecorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }
func (h *headerRecorder) Write(b []byte) (int, error) { return h.body.Write(b) }

// With include_metadata, each pipeline call carries one request's records
// and that request's headers.
func TestIncludeMetadataKeepsRequestsApart(t *testing.T) {
	var mu sync.Mutex
	byCall := map[string][]string{}
	next, err := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		sender := strings.Join(clientinfo.FromContext(ctx).Metadata.Get("X-Sender"), ",")
		time.Sleep(time.Millisecond) // let requests overlap, as they would be combined
		mu.Lock()
		defer mu.Unlock()
		recs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < recs.Len(); i++ {
			byCall[sender] = append(byCall[sender], recs.At(i).EventName())
		}
		return nil
	})
	require.NoError(t, err)
	s := startReceiver(t, func(cfg *Config) { cfg.IncludeMetadata = true }, next)
	var wg sync.WaitGroup
	for _, sender := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				body := fmt.Sprintf(`{"ts":"08/01/2021 - 12:44:30.479","userID":"u","ipAddress":"::1","action":"%s%d"}`, sender, i)
				r, err := s.send(http.MethodPost, "/ctreplay", strings.NewReader(body), http.Header{"X-Sender": {sender}})
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, http.StatusOK, r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, byCall, 4)
	for sender, names := range byCall {
		assert.Len(t, names, 10, sender)
		for _, name := range names {
			assert.Equal(t, sender, name[:1], "an event of %s arrived with %s's headers", name, sender)
		}
	}
}
