package auditpullreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver"

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/glassix"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditpullreceiver/internal/glassixapi"
)

// maxRemembered bounds the message ids remembered as delivered but not
// yet deleted.
const maxRemembered = 100000

type glassixPoller struct {
	r      *pullReceiver
	cfg    *GlassixConfig
	logger *zap.Logger
	parser glassix.Parser
	now    func() time.Time
	client *glassixapi.Client
	hc     *http.Client

	// delivered holds the message ids whose records the pipeline accepted
	// but whose deletion has not succeeded yet: if the queue hands them
	// out again, they are deleted without being delivered twice.
	delivered map[string]time.Time

	attrs metric.MeasurementOption
}

func newGlassixPoller(r *pullReceiver, cfg *GlassixConfig) *glassixPoller {
	return &glassixPoller{
		r: r, cfg: cfg, logger: r.set.Logger.With(zap.String("source", auditrecord.SourceGlassix)),
		parser:    glassix.Parser{ForwardEvents: cfg.ForwardEvents},
		now:       time.Now,
		delivered: map[string]time.Time{},
		attrs:     metric.WithAttributeSet(attribute.NewSet(attribute.String("receiver", r.set.ID.String()), attribute.String("source", auditrecord.SourceGlassix))),
	}
}

func (g *glassixPoller) start(ctx context.Context, host component.Host) error {
	var errs []error
	if g.cfg.Endpoint == "" {
		errs = append(errs, errors.New("glassix::endpoint is empty: set it to the workspace's API base, https://<workspace>.glassix.com/api/v1.2"))
	}
	if g.cfg.APIKey == "" || g.cfg.APISecret == "" || g.cfg.UserName == "" {
		errs = append(errs, errors.New("glassix::api_key, glassix::api_secret and glassix::user_name are all required (Settings > Developers > API keys in Glassix)"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if g.cfg.TLS.InsecureSkipVerify {
		g.logger.Warn("glassix::tls::insecure_skip_verify is on: Glassix's certificate is not checked, so anyone on the path can read the API secret")
	}
	hc, err := g.cfg.ToClient(ctx, host.GetExtensions(), g.r.set.TelemetrySettings)
	if err != nil {
		return err
	}
	g.hc = hc
	g.client = glassixapi.New(g.cfg.Endpoint, hc, glassixapi.Credentials{
		APIKey: string(g.cfg.APIKey), APISecret: string(g.cfg.APISecret), UserName: g.cfg.UserName,
	})
	return nil
}

func (g *glassixPoller) shutdown(context.Context) error {
	if g.hc != nil {
		g.hc.CloseIdleConnections()
	}
	return nil
}

func (g *glassixPoller) run(ctx context.Context) {
	bo := newRetrier(g.cfg.RetryOnFailure)
	for ctx.Err() == nil {
		n, err := g.step(ctx, bo)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			d := bo.next()
			var e *glassixapi.Error
			if errors.As(err, &e) && e.RetryAfter > d {
				d = e.RetryAfter
			}
			g.logFailure(err, d)
			sleep(ctx, d)
		case n == 0:
			bo.reset()
			sleep(ctx, g.cfg.PollInterval)
		default:
			// The queue may hold more: read on at once.
			bo.reset()
		}
	}
}

func (g *glassixPoller) logFailure(err error, retryIn time.Duration) {
	attrs := []attribute.KeyValue{attribute.String("receiver", g.r.set.ID.String()), attribute.String("source", auditrecord.SourceGlassix)}
	kind := "transport"
	fields := []zap.Field{zap.Error(err), zap.Duration("retry_in", retryIn)}
	var e *glassixapi.Error
	if errors.As(err, &e) {
		attrs = append(attrs, attribute.String("operation", e.Op))
		switch {
		case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
			kind = "unauthorized"
		case e.Status == http.StatusOK:
			kind = "malformed"
		case e.Status != 0:
			kind = "http_status"
			attrs = append(attrs, attribute.Int("http_status", e.Status))
		}
		if e.Status != 0 {
			fields = append(fields, zap.Int("http_status", e.Status))
		}
	}
	attrs = append(attrs, attribute.String("kind", kind))
	g.r.tb.ReceiverAuditpullAPIErrors.Add(context.Background(), 1, metric.WithAttributes(attrs...))
	if kind == "unauthorized" {
		g.logger.Error("Glassix API call failed; retrying", fields...)
		return
	}
	g.logger.Warn("Glassix API call failed; retrying", fields...)
}

// step reads one batch of queued events, delivers their records and
// deletes them. It returns how many events the queue handed out.
func (g *glassixPoller) step(ctx context.Context, bo *retrier) (int, error) {
	events, err := g.client.GetEvents(ctx)
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, nil
	}
	g.r.tb.ReceiverAuditpullPages.Add(ctx, 1, g.attrs)

	ld, out := g.r.newLogs(auditrecord.SourceGlassix)
	opts := vendors.Options{Observed: pcommon.NewTimestampFromTime(g.now()), ForwardUnparsed: true}
	again := 0
	for _, ev := range events {
		if ev.MessageID != "" {
			if _, done := g.delivered[ev.MessageID]; done {
				again++
				continue
			}
		}
		if p := ev.Problem(); p != nil {
			// Its records are delivered; it cannot be deleted, so the queue
			// may hand it out again (the processor's dedup drops repeats).
			g.logger.Warn("A queued Glassix event has no receipt handle; delivered but not deleted", zap.Error(p))
		}
		res := g.parser.Parse(ev.Raw, opts, out)
		if res.Flagged+res.Dropped > 0 {
			g.logger.Warn("A queued Glassix event could not be fully parsed; flagged records are forwarded",
				zap.Int("flagged", res.Flagged), zap.Any("problems", res.Problems))
		}
	}
	if again > 0 {
		g.r.tb.ReceiverAuditpullDuplicates.Add(ctx, int64(again), g.attrs)
	}
	if err := g.r.deliver(ctx, auditrecord.SourceGlassix, ld, bo); err != nil && !errors.Is(err, errDropped) {
		return 0, err
	}
	now := g.now()
	for _, ev := range events {
		if ev.MessageID != "" {
			g.delivered[ev.MessageID] = now
		}
	}
	if err := g.client.DeleteEvents(ctx, events); err != nil {
		g.forgetOld(now)
		return 0, err
	}
	for _, ev := range events {
		delete(g.delivered, ev.MessageID)
	}
	return len(events), nil
}

// forgetOld bounds the delivered set: the oldest ids go first (their
// repeats then reach the processor's dedup).
func (g *glassixPoller) forgetOld(now time.Time) {
	for len(g.delivered) > maxRemembered {
		var oldestID string
		oldest := now
		for id, t := range g.delivered {
			if !t.After(oldest) {
				oldest, oldestID = t, id
			}
		}
		delete(g.delivered, oldestID)
	}
}
