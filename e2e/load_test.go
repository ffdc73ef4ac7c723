//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// startSIEM starts a real rsyslog that parses RFC 5424 over TCP with
// octet counting, what the shipped config sends.
func startSIEM(t testing.TB) *syslogtest.Server {
	t.Helper()
	return syslogtest.Start(t, syslogtest.Rsyslog, syslogtest.Config{Transport: syslogtest.TCP, Framing: syslogtest.OctetCounting})
}

// steadyLoad is Glassix webhooks (one event each, seed 000's samples with
// unique ids) posted in the background by paced keep-alive clients.
type steadyLoad struct {
	// acked holds the events of every request answered 2xx.
	acked loadid.Set
	done  chan struct{}
	res   loadgen.Result
	err   error
}

// loadSpec is how much load, for how long.
type loadSpec struct {
	clients  int
	interval time.Duration // per client, between request starts
	duration time.Duration
	secret   string
	// retry sends a refused or failed request again until it is accepted,
	// as Glassix does.
	retry bool
	// events per request (Glassix's changes array); 0 means 1.
	events int
}

func startLoad(t testing.TB, c *collector, scheme loadid.Scheme, spec loadSpec) *steadyLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &steadyLoad{done: make(chan struct{})}
	cfg := loadgen.Config{
		URL: c.url("/glassix"), Clients: spec.clients, Secret: spec.secret,
		Start: time.Now(), Duration: spec.duration, Interval: spec.interval,
		Timeout: 30 * time.Second, Retry: spec.retry,
	}
	go func() {
		defer close(l.done)
		l.res, l.err = loadgen.Run(ctx, cfg, loadgen.NewPayloads(scheme, max(spec.events, 1)), &l.acked)
	}()
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
	return l
}

// wait waits for the load to end and returns what the clients saw.
func (l *steadyLoad) wait(t testing.TB) loadgen.Result {
	t.Helper()
	<-l.done
	require.NoError(t, l.err)
	t.Logf("load: %d requests, %d events acknowledged, refused %v, %d failed, %d retries, %d abandoned, ack p50 %s p99 %s; first problem: %q",
		l.res.TotalRequests, l.res.TotalAcceptedEvents, l.res.Refused, l.res.Failed, l.res.Retries, l.res.Abandoned,
		l.res.P50, l.res.P99, l.res.FirstFailure)
	return l.res
}

// waitAcked waits until at least n events were acknowledged.
func (l *steadyLoad) waitAcked(t testing.TB, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return l.acked.Len() >= n }, 2*time.Minute, 20*time.Millisecond,
		"%d events acknowledged, want %d", l.acked.Len(), n)
}

// requireAllAccepted fails unless every request was answered 2xx: the
// load is paced well below what the collector takes.
func requireAllAccepted(t testing.TB, res loadgen.Result) {
	t.Helper()
	require.Empty(t, res.Refused, "refused requests (first: %q)", res.FirstFailure)
	require.Zero(t, res.Failed, "failed requests (first: %q)", res.FirstFailure)
	require.Equal(t, res.TotalRequests, res.TotalAcceptedEvents, "one event per request, every request acknowledged")
}

// postEvents posts n Glassix webhooks, one after the other, requires each
// to be answered 200, and adds their events to every set of acked.
func postEvents(t testing.TB, client *http.Client, c *collector, payloads *loadgen.Payloads, n int, acked ...*loadid.Set) {
	t.Helper()
	for range n {
		body, first := payloads.Build(nil, time.Now())
		a := post(t, client, c.url("/glassix"), body)
		require.Equal(t, http.StatusOK, a.status, a.body)
		for i := range payloads.EventsPerBody() {
			for _, set := range acked {
				set.Add(first + uint64(i))
			}
		}
	}
}
