package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// The answers the client must read, and those it must refuse, as bytes on
// the wire. Each stream ends with "NEXT", which must be left unread: the
// next answer on a kept-alive connection starts there.
func TestReadResponse(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   response
		// rest is what must be left unread; "" with keepAlive false means
		// the body ran to the end of the stream.
		rest string
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT",
			response{status: 200, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"no reason phrase", "HTTP/1.1 202\r\nContent-Length: 0\r\n\r\nNEXT",
			response{status: 202, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 2\n\nokNEXT",
			response{status: 200, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"header names in any case, values trimmed", "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:\t 3 \r\n\r\nabcNEXT",
			response{status: 200, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"the same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nxNEXT",
			response{status: 200, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"chunked, with extensions and trailers",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\nNEXT",
			response{status: 200, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"chunked wins over a content length", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nNEXT",
			response{status: 200, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"interim answers are skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nNEXT",
			response{status: 200, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\nNEXT",
			response{status: 204, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"refusal with Retry-After", "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nfullNEXT",
			response{status: 503, keepAlive: true, retryAfter: time.Second}, "NEXT"},
		{"Retry-After as a date", "HTTP/1.1 429 Too Many Requests\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: 0\r\n\r\nNEXT",
			response{status: 429, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"Connection: close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\nNEXT",
			response{status: 200, keepAlive: false, retryAfter: minRetryAfter}, "NEXT"},
		{"HTTP/1.0 closes by default", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\nNEXT",
			response{status: 200, keepAlive: false, retryAfter: minRetryAfter}, "NEXT"},
		{"HTTP/1.0 with keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\nNEXT",
			response{status: 200, keepAlive: true, retryAfter: minRetryAfter}, "NEXT"},
		{"no length: the body runs to the end", "HTTP/1.1 200 OK\r\n\r\nall of this is body NEXT",
			response{status: 200, keepAlive: false, retryAfter: minRetryAfter}, ""},
		{"a coding other than chunked runs to the end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzzNEXT",
			response{status: 200, keepAlive: false, retryAfter: minRetryAfter}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tt.stream), maxHeaderLine)
			got, err := readResponse(r)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			rest, err := io.ReadAll(r)
			require.NoError(t, err)
			assert.Equal(t, tt.rest, string(rest))
		})
	}
}

func TestReadResponseRefusesMalformedAnswers(t *testing.T) {
	tests := []struct {
		name, stream string
		want         error
	}{
		{"nothing at all", "", io.ErrUnexpectedEOF},
		{"closed inside the status line", "HTTP/1.1 20", io.ErrUnexpectedEOF},
		{"closed inside the headers", "HTTP/1.1 200 OK\r\nContent-Len", io.ErrUnexpectedEOF},
		{"body shorter than its length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", io.ErrUnexpectedEOF},
		{"closed inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", io.ErrUnexpectedEOF},
		{"closed before the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n", io.ErrUnexpectedEOF},
		{"not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n", errProtocol},
		{"HTTP/2 preface", "HTTP/2.0 200 OK\r\n\r\n", errProtocol},
		{"no status code", "HTTP/1.1\r\n\r\n", errProtocol},
		{"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", errProtocol},
		{"status out of range", "HTTP/1.1 600 Odd\r\n\r\n", errProtocol},
		{"status not digits", "HTTP/1.1 2x0 OK\r\n\r\n", errProtocol},
		{"header without a colon", "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n", errProtocol},
		{"space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", errProtocol},
		{"empty header name", "HTTP/1.1 200 OK\r\n: 0\r\n\r\n", errProtocol},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", errProtocol},
		{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", errProtocol},
		{"length not a number", "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", errProtocol},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", errProtocol},
		{"two different lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", errProtocol},
		{"chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errProtocol},
		{"chunk longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", errProtocol},
		{"huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", errProtocol},
		{"header line over the limit", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHeaderLine) + "\r\n\r\n", errProtocol},
		{"too many headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", maxHeaderLines+1) + "\r\n", errProtocol},
		{"too many trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + strings.Repeat("X: y\r\n", maxHeaderLines+1) + "\r\n", errProtocol},
		{"protocol switch nobody asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", errProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readResponse(bufio.NewReaderSize(strings.NewReader(tt.stream), maxHeaderLine))
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	ep, err := parseEndpoint("http://127.0.0.1:8088/glassix?x=1")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8088", ep.addr)
	assert.True(t, strings.HasPrefix(string(ep.head), "POST /glassix?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8088\r\n"), "%q", ep.head)

	ep, err = parseEndpoint("http://localhost")
	require.NoError(t, err)
	assert.Equal(t, "localhost:80", ep.addr)
	assert.Contains(t, string(ep.head), "POST / HTTP/1.1\r\n")

	for _, bad := range []string{"https://127.0.0.1/x", "127.0.0.1:8088/glassix", "http:///glassix", "http://[::1"} {
		_, err := parseEndpoint(bad)
		assert.Error(t, err, bad)
	}
}

// What the server receives is a well-formed request: net/http's server
// parses it, and the body and signature arrive intact.
func TestPostSendsAWellFormedRequest(t *testing.T) {
	var got atomic.Pointer[http.Request]
	var gotBody atomic.Pointer[[]byte]
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.Store(r)
		gotBody.Store(&body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer ts.Close()
	ep, err := parseEndpoint(ts.URL + "/glassix")
	require.NoError(t, err)
	c := newHTTPConn(context.Background(), ep, "s3cret", 10*time.Second)
	defer c.close()

	body := []byte(`{"changes":[]}`)
	resp, err := c.post(body)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.status)
	assert.True(t, resp.keepAlive)
	r := got.Load()
	require.NotNil(t, r)
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/glassix", r.URL.Path)
	assert.Equal(t, "HTTP/1.1", r.Proto)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, int64(len(body)), r.ContentLength)
	assert.Equal(t, Sign([]byte("s3cret"), body), r.Header.Get("X-Hub-Signature"))
	assert.Equal(t, body, *gotBody.Load())

	// The signer is reused: a second body gets its own signature.
	body2 := []byte(`{"changes":[{}]}`)
	_, err = c.post(body2)
	require.NoError(t, err)
	assert.Equal(t, Sign([]byte("s3cret"), body2), got.Load().Header.Get("X-Hub-Signature"))
	assert.Equal(t, body2, *gotBody.Load())
}

// countingServer counts the connections a net/http server accepted.
func countingServer(t *testing.T, h http.Handler, configure func(*http.Server)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	if configure != nil {
		configure(ts.Config)
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, &conns
}

func drainBody(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }

// A paced client leaves its connection idle between requests; a server
// that closes idle connections meanwhile must not make requests fail.
func TestRunSurvivesAServerClosingIdleConnections(t *testing.T) {
	ts, conns := countingServer(t, http.HandlerFunc(drainBody), func(s *http.Server) { s.IdleTimeout = 20 * time.Millisecond })
	var acked loadid.Set
	res, err := Run(context.Background(), Config{
		URL: ts.URL, Clients: 2, Interval: 100 * time.Millisecond,
		Start: time.Now(), Duration: 600 * time.Millisecond, Timeout: 10 * time.Second,
	}, NewPayloads(loadid.NewScheme(6), 1), &acked)
	require.NoError(t, err)
	assert.Zero(t, res.Failed, res.FirstFailure)
	assert.Positive(t, res.TotalRequests)
	assert.Equal(t, res.TotalRequests, acked.Len())
	assert.Greater(t, conns.Load(), int64(2), "the server did close idle connections")
}

func TestRunReconnectsAfterConnectionClose(t *testing.T) {
	ts, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drainBody(w, r)
		w.Header().Set("Connection", "close")
	}), nil)
	var acked loadid.Set
	res, err := Run(context.Background(), Config{
		URL: ts.URL, Clients: 2, Start: time.Now(), Duration: 200 * time.Millisecond, Timeout: 10 * time.Second,
	}, NewPayloads(loadid.NewScheme(7), 2), &acked)
	require.NoError(t, err)
	assert.Zero(t, res.Failed, res.FirstFailure)
	assert.Equal(t, 2*res.TotalRequests, acked.Len())
	assert.Equal(t, int64(res.TotalRequests), conns.Load(), "one connection per request")
}

// A server that never answers: the request times out and counts as
// failed, and nothing is acknowledged.
func TestRunTimesOutASilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // reads, never answers; ends when the client hangs up
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	var acked loadid.Set
	res, err := Run(context.Background(), Config{
		URL: "http://" + ln.Addr().String() + "/glassix", Clients: 1,
		Start: time.Now(), Duration: 300 * time.Millisecond, Timeout: 100 * time.Millisecond,
	}, NewPayloads(loadid.NewScheme(8), 1), &acked)
	require.NoError(t, err)
	assert.Positive(t, res.Failed)
	assert.Zero(t, res.TotalAcceptedEvents)
	assert.Zero(t, acked.Len())
	assert.Contains(t, res.FirstFailure, "timeout")
}

// A garbled answer fails the request, not the run: the client dials again.
func TestRunCountsAMalformedAnswerAsFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := accepted.Add(1)
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				if n%2 == 1 {
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n"))
					return
				}
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}()
		}
	}()
	var acked loadid.Set
	res, err := Run(context.Background(), Config{
		URL: "http://" + ln.Addr().String() + "/glassix", Clients: 1,
		Start: time.Now(), Duration: 300 * time.Millisecond, Timeout: 10 * time.Second,
	}, NewPayloads(loadid.NewScheme(9), 1), &acked)
	require.NoError(t, err)
	assert.Positive(t, res.Failed)
	assert.Positive(t, res.Accepted)
	assert.Equal(t, res.TotalAcceptedEvents, acked.Len(), "only well-formed 2xx answers acknowledge")
	assert.Contains(t, res.FirstFailure, "malformed HTTP response")
}

// Ending the context interrupts a request waiting for its answer.
func TestRunCancelInterruptsARequestInFlight(t *testing.T) {
	var inFlight atomic.Int64
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		drainBody(w, r)
		inFlight.Add(1)
		<-release
	}))
	defer ts.Close()
	defer close(release) // before Close, which waits for the handlers
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var acked loadid.Set
	go func() {
		_, err := Run(ctx, Config{URL: ts.URL, Clients: 2, Start: time.Now(), Duration: time.Hour, Timeout: time.Hour},
			NewPayloads(loadid.NewScheme(10), 1), &acked)
		done <- err
	}()
	require.Eventually(t, func() bool { return inFlight.Load() == 2 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	assert.Zero(t, acked.Len())
}
