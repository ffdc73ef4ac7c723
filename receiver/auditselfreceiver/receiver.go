package auditselfreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditselfreceiver"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/selfaudit"
)

// maxBatch bounds the records passed to the pipeline at once.
const maxBatch = 256

// Retry backoff for a pipeline that refuses (memory limiter, full queue).
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

type selfReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs

	cancel context.CancelFunc
	unsub  func()
	wg     sync.WaitGroup
}

func newSelfReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) *selfReceiver {
	return &selfReceiver{cfg: cfg, set: set, next: next}
}

// Start takes the stream over and drains it into the pipeline.
func (r *selfReceiver) Start(context.Context, component.Host) error {
	records, unsub, err := selfaudit.Subscribe(r.cfg.Stream)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.unsub = cancel, unsub
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.run(ctx, records)
	}()
	return nil
}

// Shutdown stops draining; records not taken yet stay in the stream.
func (r *selfReceiver) Shutdown(context.Context) error {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		r.unsub()
	}
	return nil
}

func (r *selfReceiver) run(ctx context.Context, records <-chan selfaudit.Record) {
	batch := make([]selfaudit.Record, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-records:
			batch = append(batch[:0], rec)
		drain:
			for len(batch) < maxBatch {
				select {
				case rec := <-records:
					batch = append(batch, rec)
				default:
					break drain
				}
			}
			r.deliver(ctx, batch)
		}
	}
}

// deliver passes the batch on, retrying while the pipeline refuses with a
// retryable error: these are audit records, not to be dropped on a busy
// moment.
func (r *selfReceiver) deliver(ctx context.Context, batch []selfaudit.Record) {
	ld := plog.NewLogs()
	selfaudit.AppendTo(ld, batch)
	backoff := minBackoff
	for attempt := 1; ; attempt++ {
		err := r.next.ConsumeLogs(ctx, ld)
		if err == nil {
			if attempt > 1 {
				r.set.Logger.Info("The pipeline accepted the collector's own audit records again", zap.String("stream", r.cfg.Stream))
			}
			return
		}
		if consumererror.IsPermanent(err) {
			r.set.Logger.Error("The pipeline refused the collector's own audit records for good; dropped",
				zap.String("stream", r.cfg.Stream), zap.Int("records", len(batch)), zap.Error(err))
			return
		}
		if attempt == 1 {
			r.set.Logger.Warn("The pipeline refused the collector's own audit records; retrying",
				zap.String("stream", r.cfg.Stream), zap.Int("records", len(batch)), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			r.set.Logger.Warn("Shutting down with the collector's own audit records not delivered",
				zap.String("stream", r.cfg.Stream), zap.Int("records", len(batch)))
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
