package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
)

// Config is one load run.
type Config struct {
	// URL is the webhook endpoint.
	URL string
	// Clients is the number of concurrent clients, each with its own
	// keep-alive connection, each sending its next request when the last
	// one was answered (a closed loop: the collector sets the pace).
	Clients int
	// Secret signs every request with X-Hub-Signature when not empty.
	Secret string
	// Start is when the run begins. Requests answered in
	// [Start+Warmup, Start+Warmup+Duration) are measured; no request is
	// sent after Start+Warmup+Duration.
	Start            time.Time
	Warmup, Duration time.Duration
	// Timeout bounds one request.
	Timeout time.Duration
	// Retry sends a refused (429, 5xx) or failed request again, the same
	// body with the same event ids, after its Retry-After (10 ms to 1 s),
	// as a webhook sender does, until it is accepted or the window ends.
	// The client sends new bodies meanwhile.
	Retry bool
	// Interval, when positive, paces each client: it starts a request at
	// most once per Interval, so the load is at most Clients/Interval
	// requests per second (a steady load below capacity, for fault tests)
	// instead of as fast as the collector answers.
	Interval time.Duration
}

// Result is what the clients saw. Counts are of requests answered inside
// the measured window unless named Total.
type Result struct {
	Requests uint64 `json:"requests"`
	// Accepted counts 2xx answers, AcceptedEvents the events in them.
	Accepted       uint64 `json:"accepted"`
	AcceptedEvents uint64 `json:"accepted_events"`
	// Refused counts answers by status, other than 2xx.
	Refused map[int]uint64 `json:"refused,omitempty"`
	// Failed counts requests that got no answer (connection errors,
	// timeouts).
	Failed uint64 `json:"failed"`
	// Retries counts requests that were a refused or failed one sent again.
	Retries uint64 `json:"retries"`
	// Abandoned counts refused bodies never accepted: still waiting to be
	// retried when the window closed, or pushed out of a full retry buffer.
	Abandoned uint64 `json:"abandoned"`
	// FirstFailure is the first failure or refusal, as an example.
	FirstFailure string `json:"first_failure,omitempty"`
	// Latency of 2xx answers, from sending the built body (signing it
	// included) to having read the whole answer.
	P50, P90, P99, Max time.Duration `json:"-"`
	// Mean latency of 2xx answers: with a closed loop, clients divided by
	// it bounds the request rate (Little's law), so a long tail costs rate
	// even where p50 is low.
	Mean time.Duration `json:"-"`
	// TotalRequests and TotalAcceptedEvents include the warm-up.
	TotalRequests       uint64 `json:"total_requests"`
	TotalAcceptedEvents uint64 `json:"total_accepted_events"`
}

type clientStats struct {
	Result
	latencies []time.Duration
}

// Run sends load until the window ends or ctx is done, adding the events
// of every 2xx-answered request to acked.
func Run(ctx context.Context, cfg Config, payloads *Payloads, acked *loadid.Set) (Result, error) {
	if cfg.Clients < 1 {
		return Result{}, errors.New("clients must be at least 1")
	}
	ep, err := parseEndpoint(cfg.URL)
	if err != nil {
		return Result{}, err
	}
	stats := make([]clientStats, cfg.Clients)
	var wg sync.WaitGroup
	for i := range stats {
		wg.Go(func() {
			conn := newHTTPConn(ctx, ep, cfg.Secret, cfg.Timeout)
			defer conn.close()
			runClient(ctx, cfg, conn, payloads, acked, &stats[i])
		})
	}
	wg.Wait()
	return merge(stats), ctx.Err()
}

// refusedBody is a body to send again once due.
type refusedBody struct {
	body  []byte
	first uint64
	due   time.Time
}

// maxPendingPerClient bounds the bodies a client keeps for retrying; past
// it the oldest is abandoned (counted), as a sender's retry buffer would.
const maxPendingPerClient = 10_000

func runClient(ctx context.Context, cfg Config, conn *httpConn, payloads *Payloads, acked *loadid.Set, st *clientStats) {
	windowStart := cfg.Start.Add(cfg.Warmup)
	end := windowStart.Add(cfg.Duration)
	var buf []byte
	// Refused bodies wait here for their Retry-After while the client
	// goes on sending new ones, as a vendor keeps sending new events
	// while it retries old ones: the load does not stop at a refusal.
	var pending []refusedBody
	var nextStart time.Time // with Interval: when the next request may start
	for ctx.Err() == nil {
		if cfg.Interval > 0 {
			sleep(ctx, min(time.Until(nextStart), time.Until(end)))
		}
		now := time.Now()
		if !now.Before(end) {
			st.Abandoned += uint64(len(pending))
			return
		}
		var body []byte
		var first uint64
		retry := len(pending) > 0 && !pending[0].due.After(now)
		if retry {
			body, first = pending[0].body, pending[0].first
			pending = pending[1:]
		} else {
			body, first = payloads.Build(buf, now)
			buf = body
		}
		sent := time.Now()
		nextStart = sent.Add(cfg.Interval)
		resp, err := conn.post(body)
		done := time.Now()
		inWindow := !done.Before(windowStart) && done.Before(end)
		st.TotalRequests++
		if inWindow {
			st.Requests++
			if retry {
				st.Retries++
			}
		}
		again := func(after time.Duration) {
			if !cfg.Retry {
				return
			}
			if !retry { // buf is reused for the next body: keep a copy
				body = append([]byte(nil), body...)
			}
			if len(pending) == maxPendingPerClient {
				pending = pending[1:]
				st.Abandoned++
			}
			pending = append(pending, refusedBody{body: body, first: first, due: done.Add(after)})
		}
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if inWindow {
				st.Failed++
			}
			st.note(err.Error())
			again(minRetryAfter)
			// The collector is gone or overloaded: do not spin.
			sleep(ctx, 10*time.Millisecond)
		case resp.status/100 == 2:
			n := uint64(payloads.EventsPerBody())
			acked.AddRange(first, n)
			st.TotalAcceptedEvents += n
			if inWindow {
				st.Accepted++
				st.AcceptedEvents += n
				st.latencies = append(st.latencies, done.Sub(sent))
			}
		default:
			if inWindow {
				if st.Refused == nil {
					st.Refused = map[int]uint64{}
				}
				st.Refused[resp.status]++
			}
			st.note(fmt.Sprintf("HTTP %d", resp.status))
			if retryable(resp.status) {
				again(resp.retryAfter)
			}
		}
	}
}

// retryable is what a webhook sender tries again: overload and server
// errors. Other 4xx answers say the request itself is wrong.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// Retry-After is honoured between these bounds: the sender must not hammer
// a refusing collector, and a run is too short for real vendor back-off.
const (
	minRetryAfter = 10 * time.Millisecond
	maxRetryAfter = time.Second
)

func parseRetryAfter(v string) time.Duration {
	secs, err := strconv.Atoi(v)
	if err != nil {
		return minRetryAfter
	}
	return min(max(time.Duration(secs)*time.Second, minRetryAfter), maxRetryAfter)
}

func (st *clientStats) note(problem string) {
	if st.FirstFailure == "" {
		st.FirstFailure = problem
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func merge(stats []clientStats) Result {
	var r Result
	var all []time.Duration
	for _, st := range stats {
		r.Requests += st.Requests
		r.Accepted += st.Accepted
		r.AcceptedEvents += st.AcceptedEvents
		r.Failed += st.Failed
		r.Retries += st.Retries
		r.Abandoned += st.Abandoned
		r.TotalRequests += st.TotalRequests
		r.TotalAcceptedEvents += st.TotalAcceptedEvents
		for status, n := range st.Refused {
			if r.Refused == nil {
				r.Refused = map[int]uint64{}
			}
			r.Refused[status] += n
		}
		if r.FirstFailure == "" {
			r.FirstFailure = st.FirstFailure
		}
		all = append(all, st.latencies...)
	}
	slices.Sort(all)
	r.P50 = Percentile(all, 50)
	r.P90 = Percentile(all, 90)
	r.P99 = Percentile(all, 99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
		var sum time.Duration
		for _, d := range all {
			sum += d
		}
		r.Mean = sum / time.Duration(len(all))
	}
	return r
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it. It returns 0 for no values.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil, in integers
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
