package coalesce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeline records the calls a Submitter makes. Each call takes the next
// answer from answers, or succeeds when there is none; while gate is set,
// every call waits for it to close first.
type pipeline struct {
	mu      sync.Mutex
	calls   [][]string // record bodies, per call
	ctxs    []context.Context
	answers []error
	gate    chan struct{}
	entered chan struct{} // a call reached the pipeline
}

func newPipeline() *pipeline { return &pipeline{entered: make(chan struct{}, 100)} }

func (p *pipeline) consume(ctx context.Context, ld plog.Logs, n int) error {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	p.entered <- struct{}{}
	if gate != nil {
		<-gate
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if got := ld.LogRecordCount(); got != n {
		panic(fmt.Sprintf("call says %d records, holds %d", n, got))
	}
	var bodies []string
	recs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := 0; i < recs.Len(); i++ {
		bodies = append(bodies, recs.At(i).Body().Str())
	}
	p.calls = append(p.calls, bodies)
	p.ctxs = append(p.ctxs, ctx)
	if len(p.answers) > 0 {
		err := p.answers[0]
		p.answers = p.answers[1:]
		return err
	}
	return nil
}

func (p *pipeline) recorded() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]string(nil), p.calls...)
}

func newLogs() (plog.Logs, plog.LogRecordSlice) {
	ld := plog.NewLogs()
	return ld, ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
}

// request makes n records with bodies name-0, name-1, ...
func request(name string, n int) plog.LogRecordSlice {
	recs := plog.NewLogRecordSlice()
	for i := range n {
		recs.AppendEmpty().Body().SetStr(fmt.Sprintf("%s-%d", name, i))
	}
	return recs
}

func bodies(name string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", name, i))
	}
	return out
}

func TestALoneRequestGoesAtOnce(t *testing.T) {
	p := newPipeline()
	s := New(p.consume, newLogs, 10, 0, 1, time.Minute)
	recs := request("a", 3)
	n, err := s.Submit(context.Background(), recs)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Zero(t, recs.Len(), "the records moved to the pipeline")
	assert.Equal(t, [][]string{bodies("a", 0, 3)}, p.recorded())
}

// Requests that arrive while a call is in the pipeline go together in the
// next call, and each is answered with that call's outcome.
func TestRequestsArrivingDuringACallAreCombined(t *testing.T) {
	p := newPipeline()
	gate := make(chan struct{})
	p.gate = gate
	s := New(p.consume, newLogs, 10, 0, 1, time.Minute)

	first := make(chan error, 1)
	go func() {
		_, err := s.Submit(context.Background(), request("first", 1))
		first <- err
	}()
	<-p.entered // the first call is in the pipeline, held there

	var wg sync.WaitGroup
	results := make([]int, 3)
	for i, name := range []string{"b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.Submit(context.Background(), request(name, 2))
			assert.NoError(t, err)
			results[i] = n
		}()
	}
	// The three join one waiting call; let the pipeline go once they have.
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.waiting) == 1 && s.waiting[0].n == 6
	}, time.Minute, time.Millisecond)
	p.mu.Lock()
	p.gate = nil
	p.mu.Unlock()
	close(gate)
	wg.Wait()
	require.NoError(t, <-first)

	calls := p.recorded()
	require.Len(t, calls, 2)
	assert.Equal(t, bodies("first", 0, 1), calls[0])
	assert.ElementsMatch(t, append(append(bodies("b", 0, 2), bodies("c", 0, 2)...), bodies("d", 0, 2)...), calls[1])
	assert.Equal(t, []int{2, 2, 2}, results)
}

// With calls set to two, a second request goes to the pipeline while the
// first is held there; requests arriving while both are go together in
// the next call, which starts only when one of the two has left.
func TestTwoCallsInThePipelineAtOnce(t *testing.T) {
	p := newPipeline()
	gate := make(chan struct{})
	p.gate = gate
	s := New(p.consume, newLogs, 10, 0, 2, time.Minute)

	var wg sync.WaitGroup
	submit := func(name string, n int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Submit(context.Background(), request(name, n))
			assert.NoError(t, err)
			assert.Equal(t, n, got)
		}()
	}
	submit("a", 1)
	<-p.entered
	submit("b", 1)
	select { // both held in the pipeline at once
	case <-p.entered:
	case <-time.After(10 * time.Second):
		close(gate)
		wg.Wait()
		t.Fatal("a second call did not enter the pipeline while the first was held there")
	}
	submit("c", 2)
	submit("d", 2)
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.waiting) == 1 && s.waiting[0].n == 4
	}, time.Minute, time.Millisecond)
	select {
	case <-p.entered:
		t.Fatal("a third call entered the pipeline while two were in it")
	default:
	}
	s.mu.Lock()
	assert.Equal(t, 2, s.running)
	s.mu.Unlock()
	p.mu.Lock()
	p.gate = nil
	p.mu.Unlock()
	close(gate)
	wg.Wait()

	// The calls are recorded as they leave the pipeline: a and b in
	// either order, c and d's call after a or b left.
	calls := p.recorded()
	require.Len(t, calls, 3)
	var combined []string
	for _, c := range calls {
		if len(c) == 4 {
			combined = c
		}
	}
	assert.ElementsMatch(t, append(bodies("c", 0, 2), bodies("d", 0, 2)...), combined)
	assert.Subset(t, calls, [][]string{bodies("a", 0, 1), bodies("b", 0, 1)})
	s.mu.Lock()
	assert.Zero(t, s.running, "every call has left")
	s.mu.Unlock()
}

// Combining stops at maxBytes of the requests' bodies: large requests
// arriving together go one call each (a persistent queue's cost grows with
// a call's bytes), small ones still share a call, and a request larger
// than maxBytes still goes, alone.
func TestCombiningStopsAtMaxBytes(t *testing.T) {
	p := newPipeline()
	gate := make(chan struct{})
	p.gate = gate
	s := New(p.consume, newLogs, 100, 1000, 1, time.Minute)

	first := make(chan error, 1)
	go func() {
		_, err := s.SubmitSince(context.Background(), request("first", 1), time.Now(), 10)
		first <- err
	}()
	<-p.entered

	var wg sync.WaitGroup
	submit := func(name string, size int64) {
		_, err := s.SubmitSince(context.Background(), request(name, 1), time.Now(), size)
		assert.NoError(t, err)
	}
	waiting := func(sizes ...int64) func() bool {
		return func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			var have []int64
			for _, c := range s.waiting {
				have = append(have, c.bytes)
			}
			return assert.ObjectsAreEqual(sizes, have)
		}
	}
	// One at a time, so the calls they join are known.
	for _, r := range []struct {
		name string
		size int64
		want []int64
	}{
		{"large1", 600, []int64{600}},
		{"large2", 600, []int64{600, 600}}, // would make 1200: a call of its own
		{"small1", 300, []int64{600, 900}},
		{"small2", 100, []int64{600, 1000}}, // exactly maxBytes: joins
		{"huge", 5000, []int64{600, 1000, 5000}},
	} {
		wg.Go(func() { submit(r.name, r.size) })
		require.Eventually(t, waiting(r.want...), time.Minute, time.Millisecond, r.name)
	}
	p.mu.Lock()
	p.gate = nil
	p.mu.Unlock()
	close(gate)
	wg.Wait()
	require.NoError(t, <-first)
	assert.Equal(t, [][]string{{"first-0"}, {"large1-0"}, {"large2-0", "small1-0", "small2-0"}, {"huge-0"}}, p.recorded())
}

// A request split into several calls gives each piece its share of the
// request's bytes.
func TestASplitRequestSharesItsBytes(t *testing.T) {
	size := int64(1000)
	assert.Equal(t, int64(400), takeShare(&size, 4, 10))
	assert.Equal(t, int64(600), size)
	assert.Equal(t, int64(600), takeShare(&size, 6, 6), "the last piece takes the rest")
	assert.Zero(t, size)
}

func TestALargeRequestIsSplitInOrder(t *testing.T) {
	p := newPipeline()
	s := New(p.consume, newLogs, 4, 0, 1, time.Minute)
	n, err := s.Submit(context.Background(), request("big", 10))
	require.NoError(t, err)
	assert.Equal(t, 10, n)
	assert.Equal(t, [][]string{bodies("big", 0, 4), bodies("big", 4, 8), bodies("big", 8, 10)}, p.recorded())
}

// A refused piece ends the request: what was accepted before is reported,
// nothing after it is submitted.
func TestARefusalStopsASplitRequest(t *testing.T) {
	p := newPipeline()
	full := errors.New("sending queue is full")
	p.answers = []error{nil, full}
	s := New(p.consume, newLogs, 4, 0, 1, time.Minute)
	recs := request("big", 10)
	n, err := s.Submit(context.Background(), recs)
	require.ErrorIs(t, err, full)
	assert.Equal(t, 4, n, "the first piece was accepted")
	assert.Len(t, p.recorded(), 2, "nothing after the refused piece")
	assert.Equal(t, 2, recs.Len(), "the records never submitted stay with the caller")
}

// Every request of a refused call is refused; the next call is not.
func TestARefusalAnswersTheWholeCall(t *testing.T) {
	p := newPipeline()
	gate := make(chan struct{})
	p.gate = gate
	full := errors.New("sending queue is full")
	p.answers = []error{nil, full}
	s := New(p.consume, newLogs, 10, 0, 1, time.Minute)

	go func() { _, _ = s.Submit(context.Background(), request("first", 1)) }()
	<-p.entered
	errs := make(chan error, 2)
	for _, name := range []string{"b", "c"} {
		go func() {
			_, err := s.Submit(context.Background(), request(name, 1))
			errs <- err
		}()
	}
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.waiting) == 1 && s.waiting[0].n == 2
	}, time.Minute, time.Millisecond)
	p.mu.Lock()
	p.gate = nil
	p.mu.Unlock()
	close(gate)
	require.ErrorIs(t, <-errs, full)
	require.ErrorIs(t, <-errs, full)

	n, err := s.Submit(context.Background(), request("after", 1))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// The pipeline gets the request's values but a deadline of its own, from
// the arrival of the call's first request; the request's cancellation does
// not reach it.
func TestTheCallsContext(t *testing.T) {
	p := newPipeline()
	s := New(p.consume, newLogs, 10, 0, 1, time.Hour)
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "client"))
	cancel()
	before := time.Now()
	_, err := s.Submit(ctx, request("a", 1))
	require.NoError(t, err)
	require.Len(t, p.ctxs, 1)
	got := p.ctxs[0]
	assert.Equal(t, "client", got.Value(key{}))
	deadline, ok := got.Deadline()
	require.True(t, ok)
	assert.False(t, deadline.Before(before.Add(time.Hour)))
	assert.False(t, deadline.After(time.Now().Add(time.Hour)))
}

// A pipeline that panics still answers the call's other requests and lets
// the next call through.
func TestAPanicInThePipelineReleasesTheOthers(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{}, 10)
	var mu sync.Mutex
	calls := 0
	consume := func(_ context.Context, _ plog.Logs, _ int) error {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		entered <- struct{}{}
		switch c {
		case 1:
			<-gate // holds the first call while b and c join the second
		case 2:
			panic("boom")
		}
		return nil
	}
	s := New(consume, newLogs, 10, 0, 1, time.Minute)
	firstDone := make(chan error, 1)
	go func() {
		_, err := s.Submit(context.Background(), request("first", 1))
		firstDone <- err
	}()
	<-entered

	panicked := make(chan any, 1)
	go func() { // b leads the second call
		defer func() { panicked <- recover() }()
		_, _ = s.Submit(context.Background(), request("b", 1))
	}()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.waiting) == 1
	}, time.Minute, time.Millisecond)
	joined := make(chan error, 1)
	go func() { // c joins it
		_, err := s.Submit(context.Background(), request("c", 1))
		joined <- err
	}()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.waiting) == 1 && s.waiting[0].n == 2
	}, time.Minute, time.Millisecond)
	close(gate)

	require.NoError(t, <-firstDone)
	assert.Equal(t, "boom", <-panicked)
	require.ErrorIs(t, <-joined, errPanicked)

	n, err := s.Submit(context.Background(), request("after", 1))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// Without combining, each request's calls carry only its records and its
// own context, and requests do not wait for each other.
func TestAloneNeverCombines(t *testing.T) {
	p := newPipeline()
	gate := make(chan struct{})
	p.gate = gate
	s := NewAlone(p.consume, newLogs, 4, time.Minute)
	type key struct{}
	results := make(chan int, 2)
	for _, name := range []string{"a", "b"} {
		go func() {
			n, err := s.Submit(context.WithValue(context.Background(), key{}, name), request(name, 6))
			assert.NoError(t, err)
			results <- n
		}()
	}
	<-p.entered
	<-p.entered // both requests are in the pipeline at once
	p.mu.Lock()
	p.gate = nil
	p.mu.Unlock()
	close(gate)
	assert.Equal(t, 6, <-results)
	assert.Equal(t, 6, <-results)
	calls := p.recorded()
	require.Len(t, calls, 4, "each request split in two, none combined")
	for i, c := range calls {
		name := c[0][:1]
		for _, body := range c {
			assert.Equal(t, name, body[:1], "call %d holds one request's records", i)
		}
		assert.Equal(t, name, p.ctxs[i].Value(key{}), "call %d has its request's context", i)
	}
}
