// Package coalesce hands the records of webhook requests to the pipeline in
// calls of bounded size: the requests of one source that arrive while a
// call is in the pipeline are combined into the next call, and a request
// larger than a call is split into several.
//
// Combining is group commit: under load, one pipeline call (memory limiter,
// processor, fan-out, one enqueue per exporter, one storage transaction
// per persistent queue) carries many small webhooks instead of one each,
// while a lone request goes to the pipeline at once, as before. A few
// calls may be in the pipeline at once (New's calls): while one waits
// (a database round trip in a processor), the next one runs. Every
// request is answered with the outcome of the calls that carried its
// records, so a request is acknowledged only when the pipeline accepted all
// of them.
//
// Durability: each call carries a durable.Ticket in its context; storage
// clients that defer their fsync to it (the walstorage extension) are
// synced after the call leaves the pipeline and before its requests are
// answered, while the next call already runs, so consecutive calls share
// fsyncs instead of queueing behind them.
//
// Splitting keeps every call within what a sending queue sized in records
// can take: a request with more records than a queue holds could otherwise
// never be accepted.
//
// Combining stops at a number of body bytes too: a call's cost in the
// pipeline (a persistent queue marshals it, and its database copies it
// several times) grows with its bytes, so near-limit bodies arriving
// together go one call each instead of one call of all of them.
package coalesce // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/coalesce"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

// ConsumeFunc passes one call's logs, holding n records, to the pipeline.
type ConsumeFunc func(ctx context.Context, ld plog.Logs, n int) error

// NewLogsFunc returns an empty call: the logs and the record slice the
// call's records are appended to (one resource, one scope).
type NewLogsFunc func() (plog.Logs, plog.LogRecordSlice)

// Submitter combines and splits the records of concurrent requests into
// pipeline calls, at most calls of them in the pipeline at a time. It is
// safe for concurrent use.
type Submitter struct {
	consume ConsumeFunc
	newLogs NewLogsFunc
	// maxRecords bounds the records of one call; maxBytes (when positive)
	// the request bytes a call combines.
	maxRecords int
	maxBytes   int64
	// timeout bounds how long a call may wait for the pipeline to accept
	// it, counted from the arrival of its first request.
	timeout time.Duration
	// alone makes every request's records calls of their own, run at once,
	// for pipelines that must see each request's own context.
	alone bool

	// calls bounds the calls in the pipeline at once.
	calls int

	mu      sync.Mutex
	running int     // calls in the pipeline
	waiting []*call // calls waiting for their turn, oldest first; the last one takes joiners
}

// call is one pipeline call in the making.
type call struct {
	ld       plog.Logs
	recs     plog.LogRecordSlice
	n        int
	bytes    int64 // of the requests' bodies the records came from
	deadline time.Time
	turn     chan struct{} // closed when the call may go to the pipeline
	done     chan struct{} // closed when the pipeline answered, err holding the answer
	err      error
}

// New returns a Submitter. maxRecords must be positive; maxBytes, when
// positive, stops combining requests into a call past that many bytes of
// their bodies (a call always takes its first request, however large);
// calls (at least 1) is how many calls may be in the pipeline at once,
// the requests that arrive while they all are going together in the next;
// timeout bounds the wait of a request for the pipeline (a full sending
// queue that blocks).
func New(consume ConsumeFunc, newLogs NewLogsFunc, maxRecords int, maxBytes int64, calls int, timeout time.Duration) *Submitter {
	return &Submitter{consume: consume, newLogs: newLogs, maxRecords: max(1, maxRecords), maxBytes: maxBytes, calls: max(1, calls), timeout: timeout}
}

// NewAlone returns a Submitter that splits large requests like New's but
// never combines requests: each call carries one request's records and its
// context, and calls of different requests run concurrently.
func NewAlone(consume ConsumeFunc, newLogs NewLogsFunc, maxRecords int, timeout time.Duration) *Submitter {
	s := New(consume, newLogs, maxRecords, 0, 1, timeout)
	s.alone = true
	return s
}

// Submit passes recs to the pipeline and returns how many of them the
// pipeline accepted, with the first refusal. recs is emptied. Records are
// submitted in order, in pieces of at most maxRecords, each piece only
// after the one before it was accepted: on a refusal, the records after
// the refused piece are not submitted.
//
// ctx's values (client information) go to the pipeline with the call when
// this request starts it; its cancellation does not, since a call carries
// other requests' records too.
func (s *Submitter) Submit(ctx context.Context, recs plog.LogRecordSlice) (int, error) {
	return s.SubmitSince(ctx, recs, time.Now(), 0)
}

// SubmitSince is Submit for records made from size bytes of a request
// that arrived at arrived: the wait for the pipeline ends at arrived plus
// the timeout, however many times the request submits (a large body
// handed on in pieces as it is parsed).
func (s *Submitter) SubmitSince(ctx context.Context, recs plog.LogRecordSlice, arrived time.Time, size int64) (int, error) {
	accepted := 0
	for recs.Len() > 0 {
		if s.alone {
			c := s.newCall(arrived)
			k := c.take(recs, s.maxRecords)
			if err := settle(s.consumeCall(ctx, c)); err != nil {
				return accepted, err
			}
			accepted += k
			continue
		}
		c, k, lead := s.add(recs, arrived, &size)
		if lead {
			s.run(ctx, c)
		} else {
			<-c.done
		}
		if c.err != nil {
			return accepted, c.err
		}
		accepted += k
	}
	return accepted, nil
}

// add moves as many records of recs as fit into the call that takes
// joiners, or into a new call. It returns the call, how many records it
// moved, and whether the caller leads the call (created it, and so runs
// it). size holds the bytes of recs' request not yet submitted; the moved
// records take their share of them.
func (s *Submitter) add(recs plog.LogRecordSlice, arrived time.Time, size *int64) (*call, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.waiting); n > 0 {
		c := s.waiting[n-1]
		k := min(recs.Len(), s.maxRecords-c.n)
		if k > 0 && (s.maxBytes <= 0 || c.bytes+share(*size, k, recs.Len()) <= s.maxBytes) {
			// The call ends no later than any of its requests' waits.
			if d := arrived.Add(s.timeout); d.Before(c.deadline) {
				c.deadline = d
			}
			c.bytes += takeShare(size, k, recs.Len())
			return c, c.take(recs, s.maxRecords), false
		}
	}
	c := s.newCall(arrived)
	c.bytes = takeShare(size, min(recs.Len(), s.maxRecords), recs.Len())
	k := c.take(recs, s.maxRecords)
	if s.running >= s.calls {
		s.waiting = append(s.waiting, c)
	} else {
		s.running++
		close(c.turn)
	}
	return c, k, true
}

func (s *Submitter) newCall(arrived time.Time) *call {
	ld, out := s.newLogs()
	return &call{ld: ld, recs: out, deadline: arrived.Add(s.timeout), turn: make(chan struct{}), done: make(chan struct{})}
}

// run waits for c's turn, passes it to the pipeline, gives the turn to the
// next call, waits until what the pipeline stored for c is durable and
// answers c's requests.
func (s *Submitter) run(ctx context.Context, c *call) {
	<-c.turn
	// Deferred, so a panic in the pipeline (recovered by net/http) still
	// answers the call's other requests and lets the next call go.
	defer close(c.done)
	c.err = errPanicked
	var ticket *durable.Ticket
	func() {
		defer s.next()
		ticket, c.err = s.consumeCall(ctx, c)
	}()
	c.err = settle(ticket, c.err)
}

// consumeCall passes c to the pipeline with ctx's values, c's deadline and
// a durable.Ticket, which it returns: storage the pipeline wrote to
// without syncing (a persistent queue on the walstorage extension) is
// recorded in it.
func (s *Submitter) consumeCall(ctx context.Context, c *call) (*durable.Ticket, error) {
	ctx, ticket := durable.WithTicket(ctx)
	cctx := newDeadlineCtx(ctx, c.deadline)
	defer cctx.cancel()
	return ticket, s.consume(cctx, c.ld, c.n)
}

// settle waits, for an accepted call, until the storage its ticket holds
// is synced: its requests are acknowledged only once their records are on
// stable storage. The next call is already in the pipeline meanwhile, so
// its writes join the same fsync or the next one (group commit).
func settle(ticket *durable.Ticket, err error) error {
	if err != nil {
		return err
	}
	if serr := ticket.Wait(); serr != nil {
		return fmt.Errorf("%w: %w", errNotDurable, serr)
	}
	return nil
}

// errNotDurable answers the requests of a call the pipeline accepted but
// whose storage could not be synced: the sender must send them again.
var errNotDurable = errors.New("the events could not be made durable")

// errPanicked answers the requests of a call whose pipeline call panicked.
var errPanicked = errors.New("the pipeline failed while taking the events")

// next gives the turn to the oldest waiting call, if any.
func (s *Submitter) next() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) == 0 {
		s.running--
		return
	}
	c := s.waiting[0]
	s.waiting[0] = nil
	s.waiting = s.waiting[1:]
	close(c.turn) // from now on nobody joins c
}

// share is the part of size that k records of n take.
func share(size int64, k, n int) int64 {
	if k >= n {
		return size
	}
	return size * int64(k) / int64(n)
}

// takeShare removes k records' share from *size and returns it.
func takeShare(size *int64, k, n int) int64 {
	b := share(*size, k, n)
	*size -= b
	return b
}

// take moves records from the front of recs into c, up to limit records in
// c, and returns how many it moved. Callers hold the Submitter's lock.
func (c *call) take(recs plog.LogRecordSlice, limit int) int {
	k := min(recs.Len(), limit-c.n)
	if k == recs.Len() {
		recs.MoveAndAppendTo(c.recs)
	} else {
		c.recs.EnsureCapacity(c.n + k)
		for i := 0; i < k; i++ {
			recs.At(i).MoveTo(c.recs.AppendEmpty())
		}
		i := 0
		recs.RemoveIf(func(plog.LogRecord) bool {
			i++
			return i <= k
		})
	}
	c.n += k
	return k
}
