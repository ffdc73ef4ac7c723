package auditpullreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver"

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/metadata"
)

// poller is one vendor's pulling loop.
type poller interface {
	// start prepares (clients, checkpoint); an error fails the
	// collector's start.
	start(ctx context.Context, host component.Host) error
	// run pulls until ctx is done.
	run(ctx context.Context)
	// shutdown releases what start took.
	shutdown(ctx context.Context) error
}

type pullReceiver struct {
	cfg     *Config
	set     receiver.Settings
	next    consumer.Logs
	obsrecv *receiverhelper.ObsReport
	tb      *metadata.TelemetryBuilder
	pollers []poller

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*pullReceiver, error) {
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &pullReceiver{cfg: cfg, set: set, next: next, obsrecv: obsrecv, tb: tb}
	if s := cfg.Sippy.Get(); s != nil {
		p, err := newSippyPoller(r, s)
		if err != nil {
			return nil, err
		}
		r.pollers = append(r.pollers, p)
	}
	if g := cfg.Glassix.Get(); g != nil {
		r.pollers = append(r.pollers, newGlassixPoller(r, g))
	}
	return r, nil
}

// Start prepares every poller, then runs them in the background.
func (r *pullReceiver) Start(ctx context.Context, host component.Host) error {
	var started []poller
	for _, p := range r.pollers {
		if err := p.start(ctx, host); err != nil {
			for _, s := range started {
				_ = s.shutdown(ctx)
			}
			return err
		}
		started = append(started, p)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, p := range r.pollers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			p.run(runCtx)
		}()
	}
	return nil
}

// Shutdown stops the pollers: a page or batch that the pipeline has not
// accepted yet is abandoned, and read again at the next start.
func (r *pullReceiver) Shutdown(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.wg.Wait()
	var errs []error
	for _, p := range r.pollers {
		errs = append(errs, p.shutdown(ctx))
	}
	return errors.Join(errs...)
}

// newLogs makes a pipeline call's logs: one resource for the source, one
// scope, as the auditwebhook receiver does.
func (r *pullReceiver) newLogs(source string) (plog.Logs, plog.LogRecordSlice) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, source)
	rl.Resource().Attributes().PutStr(auditrecord.AttrServiceName, source)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.set.BuildInfo.Version)
	return ld, sl.LogRecords()
}

// errDropped says the pipeline refused records for good (a permanent
// error): retrying cannot help, so the caller moves on.
var errDropped = errors.New("the pipeline refused the records permanently")

// deliver hands ld to the pipeline, retrying a refusal with backoff until
// it is accepted or ctx ends (then ctx's error). The processors are
// idempotent on a retried batch (the auditlog processor says so).
func (r *pullReceiver) deliver(ctx context.Context, source string, ld plog.Logs, bo *retrier) error {
	defer bo.reset()
	for {
		n := ld.LogRecordCount()
		if n == 0 {
			return nil
		}
		cctx := r.obsrecv.StartLogsOp(ctx)
		err := r.next.ConsumeLogs(cctx, ld)
		r.obsrecv.EndLogsOp(cctx, source, n, err)
		if err == nil {
			return nil
		}
		if consumererror.IsPermanent(err) {
			r.set.Logger.Error("The pipeline refused records permanently; they are dropped",
				zap.String("source", source), zap.Int("records", n), zap.Error(err))
			return errDropped
		}
		d := bo.next()
		r.set.Logger.Warn("The pipeline refused records; retrying", zap.String("source", source),
			zap.Int("records", n), zap.Duration("retry_in", d), zap.Error(err))
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// retrier paces retries after failures by retry_on_failure.
type retrier struct {
	cfg configretry.BackOffConfig
	b   *backoff.ExponentialBackOff
}

func newRetrier(cfg configretry.BackOffConfig) *retrier {
	b := backoff.NewExponentialBackOff()
	if cfg.Enabled {
		b.InitialInterval = cfg.InitialInterval
		b.RandomizationFactor = cfg.RandomizationFactor
		b.Multiplier = cfg.Multiplier
		b.MaxInterval = cfg.MaxInterval
	} else {
		// Retries cannot be turned off (a window must not be skipped):
		// disabled means at a steady pace.
		b.InitialInterval, b.Multiplier, b.MaxInterval = cfg.InitialInterval, 1, cfg.InitialInterval
	}
	// Never give up: an audit trail has no window to spare.
	b.MaxElapsedTime = 0
	b.Reset()
	return &retrier{cfg: cfg, b: b}
}

func (r *retrier) next() time.Duration {
	d := r.b.NextBackOff()
	if d == backoff.Stop || d <= 0 {
		d = r.cfg.MaxInterval
	}
	return d
}

func (r *retrier) reset() { r.b.Reset() }

// sleep waits d or until ctx is done; false when ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
