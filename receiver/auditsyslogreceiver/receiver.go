package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/frame"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/metadata"
)

type syslogReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs
	tb   *metadata.TelemetryBuilder
	opts ctreplay.Options

	// Set by Start.
	streams   []*streamListener
	datagrams []*datagramListener
	wg        sync.WaitGroup
	// stopping is closed when Shutdown begins: listeners stop accepting,
	// connections are asked to close and drained.
	stopping chan struct{}
	// abort is closed when Shutdown's context ends: deliveries stop
	// retrying.
	abort     chan struct{}
	abortOnce sync.Once
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*syslogReceiver, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	order, err := ctreplay.ParseDateOrder(cfg.CTReplay.DateOrder)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(cfg.CTReplay.Timezone)
	if err != nil {
		return nil, err
	}
	return &syslogReceiver{
		cfg: cfg, set: set, next: next, tb: tb,
		opts: ctreplay.Options{DateOrder: order, Location: loc},
	}, nil
}

// Start opens every listener whose endpoint is set.
func (r *syslogReceiver) Start(ctx context.Context, _ component.Host) error {
	r.stopping, r.abort = make(chan struct{}), make(chan struct{})
	r.abortOnce = sync.Once{}
	err := r.start(ctx)
	if err != nil {
		// Close what was opened.
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = r.Shutdown(sctx)
		return err
	}
	if len(r.streams)+len(r.datagrams) == 0 {
		r.set.Logger.Warn("No syslog listener configured: every endpoint (udp, tcp, tls, unix, unixgram) is empty; nothing will be received")
	}
	return nil
}

func (r *syslogReceiver) start(ctx context.Context) error {
	if ep := r.cfg.UDP.Endpoint; ep != "" {
		if err := r.startDatagram("udp", ep, r.cfg.UDP); err != nil {
			return err
		}
	}
	if ep := r.cfg.Unixgram.Endpoint; ep != "" {
		if err := r.startDatagram("unixgram", ep, r.cfg.Unixgram); err != nil {
			return err
		}
	}
	if ep := r.cfg.TCP.Endpoint; ep != "" {
		if err := r.startStream(ctx, "tcp", ep, r.cfg.TCP.Framing, nil, ""); err != nil {
			return err
		}
	}
	if ep := r.cfg.TLS.Endpoint; ep != "" {
		tlsCfg, err := r.cfg.TLS.server().LoadTLSConfig(ctx)
		if err != nil {
			return errors.Join(errors.New("tls"), err)
		}
		if err := r.startStream(ctx, "tls", ep, r.cfg.TLS.Framing, tlsCfg, ""); err != nil {
			return err
		}
	}
	if ep := r.cfg.Unix.Endpoint; ep != "" {
		if err := r.startStream(ctx, "unix", ep, r.cfg.Unix.Framing, nil, r.cfg.Unix.SocketMode); err != nil {
			return err
		}
	}
	return nil
}

// Shutdown stops accepting, asks every stream sender to close (a TCP FIN:
// winston-syslog then sends what it already wrote, closes, and queues its
// later messages until it reconnects), reads every connection to its end,
// reads what the datagram sockets' buffers hold, and hands every message
// read to the pipeline before it returns. If ctx ends first, deliveries
// still waiting for the pipeline give up and the sockets are closed.
func (r *syslogReceiver) Shutdown(ctx context.Context) error {
	if r.stopping == nil {
		return nil // never started
	}
	select {
	case <-r.stopping:
	default:
		close(r.stopping)
	}
	for _, l := range r.streams {
		l.stop()
	}
	for _, l := range r.datagrams {
		l.stop()
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		r.abortOnce.Do(func() { close(r.abort) })
		for _, l := range r.streams {
			l.closeAll()
		}
		<-done
		err = ctx.Err()
	}
	for _, l := range r.streams {
		l.cleanup()
	}
	for _, l := range r.datagrams {
		l.cleanup()
	}
	r.streams, r.datagrams = nil, nil
	return err
}

// batch collects the records of one pipeline call.
type batch struct {
	ld      plog.Logs
	lrs     plog.LogRecordSlice
	flagged int
}

func (r *syslogReceiver) newBatch() *batch {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, auditrecord.SourceCTReplay)
	rl.Resource().Attributes().PutStr(auditrecord.AttrServiceName, auditrecord.SourceCTReplay)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(r.set.BuildInfo.Version)
	return &batch{ld: ld, lrs: sl.LogRecords()}
}

// add makes msg one record, as the auditwebhook receiver makes a CTReplay
// event: the event's fields as attributes in their order, EventName the
// action, Body "<action> <params>", Timestamp from ts, ObservedTimestamp
// the receipt. The syslog header is not kept: CTReplay's JSON carries its
// own time, level and client address, and a record with exactly the
// event's fields gets the same audit.event_id whichever path (HTTP, file,
// syslog) brought it, so the auditlog processor drops the repeats.
//
// A message that cannot be read (too long, cut short, no JSON object, not
// valid JSON) is one record whose Body is the message as received, header
// included, flagged with audit.parse_error; a readable event with a missing
// or bad ts or action is flagged naming the field.
func (r *syslogReceiver) add(b *batch, msg frame.Message, observed pcommon.Timestamp) {
	lr := b.lrs.AppendEmpty()
	lr.SetObservedTimestamp(observed)
	unreadable := func(why string) {
		lr.Attributes().Clear()
		lr.Body().SetStr(strings.ToValidUTF8(string(msg.Raw), "\uFFFD"))
		lr.Attributes().PutStr(auditrecord.AttrParseError, why)
		b.flagged++
	}
	if msg.Problem != "" {
		unreadable(msg.Problem)
		return
	}
	start, res := frame.BodyStart(msg.Raw, true)
	if res != frame.Found {
		unreadable("no JSON object in the syslog message: want a CTReplay event as the message text")
		return
	}
	ev, err := ctreplay.Parse(msg.Raw[start:], lr.Attributes(), r.opts)
	var syn *ctreplay.SyntaxError
	if errors.As(err, &syn) {
		unreadable(err.Error())
		return
	}
	ev.Apply(lr)
	var fe *ctreplay.FieldError
	if errors.As(err, &fe) {
		lr.Attributes().PutStr(auditrecord.AttrParseError, strings.Join(fe.Problems, "; "))
		b.flagged++
	}
}

// deliver hands a batch to the pipeline. A refusal the pipeline may lift
// (memory limit, full queue) is retried with a growing pause and the
// caller does not read meanwhile: a stream sender then waits on TCP's flow
// control, nothing is dropped. A permanent refusal drops the batch, counted
// and logged. Retrying ends when Shutdown's context ends.
func (r *syslogReceiver) deliver(obs *receiverhelper.ObsReport, transport string, b *batch) {
	n := b.lrs.Len()
	if n == 0 {
		return
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("receiver", r.set.ID.String()), attribute.String("transport", transport)))
	if b.flagged > 0 {
		r.tb.ReceiverAuditsyslogFlaggedMessages.Add(context.Background(), int64(b.flagged), attrs)
	}
	pause := 5 * time.Millisecond
	logged := false
	for {
		ctx := obs.StartLogsOp(context.Background())
		err := r.next.ConsumeLogs(ctx, b.ld)
		obs.EndLogsOp(ctx, "ctreplay", n, err)
		if err == nil {
			if logged {
				r.set.Logger.Info("The pipeline accepts records again", zap.String("transport", transport))
			}
			return
		}
		if consumererror.IsPermanent(err) {
			r.tb.ReceiverAuditsyslogDroppedMessages.Add(context.Background(), int64(n),
				metric.WithAttributeSet(attribute.NewSet(attribute.String("receiver", r.set.ID.String()), attribute.String("transport", transport), attribute.String("reason", "permanent"))))
			r.set.Logger.Error("The pipeline refused records for good; they are dropped", zap.String("transport", transport), zap.Int("records", n), zap.Error(err))
			return
		}
		if !logged {
			logged = true
			r.set.Logger.Warn("The pipeline refuses records for now; reading waits and retries", zap.String("transport", transport), zap.Int("records", n), zap.Error(err))
		}
		select {
		case <-time.After(pause):
		case <-r.abort:
			r.tb.ReceiverAuditsyslogDroppedMessages.Add(context.Background(), int64(n),
				metric.WithAttributeSet(attribute.NewSet(attribute.String("receiver", r.set.ID.String()), attribute.String("transport", transport), attribute.String("reason", "shutdown"))))
			r.set.Logger.Error("Shutdown timed out while the pipeline refused records; they are dropped", zap.String("transport", transport), zap.Int("records", n), zap.Error(err))
			return
		}
		pause = min(2*pause, time.Second)
	}
}

func (r *syslogReceiver) newObsReport(transport string) (*receiverhelper.ObsReport, error) {
	return receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             r.set.ID,
		Transport:              transport,
		ReceiverCreateSettings: r.set,
	})
}

// addr returns the address a listener bound, nil when it is off.
func (r *syslogReceiver) addr(transport string) net.Addr {
	for _, l := range r.streams {
		if l.transport == transport {
			return l.ln.Addr()
		}
	}
	for _, l := range r.datagrams {
		if l.transport == transport {
			return l.conn.LocalAddr()
		}
	}
	return nil
}
