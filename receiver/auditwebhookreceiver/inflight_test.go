package auditwebhookreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
)

// largeCTReplayBody is one CTReplay event of exactly n bytes (its params
// pad it), named action.
func largeCTReplayBody(action string, n int) []byte {
	head := `{"ts":"08/01/2021 - 12:44:30.479","userID":"u","ipAddress":"::1","action":"` + action + `","params":"`
	tail := `"}`
	return []byte(head + strings.Repeat("p", n-len(head)-len(tail)) + tail)
}

func smallSippyBody(i int) []byte {
	return fmt.Appendf(nil, `{"resource":"accounts:i_account=%d","action":"U","action_by":"u:1:3726:main_admin","date":"2009-11-18T09:57:29Z","user_ip":"192.0.2.10"}`, i)
}

// gatedPipeline holds CTReplay calls until open is called, whatever their
// deadline (as a pipeline busy for longer would), and passes the others.
type gatedPipeline struct {
	gate    chan struct{}
	once    sync.Once
	entered chan struct{}
}

func newGatedPipeline(t *testing.T) (*gatedPipeline, consumer.Logs) {
	g := &gatedPipeline{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	t.Cleanup(g.open)
	next, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		if v, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get(auditrecord.AttrSource); v.Str() == auditrecord.SourceCTReplay {
			g.entered <- struct{}{}
			<-g.gate
		}
		return nil
	})
	require.NoError(t, err)
	return g, next
}

func (g *gatedPipeline) open() { g.once.Do(func() { close(g.gate) }) }

// waitEntered waits until a request is held in the pipeline, and fails the
// test if one of the requests posted in the background is answered first.
func (g *gatedPipeline) waitEntered(t *testing.T, posted ...<-chan replyOrError) {
	t.Helper()
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.entered)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(time.After(time.Minute))},
	}
	for _, c := range posted {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	switch i, v, _ := reflect.Select(cases); i {
	case 0:
	case 1:
		t.Fatal("no request reached the pipeline within a minute")
	default:
		r := v.Interface().(replyOrError)
		t.Fatalf("a request was answered before it reached the pipeline: %v, HTTP %d %s", r.err, r.status, r.raw)
	}
}

// waitInFlight waits until the receiver's request bodies in flight hold
// exactly n bytes.
func (s *testServer) waitInFlight(t *testing.T, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return s.rcv.inflight.InUse() == n }, time.Minute, 5*time.Millisecond,
		"bytes in flight: want %d, have %d", n, s.rcv.inflight.InUse())
}

// While request bodies take max_in_flight_bytes, a large request is
// answered 503 with Retry-After (a refusal to retry, not 413), whether it
// announced its length or not, while small requests still pass. Once the
// large requests are answered, their share is free again.
func TestBodiesBeyondMaxInFlightBytesAreAnswered503(t *testing.T) {
	const maxBody = 1 << 20
	pipeline, next := newGatedPipeline(t)
	s := startReceiver(t, func(cfg *Config) {
		cfg.MaxRequestBodySize = maxBody
		cfg.MaxInFlightBytes = 2*maxBody + 64<<10 // two large bodies, and room for small ones
		cfg.AcceptTimeout = 2 * time.Second       // the refused request's wait for a share
	}, next)

	// Two near-limit bodies take their share and are held in the pipeline.
	held := []<-chan replyOrError{
		s.postInBackground("/ctreplay", largeCTReplayBody("first", maxBody)),
		s.postInBackground("/ctreplay", largeCTReplayBody("second", maxBody)),
	}
	pipeline.waitEntered(t, held...)
	s.waitInFlight(t, 2*maxBody)

	for _, tt := range []struct {
		name string
		body io.Reader
	}{
		{"with Content-Length", bytes.NewReader(largeCTReplayBody("third", maxBody))},
		{"chunked, leased as it arrives", unsized{bytes.NewReader(largeCTReplayBody("fourth", maxBody))}},
	} {
		t.Run("large request "+tt.name, func(t *testing.T) {
			r := s.do(t, http.MethodPost, "/ctreplay", tt.body, nil)
			require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
			assert.Equal(t, "5", r.header.Get("Retry-After"))
			assert.Equal(t, "the receiver is busy: request bodies in flight take max_in_flight_bytes (2162688 bytes), retry later", r.body.Error)
			assert.Zero(t, r.body.Accepted)
		})
	}
	t.Run("small requests pass", func(t *testing.T) {
		for i := range 20 {
			var body io.Reader = bytes.NewReader(smallSippyBody(i))
			if i%2 == 1 {
				body = unsized{body}
			}
			r := s.do(t, http.MethodPost, "/sippy", body, nil)
			require.Equal(t, http.StatusOK, r.status, r.raw)
			assert.Equal(t, 1, r.body.Accepted)
		}
	})
	assert.Equal(t, int64(2), s.metricSum(t, "otelcol_receiver_auditwebhook_busy_refusals"))

	pipeline.open()
	for _, h := range held {
		r := <-h
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status, r.raw)
		assert.Equal(t, 1, r.body.Accepted)
	}
	s.waitInFlight(t, 0)
	r := s.post(t, "/ctreplay", largeCTReplayBody("after", maxBody))
	require.Equal(t, http.StatusOK, r.status, "the share is free again: %s", r.raw)
}

// Every request gives its share back when it is answered, whatever the
// answer, and when its client goes away: after each, a request needing
// the whole of max_in_flight_bytes still gets it.
func TestInFlightBytesAreGivenBackAfterEveryRequest(t *testing.T) {
	const maxBody = 64 << 10
	next, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		switch ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).EventName() {
		case "refuse":
			return errors.New("sending queue is full")
		case "reject":
			return consumererror.NewPermanent(errors.New("cannot marshal"))
		}
		return nil
	})
	require.NoError(t, err)
	s := startReceiver(t, func(cfg *Config) {
		cfg.MaxRequestBodySize = maxBody
		cfg.MaxInFlightBytes = maxBody // one body at a time: a leak shows at once
		cfg.Glassix.Get().Secret = testSecret
	}, next)

	many := bytes.Repeat([]byte(`{"ts":"08/01/2021 - 12:44:30.479","userID":"u","ipAddress":"::1","action":"a"}`+"\n"), 1000) // 80 KB
	tests := []struct {
		name   string
		path   string
		body   func() io.Reader
		header []string
		status int
	}{
		{"accepted", "/ctreplay", func() io.Reader { return bytes.NewReader(largeCTReplayBody("ok", maxBody)) }, nil, http.StatusOK},
		{"accepted, chunked", "/ctreplay", func() io.Reader { return unsized{bytes.NewReader(largeCTReplayBody("ok", maxBody))} }, nil, http.StatusOK},
		{"accepted, gzip", "/ctreplay", func() io.Reader { return bytes.NewReader(gzipped(t, largeCTReplayBody("ok", maxBody))) }, []string{"Content-Encoding", "gzip"}, http.StatusOK},
		{"empty body", "/ctreplay", func() io.Reader { return strings.NewReader("\n") }, nil, http.StatusBadRequest},
		{"corrupt gzip", "/ctreplay", func() io.Reader { return strings.NewReader("not gzip") }, []string{"Content-Encoding", "gzip"}, http.StatusBadRequest},
		{"wrong signature", "/glassix", func() io.Reader { return bytes.NewReader(testdata(t, "glassix_security.json")) }, []string{"X-Hub-Signature", "sha1=00"}, http.StatusUnauthorized},
		{"over the limit, chunked", "/ctreplay", func() io.Reader { return unsized{bytes.NewReader(many)} }, nil, http.StatusRequestEntityTooLarge},
		{"over the limit after decompression", "/ctreplay", func() io.Reader { return bytes.NewReader(gzipped(t, many)) }, []string{"Content-Encoding", "gzip"}, http.StatusRequestEntityTooLarge},
		{"refused by the pipeline", "/ctreplay", func() io.Reader { return bytes.NewReader(largeCTReplayBody("refuse", maxBody)) }, nil, http.StatusServiceUnavailable},
		{"rejected by the pipeline", "/ctreplay", func() io.Reader { return bytes.NewReader(largeCTReplayBody("reject", maxBody)) }, nil, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for i := 0; i < len(tt.header); i += 2 {
				h.Set(tt.header[i], tt.header[i+1])
			}
			r := s.do(t, http.MethodPost, tt.path, tt.body(), h)
			require.Equal(t, tt.status, r.status, r.raw)
			s.waitInFlight(t, 0)
		})
	}

	t.Run("client gone halfway through its body", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.addr)
		require.NoError(t, err)
		_, err = fmt.Fprintf(conn, "POST /ctreplay HTTP/1.1\r\nHost: collector\r\nContent-Length: %d\r\n\r\n%s", maxBody, strings.Repeat("{", maxBody/2))
		require.NoError(t, err)
		s.waitInFlight(t, maxBody) // its share is taken before its body is read
		require.NoError(t, conn.Close())
		s.waitInFlight(t, 0)
	})

	r := s.post(t, "/ctreplay", largeCTReplayBody("ok", maxBody))
	require.Equal(t, http.StatusOK, r.status, "the whole share is free: %s", r.raw)
}

// A client that goes away while its request waits for a share leaves
// nothing held once its wait ends.
func TestAClientGoneWhileWaitingForItsShareLeavesNothingHeld(t *testing.T) {
	const maxBody = 64 << 10
	pipeline, next := newGatedPipeline(t)
	s := startReceiver(t, func(cfg *Config) {
		cfg.MaxRequestBodySize = maxBody
		cfg.MaxInFlightBytes = maxBody
		cfg.AcceptTimeout = 100 * time.Millisecond
	}, next)
	held := s.postInBackground("/ctreplay", largeCTReplayBody("held", maxBody))
	pipeline.waitEntered(t, held)
	s.waitInFlight(t, maxBody)

	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	_, err = fmt.Fprintf(conn, "POST /ctreplay HTTP/1.1\r\nHost: collector\r\nContent-Length: %d\r\n\r\n", maxBody)
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	// The request was read and waited for its share until accept_timeout.
	require.Eventually(t, func() bool { return s.metricSum(t, "otelcol_receiver_auditwebhook_busy_refusals") == 1 },
		time.Minute, 5*time.Millisecond)

	pipeline.open()
	r := <-held
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	s.waitInFlight(t, 0)
}

// A large body goes to the pipeline in pieces as it is parsed; when the
// pipeline refuses a piece, the rest of the body is not parsed, and the
// answer counts what was read.
func TestARefusedPieceEndsTheRequest(t *testing.T) {
	var mu sync.Mutex
	var calls []int
	next, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, ld.LogRecordCount())
		if len(calls) == 2 {
			return errors.New("sending queue is full")
		}
		return nil
	})
	require.NoError(t, err)
	s := startReceiver(t, nil, next)
	r := s.post(t, "/ctreplay", ctreplayLines(3*maxCallRecords+10))
	require.Equal(t, http.StatusServiceUnavailable, r.status, r.raw)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []int{maxCallRecords, maxCallRecords}, calls, "nothing after the refused piece")
	assert.Equal(t, maxCallRecords, r.body.Accepted)
	assert.Equal(t, 2*maxCallRecords, r.body.Parsed, "the events read before the refusal")
}
