//go:build e2e

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Glassix signs with HMAC-SHA1.
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/proc"
)

// memoryBound is the most anonymous resident memory (RssAnon: heap,
// stacks, runtime) the collector may reach under the hostile input below:
// the shipped memory_limiter's limit_mib, the bound the distribution
// declares for itself. Only unbounded growth (a body, a nesting, a
// connection count that nothing bounds) should reach it. The whole
// resident set also holds the pages of the persistent queues' bbolt files
// that the collector has mapped and read (clean file pages, which the
// kernel drops under pressure and which grow with the queues' contents,
// up to about 180 MiB here): it is bounded by fileBackedAllowance beyond
// memoryBound (README: Memory).
const memoryBound = 512 << 20

// fileBackedAllowance is how much the peak of the whole resident set
// (VmHWM) may exceed memoryBound: the mapped bbolt pages.
const fileBackedAllowance = 256 << 20

// hostileRequest is one kind of malicious or broken request and the answer
// it must get.
type hostileRequest struct {
	name   string
	path   string
	build  func() (body []byte, headers []string)
	status int
	// flagged is, for a 200, how many records the answer must report
	// flagged: kept as evidence with audit.parse_error, not dropped.
	flagged int
	// says is text the answer must hold.
	says string
}

func hostileRequests(secret string, forged *loadgen.Payloads) []hostileRequest {
	sign := func(body []byte) []string { return []string{"X-Hub-Signature", loadgen.Sign([]byte(secret), body)} }
	glassixBody := func() []byte { b, _ := forged.Build(nil, time.Now()); return b }
	envelope := func(log string) []byte {
		return []byte(`{"key":"k","dateTime":"2024-01-11T09:18:32.7608826Z","changes":[{"_event":"AUDIT_LOGS","log":` + log + `}]}`)
	}
	nested := func(depth int) string {
		return strings.Repeat(`{"a":`, depth) + `1` + strings.Repeat(`}`, depth)
	}
	overLimit := bytes.Repeat([]byte("x"), 9<<20) // the limit is 8 MiB
	return []hostileRequest{
		{
			name: "forged X-Hub-Signature (another secret)", path: "/glassix", status: http.StatusUnauthorized, says: "X-Hub-Signature does not match the body",
			build: func() ([]byte, []string) {
				b := glassixBody()
				return b, []string{"X-Hub-Signature", loadgen.Sign([]byte("not-the-secret"), b)}
			},
		},
		{
			name: "no signature", path: "/glassix", status: http.StatusUnauthorized, says: "unsigned request",
			build: func() ([]byte, []string) { return glassixBody(), nil },
		},
		{
			name: "valid signature replayed onto another body", path: "/glassix", status: http.StatusUnauthorized, says: "X-Hub-Signature does not match the body",
			build: func() ([]byte, []string) {
				signed := glassixBody()
				return glassixBody(), sign(signed)
			},
		},
		{
			name: "date signature replayed after the skew window", path: "/glassix", status: http.StatusUnauthorized, says: "more than max_clock_skew",
			build: func() ([]byte, []string) {
				date := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
				mac := hmac.New(sha1.New, []byte(secret))
				mac.Write([]byte(date))
				return glassixBody(), []string{"X-Glassix-Auth-Date", date, "X-Glassix-Auth-Signature", "sha1=" + hex.EncodeToString(mac.Sum(nil))}
			},
		},
		{
			name: "body over the limit", path: "/ctreplay", status: http.StatusRequestEntityTooLarge, says: "8388608",
			build: func() ([]byte, []string) { return overLimit, nil },
		},
		{
			name: "gzip bomb (100 MiB of zeros)", path: "/ctreplay", status: http.StatusRequestEntityTooLarge, says: "8388608",
			build: func() ([]byte, []string) { return gzipBomb(), []string{"Content-Encoding", "gzip"} },
		},
		{
			name: "signed body over the limit", path: "/glassix", status: http.StatusRequestEntityTooLarge, says: "8388608",
			build: func() ([]byte, []string) { return overLimit, sign(overLimit) },
		},
		{
			name: "Glassix log nested 100 000 levels deep", path: "/glassix", status: http.StatusOK, flagged: 1, says: "deeper than 32",
			build: func() ([]byte, []string) { b := envelope(nested(100_000)); return b, sign(b) },
		},
		{
			name: "CTReplay line nested 1 000 000 arrays deep", path: "/ctreplay", status: http.StatusOK, flagged: 1, says: "deeper than 32",
			build: func() ([]byte, []string) {
				return []byte(strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000)), nil
			},
		},
		{
			name: "CTReplay event with a 7 MiB string", path: "/ctreplay", status: http.StatusOK, flagged: 1, says: "longer than 1048576 bytes",
			build: func() ([]byte, []string) {
				return []byte(`{"ts":"08/01/2021 - 12:44:30.479","userID":"` + strings.Repeat("u", 7<<20) + `","action":"GET ALL Profile"}`), nil
			},
		},
		{
			name: "Glassix log with a 300 000-element array", path: "/glassix", status: http.StatusOK, flagged: 1, says: "100000 elements",
			build: func() ([]byte, []string) {
				b := envelope(`{"id":"x","type":"T","logType":"Security","tags":[` + strings.Repeat("0,", 299_999) + `0]}`)
				return b, sign(b)
			},
		},
		{
			name: "Sippy record with 20 000 members", path: "/sippy", status: http.StatusOK, flagged: 1, says: "more than 256 members",
			build: func() ([]byte, []string) {
				var b strings.Builder
				b.WriteString(`{"action":"U"`)
				for i := range 20_000 {
					fmt.Fprintf(&b, `,"m%d":%d`, i, i)
				}
				b.WriteString("}")
				return []byte(b.String()), nil
			},
		},
		{
			name: "7 MiB of garbage", path: "/sippy", status: http.StatusOK, flagged: 1, says: "line 1",
			build: func() ([]byte, []string) { return bytes.Repeat([]byte("\x00garbage\xff"), (7<<20)/10), nil },
		},
	}
}

// gzipBomb is a gzip body of about 100 KiB that inflates to 100 MiB.
var gzipBomb = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 100 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	return buf.Bytes()
})

// TestHostileInput runs a steady, signed Glassix load while other clients
// send forged, replayed, oversized, deeply nested and huge requests,
// trickle bytes (slowloris) and hold idle connections. The collector must
// answer each hostile request as documented, stay up, stay under
// memoryBound, close the slow and idle connections (read_header_timeout,
// read_timeout: 1m), and deliver every well-formed event exactly once.
func TestHostileInput(t *testing.T) {
	const secret = "e2e-hostile-secret"
	siem := startSIEM(t)
	c := newCollector(t, collectorOptions{SIEM: siem.Endpoint(), Secret: secret})
	c.start()
	memory := sampleMemory(t, c.pid())

	// Connections that never finish a request, opened first: the server
	// must close them while serving everyone else.
	slow := holdSlowConnections(t, c.addr, 100, 1000)

	good := newScheme(t)
	load := startLoad(t, c, good, loadSpec{clients: 2, interval: 100 * time.Millisecond, duration: 75 * time.Second, secret: secret})

	forgedScheme, replayedScheme := newScheme(t), newScheme(t)
	forged := loadgen.NewPayloads(forgedScheme, 1)
	requests := hostileRequests(secret, forged)
	client := &http.Client{Timeout: 2 * time.Minute}
	defer client.CloseIdleConnections()
	// Requests refused (401, 413) come from one client, round after
	// round. Large and deeply nested bodies, accepted and flagged, come
	// from another, one at a time: the collector's memory grows with the
	// number of near-limit bodies in flight (README: Memory).
	var refused, flagged []hostileRequest
	for _, r := range requests {
		if r.status == http.StatusOK {
			flagged = append(flagged, r)
		} else {
			refused = append(refused, r)
		}
	}
	send := func(r hostileRequest, round int) {
		body, headers := r.build()
		a, err := postNoFail(client, c.url(r.path), body, headers...)
		if !assert.NoError(t, err, "%s (round %d)", r.name, round) {
			return
		}
		assert.Equal(t, r.status, a.status, "%s: %s", r.name, a.body)
		assert.Contains(t, a.body, r.says, r.name)
		if r.status == http.StatusOK {
			var ans struct{ Flagged int }
			if assert.NoError(t, json.Unmarshal([]byte(a.body), &ans), r.name) {
				assert.Equal(t, r.flagged, ans.Flagged, "%s: %s", r.name, a.body)
			}
		}
	}
	var wg sync.WaitGroup
	for _, kind := range []struct {
		requests []hostileRequest
		rounds   int
	}{{refused, 5}, {flagged, 2}} {
		wg.Go(func() {
			for round := range kind.rounds {
				for _, r := range kind.requests {
					send(r, round)
				}
			}
		})
	}

	// Whole valid requests replayed: authentic, so accepted, and each
	// event delivered once (the processor drops repeats of an id).
	var replayed loadid.Set
	replays := loadgen.NewPayloads(replayedScheme, 1)
	for range 20 {
		body, first := replays.Build(nil, time.Now())
		for attempt := range 3 {
			a := post(t, client, c.url("/glassix"), body, "X-Hub-Signature", loadgen.Sign([]byte(secret), body))
			require.Equal(t, http.StatusOK, a.status, "replay %d: %s", attempt, a.body)
		}
		replayed.Add(first)
	}
	wg.Wait()

	// Several near-limit bodies at once, as senders catching up after an
	// outage send them: max_in_flight_bytes lets a few in at a time and
	// asks the others to retry (503 with Retry-After, never 413). Retried
	// as a vendor retries, every one is accepted, its event flagged.
	var large []hostileRequest
	for _, r := range flagged {
		if body, _ := r.build(); len(body) > 4<<20 {
			large = append(large, r)
		}
	}
	require.Len(t, large, 2, "the 7 MiB string and the 7 MiB of garbage")
	var busy atomic.Int64
	var burst sync.WaitGroup
	for i := range burstSize {
		burst.Go(func() {
			n, err := sendUntilAccepted(client, c.url(large[i%len(large)].path), large[i%len(large)])
			busy.Add(int64(n))
			assert.NoError(t, err, "%s, sent with %d others", large[i%len(large)].name, burstSize-1)
		})
	}
	burst.Wait()
	t.Logf("%d near-limit bodies sent at once: %d answers 503 (retried after Retry-After), all accepted", burstSize, busy.Load())

	res := load.wait(t)
	requireAllAccepted(t, res)
	slow.waitAllClosed(t)
	c.requireRunning()
	health, err := client.Get(c.url("/health"))
	require.NoError(t, err)
	_ = health.Body.Close()
	require.Equal(t, http.StatusOK, health.StatusCode, "the collector still serves")

	waitDelivered(t, siem, c.archive, good, &load.acked)
	waitDelivered(t, siem, c.archive, replayedScheme, &replayed)
	peak, rss, anon := memory.stop(t)
	t.Logf("collector memory: peak RSS (VmHWM) %.1f MiB, highest sampled VmRSS %.1f MiB, highest sampled RssAnon %.1f MiB; bounds %d MiB anonymous, %d MiB in all",
		float64(peak)/(1<<20), float64(rss)/(1<<20), float64(anon)/(1<<20), memoryBound>>20, (memoryBound+fileBackedAllowance)>>20)
	require.Less(t, anon, uint64(memoryBound), "peak anonymous resident memory (sampled every 100 ms)")
	require.Less(t, peak, uint64(memoryBound+fileBackedAllowance), "peak resident memory, mapped file pages included")
	c.stop()

	requireExactlyOnce(t, "the SIEM", siemTally(siem, good), &load.acked)
	requireExactlyOnce(t, "the archive", archiveTally(t, c.archive, good), &load.acked)
	requireExactlyOnce(t, "the SIEM (replayed requests)", siemTally(siem, replayedScheme), &replayed)
	requireExactlyOnce(t, "the archive (replayed requests)", archiveTally(t, c.archive, replayedScheme), &replayed)
	require.Zero(t, siemTally(siem, forgedScheme).total, "refused requests reached the SIEM")
	require.Zero(t, archiveTally(t, c.archive, forgedScheme).total, "refused requests reached the archive")
	requireVerified(t, c.archive)
}

// burstSize is how many near-limit bodies TestHostileInput sends at once.
const burstSize = 6

// sendUntilAccepted sends r until it is accepted, waiting Retry-After
// after each 503 as a vendor does. It returns how many 503s it got; any
// other answer than 200 or 503, a 503 without Retry-After, or an accepted
// answer that does not flag the event as r says, is an error.
func sendUntilAccepted(client *http.Client, url string, r hostileRequest) (busy int, err error) {
	for range 30 {
		body, headers := r.build()
		a, err := postNoFail(client, url, body, headers...)
		if err != nil {
			return busy, err
		}
		switch a.status {
		case http.StatusOK:
			var ans struct{ Flagged int }
			if err := json.Unmarshal([]byte(a.body), &ans); err != nil {
				return busy, fmt.Errorf("answer %s: %w", a.body, err)
			}
			if ans.Flagged != r.flagged || !strings.Contains(a.body, r.says) {
				return busy, fmt.Errorf("accepted, but not flagged as expected (%d, %q): %s", r.flagged, r.says, a.body)
			}
			return busy, nil
		case http.StatusServiceUnavailable:
			secs, err := strconv.Atoi(a.retryAfter)
			if err != nil || secs < 1 {
				return busy, fmt.Errorf("503 without a usable Retry-After (%q): %s", a.retryAfter, a.body)
			}
			if !strings.Contains(a.body, "busy") {
				return busy, fmt.Errorf("503 that does not say the collector is busy: %s", a.body)
			}
			busy++
			time.Sleep(time.Duration(secs) * time.Second)
		default:
			return busy, fmt.Errorf("status %d: %s", a.status, a.body)
		}
	}
	return busy, errors.New("not accepted after 30 attempts")
}

// memorySampler records the highest VmRSS and RssAnon of a process while
// it runs.
type memorySampler struct {
	pid     int
	highest atomic.Uint64
	anon    atomic.Uint64
	stopCh  chan struct{}
	done    chan struct{}
}

func sampleMemory(t testing.TB, pid int) *memorySampler {
	t.Helper()
	m := &memorySampler{pid: pid, stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, anon, err := proc.Resident(pid); err == nil {
				m.highest.Store(max(m.highest.Load(), rss))
				m.anon.Store(max(m.anon.Load(), anon))
			}
			select {
			case <-m.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-m.stopCh:
		default:
			close(m.stopCh)
		}
		<-m.done
	})
	return m
}

// stop ends the sampling and returns the process's peak resident memory
// (VmHWM, the kernel's own high-water mark), the highest VmRSS sampled and
// the highest RssAnon sampled.
func (m *memorySampler) stop(t testing.TB) (peak, highestSampled, highestAnon uint64) {
	t.Helper()
	peak, err := proc.PeakRSS(m.pid)
	require.NoError(t, err)
	close(m.stopCh)
	<-m.done
	return peak, m.highest.Load(), m.anon.Load()
}

// slowConnections are connections that never complete a request.
type slowConnections struct {
	ctx    context.Context
	cancel context.CancelFunc
	open   atomic.Int64
	wg     sync.WaitGroup
	total  int
}

// holdSlowConnections opens trickling connections — half send their
// headers one byte a second, half send whole headers and then their body
// one byte a second — and idle connections that send nothing. Each is
// counted open until the server closes it.
func holdSlowConnections(t testing.TB, addr string, trickling, idle int) *slowConnections {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &slowConnections{ctx: ctx, cancel: cancel, total: trickling + idle}
	for i := range trickling + idle {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err, "connection %d", i)
		s.open.Add(1)
		var prefix, drip string
		switch {
		case i >= trickling: // idle: nothing at all
		case i%2 == 0: // headers, one byte at a time
			drip = "POST /glassix HTTP/1.1\r\nHost: collector\r\nX-Padding: " + strings.Repeat("p", 4096)
		default: // whole headers, then the body one byte at a time
			prefix = "POST /ctreplay HTTP/1.1\r\nHost: collector\r\nContent-Length: 100000\r\n\r\n"
			drip = strings.Repeat("{", 100000)
		}
		s.wg.Go(func() { s.hold(conn, prefix, drip) })
	}
	t.Cleanup(func() {
		cancel()
		s.wg.Wait()
	})
	return s
}

func (s *slowConnections) hold(conn net.Conn, prefix, drip string) {
	closed := make(chan struct{})
	go func() {
		// The server closing the connection (or answering, and then
		// closing) ends this read.
		_, _ = io.Copy(io.Discard, conn)
		s.open.Add(-1)
		close(closed)
	}()
	defer func() { _ = conn.Close(); <-closed }()
	if prefix != "" {
		if _, err := conn.Write([]byte(prefix)); err != nil {
			return
		}
	}
	for i := 0; ; i++ {
		select {
		case <-closed:
			return
		case <-s.ctx.Done():
			return
		case <-time.After(time.Second):
		}
		if i < len(drip) {
			if _, err := conn.Write([]byte{drip[i]}); err != nil {
				return // the server closed it
			}
		}
	}
}

// waitAllClosed waits until the server has closed every slow connection.
func (s *slowConnections) waitAllClosed(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool { return s.open.Load() == 0 }, 3*time.Minute, 100*time.Millisecond,
		"%d of %d slow or idle connections still open: the collector does not bound them", s.open.Load(), s.total)
	t.Logf("the collector closed all %d slow and idle connections", s.total)
}
