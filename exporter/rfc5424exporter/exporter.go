package rfc5424exporter // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/format"
	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/transport"
	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/internal/reuse"
)

type rfc5424Exporter struct {
	cfg       *Config
	logger    *zap.Logger
	formatter *format.Formatter
	telemetry *metadata.TelemetryBuilder
	// One of the two is set by start: sender for syslog transports, relp
	// for RELP.
	sender *transport.Sender
	relp   *transport.RELPSender

	spare reuse.Slot[scratch]

	// id is this exporter's, under which it reports what it delivered
	// (internal/durable's registry: a journal before the fan-out waits for
	// these reports).
	id component.ID

	// failed is exporterhelper's otelcol_exporter_send_failed_log_records,
	// for the records dropped before they reach exporterhelper.
	failed      metric.Int64Counter
	failedAttrs metric.MeasurementOption

	registration durable.Registration
}

func newExporter(cfg *Config, set component.TelemetrySettings) (*rfc5424Exporter, error) {
	hostname := cfg.Hostname
	if hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("hostname: not set and the machine's host name is unknown: %w", err)
		}
		hostname = h
	}
	if hostname == "-" {
		hostname = ""
	}
	opts, err := cfg.formatOptions(hostname)
	if err != nil {
		return nil, err
	}
	f, err := format.New(opts)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	e := &rfc5424Exporter{cfg: cfg, logger: set.Logger, formatter: f, telemetry: tb}
	return e, nil
}

// withFailedCounter gets exporterhelper's failed-records counter: the same
// instrument (scope, name, unit, description), so the records this exporter
// drops before exporterhelper sees them are counted where a user looks.
func (e *rfc5424Exporter) withFailedCounter(set exporter.Settings) error {
	c, err := set.MeterProvider.Meter("go.opentelemetry.io/collector/exporter/exporterhelper").Int64Counter(
		"otelcol_exporter_send_failed_log_records",
		metric.WithDescription("Number of log records in failed attempts to send to destination. At detailed telemetry level, includes attributes: error.type (semantic convention), error.permanent. [Alpha]"),
		metric.WithUnit("{record}"),
	)
	if err != nil {
		return err
	}
	e.failed = c
	e.failedAttrs = metric.WithAttributeSet(attribute.NewSet(
		attribute.String("exporter", set.ID.String()),
		attribute.String("error.type", "_OTHER"),
		attribute.Bool("error.permanent", true),
	))
	return nil
}

// logsExporter drops the records that cannot be formatted before they
// reach exporterhelper. exporterhelper counts a request as all sent or all
// failed (its obsreport sender has no partial count), so a batch with one
// record too large for max_message_size was counted wholly failed although
// the others were sent. Dropped here, the bad record is counted failed and
// logged, and the rest is queued, sent and counted sent as usual.
type logsExporter struct {
	exporter.Logs
	e *rfc5424Exporter
}

func (l logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if durable.Skipped(ctx, l.e.id) {
		// The journal holds the call and hands it over as the queue
		// drains (the SIEM is behind).
		return nil
	}
	good, dropped := l.e.dropUnformattable(ctx, ld)
	if dropped > 0 {
		// Given up for good: a journal must not wait for them. Records
		// dropped here are those not in good; settled by what good lacks.
		kept := map[string]int{}
		countIDs(good, func(id string) { kept[id]++ })
		settleMissing(l.e.id, ld, kept)
	}
	if dropped == ld.LogRecordCount() {
		return nil
	}
	return l.Logs.ConsumeLogs(ctx, good)
}

// Start starts the exporter and registers it as one that reports what it
// delivered; Shutdown unregisters it once its queue is drained.
func (l logsExporter) Start(ctx context.Context, host component.Host) error {
	return l.e.registration.Start(l.e.id, l, func() error { return l.Logs.Start(ctx, host) })
}

func (l logsExporter) Shutdown(ctx context.Context) error {
	return l.e.registration.Stop(func() error { return l.Logs.Shutdown(ctx) })
}

// countIDs calls f with the event id of each of ld's records that has one.
func countIDs(ld plog.Logs, f func(string)) {
	for _, id := range durable.EventIDs(ld) {
		if id != "" {
			f(id)
		}
	}
}

// settleMissing reports as settled ld's records whose ids are not (or
// fewer times) in kept.
func settleMissing(id component.ID, ld plog.Logs, kept map[string]int) {
	var missing []int
	for ord, id := range durable.EventIDs(ld) {
		if id == "" {
			continue
		}
		if kept[id] > 0 {
			kept[id]--
			continue
		}
		missing = append(missing, ord)
	}
	if len(missing) > 0 {
		durable.Settled(id, ld, func(o int) bool {
			_, found := slices.BinarySearch(missing, o)
			return found
		})
	}
}

// headerBound is more than the header and the SD-ID brackets can take:
// PRI, VERSION, TIMESTAMP, HOSTNAME (255), APP-NAME (48), PROCID, MSGID (32)
// and two "[id]" of 32-character SD-IDs.
const headerBound = 512

// surelyFits reports, cheaply, that the part of rec's message that cannot
// be cut (header and structured data; with cef or leef, the header and the
// CEF/LEEF header, whose names come from the event name or attributes) is
// within max_message_size: each PARAM-NAME is at most 32 octets and
// escaping at most triples a value. When it cannot tell, Append decides.
func (e *rfc5424Exporter) surelyFits(res pcommon.Resource, rec plog.LogRecord) bool {
	limit := e.cfg.maxMessageSize()
	n, factor := headerBound, 3
	siem := e.cfg.Format == format.PayloadCEF || e.cfg.Format == format.PayloadLEEF
	if siem {
		// Vendor, product and version (63) names, and the event name twice.
		n, factor = headerBound+1024+6*len(rec.EventName()), 6
	}
	add := func(m pcommon.Map) bool {
		ok := true
		m.Range(func(_ string, v pcommon.Value) bool {
			switch v.Type() {
			case pcommon.ValueTypeStr:
				n += 36 + factor*len(v.Str())
			case pcommon.ValueTypeMap, pcommon.ValueTypeSlice, pcommon.ValueTypeBytes:
				ok = false // flattened or encoded by the formatter
			default:
				n += 36 + 32 // a number or a bool
			}
			return ok && n <= limit
		})
		return ok && n <= limit
	}
	if !add(rec.Attributes()) {
		return false
	}
	return !(siem || e.cfg.IncludeResourceAttributes) || add(res.Attributes())
}

// dropUnformattable returns ld without the records whose header and
// structured data exceed max_message_size (ld itself when there are none,
// which is the rule), and how many it dropped. Dropping is logged and
// counted failed.
func (e *rfc5424Exporter) dropUnformattable(ctx context.Context, ld plog.Logs) (plog.Logs, int) {
	var bad []int // ordinals of the records to drop
	var errs []error
	var buf []byte
	ordinal := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k, ordinal = k+1, ordinal+1 {
				rec := lrs.At(k)
				if e.surelyFits(rl.Resource(), rec) {
					continue
				}
				var err error
				if buf, _, err = e.formatter.Append(buf[:0], rl.Resource(), rec); err != nil {
					bad = append(bad, ordinal)
					errs = append(errs, fmt.Errorf("record %q at %s: %w", rec.EventName(), rec.Timestamp().AsTime().UTC(), err))
				}
			}
		}
	}
	if len(bad) == 0 {
		return ld, 0
	}
	e.logger.Error("Dropping records that cannot be formatted (raise max_message_size); the others are sent",
		zap.Int("dropped", len(bad)), zap.Int("of", ordinal), zap.Error(errors.Join(errs...)))
	if e.failed != nil {
		e.failed.Add(ctx, int64(len(bad)), e.failedAttrs)
	}
	out := plog.NewLogs()
	ld.CopyTo(out)
	ordinal = 0
	out.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(plog.LogRecord) bool {
				drop := len(bad) > 0 && bad[0] == ordinal
				if drop {
					bad = bad[1:]
				}
				ordinal++
				return drop
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	return out, ordinal - out.LogRecordCount()
}

// start prepares the connection but does not open it: the collector must
// start while the SIEM is down.
func (e *rfc5424Exporter) start(ctx context.Context, _ component.Host) error {
	if e.cfg.Transport == TransportRELP {
		rc := transport.RELPConfig{
			Address:         e.cfg.Endpoint,
			Window:          e.cfg.RELP.WindowSize,
			ResponseTimeout: e.cfg.RELP.ResponseTimeout,
		}
		if e.cfg.RELP.TLS {
			tlsCfg, err := e.cfg.TLS.LoadTLSConfig(ctx)
			if err != nil {
				return fmt.Errorf("tls: %w", err)
			}
			rc.TLSConfig = tlsCfg
		}
		s, err := transport.NewRELP(rc)
		if err != nil {
			return err
		}
		e.relp = s
		return nil
	}
	tc := transport.Config{
		Network: e.cfg.Transport,
		Address: e.cfg.Endpoint,
		Framing: e.cfg.framing(),
	}
	if e.cfg.Transport == TransportTLS {
		tlsCfg, err := e.cfg.TLS.LoadTLSConfig(ctx)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		tc.TLSConfig = tlsCfg
	}
	s, err := transport.New(tc)
	if err != nil {
		return err
	}
	e.sender = s
	return nil
}

func (e *rfc5424Exporter) shutdown(context.Context) error {
	switch {
	case e.relp != nil:
		return e.relp.Close()
	case e.sender != nil:
		return e.sender.Close()
	}
	return nil
}

// scratch holds one export's messages. The exporter keeps one spare
// (usually one export runs at a time) so a batch does not grow a new
// buffer of a few MiB each time; a sync.Pool would lose it at every GC.
type scratch struct {
	buf   []byte   // the messages, one after another
	ends  []int    // end of each message in buf
	msgOf []int    // record ordinal -> message index, -1 if unformattable
	msgs  [][]byte // the messages, as slices of buf
	acked []bool   // RELP: message index -> answered 200
}

// maxKeptScratch keeps a batch of unusually large records from pinning its
// buffer for good.
const maxKeptScratch = 16 << 20

func (e *rfc5424Exporter) keepScratch(sc *scratch) {
	if cap(sc.buf) > maxKeptScratch {
		return
	}
	clear(sc.msgs) // no references into buf stay behind
	e.spare.Keep(sc)
}

// pushLogs formats every record and sends the messages in order. Records
// that cannot be formatted were dropped by logsExporter before the queue;
// should one still fail here, it is dropped with a permanent error and
// never holds back the others. When sending fails part-way, only the records not
// yet written are returned for retry, so a retry sends no duplicates of
// what the connection accepted.
func (e *rfc5424Exporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	sc := e.spare.Take()
	defer e.keepScratch(sc)
	n := ld.LogRecordCount()
	buf, ends, msgOf := sc.buf[:0], sc.ends[:0], sc.msgOf[:0]
	var badErrs []error
	truncated := 0

	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				rec := lrs.At(k)
				var cut int
				var err error
				buf, cut, err = e.formatter.Append(buf, rl.Resource(), rec)
				if err != nil {
					msgOf = append(msgOf, -1)
					badErrs = append(badErrs, fmt.Errorf("record %q at %s: %w", rec.EventName(), rec.Timestamp().AsTime().UTC(), err))
					continue
				}
				if cut > 0 {
					truncated++
				}
				msgOf = append(msgOf, len(ends))
				ends = append(ends, len(buf))
			}
		}
	}
	sc.buf, sc.ends, sc.msgOf = buf, ends, msgOf
	if truncated > 0 {
		e.logger.Warn("Message text cut to fit max_message_size", zap.Int("records", truncated), zap.Int("max_message_size", e.cfg.maxMessageSize()))
	}
	var permanent error
	if len(badErrs) > 0 {
		permanent = consumererror.NewPermanent(fmt.Errorf("%d of %d records cannot be sent (raise max_message_size): %w", len(badErrs), n, errors.Join(badErrs...)))
	}

	msgs := sc.msgs[:0]
	start := 0
	for _, end := range ends {
		msgs = append(msgs, buf[start:end:end])
		start = end
	}
	sc.msgs = msgs
	var (
		delivered func(msg int) bool
		err       error
	)
	if e.relp != nil {
		delivered, err = e.sendRELP(ctx, sc)
	} else {
		var sent int
		sent, err = e.sender.Send(ctx, msgs)
		delivered = func(msg int) bool { return msg < sent }
	}
	if err == nil {
		// Delivered, and the unformattable ones given up for good.
		durable.Settled(e.id, ld, nil)
		return permanent
	}
	durable.Settled(e.id, ld, func(ord int) bool {
		m := msgOf[ord]
		return m < 0 || delivered(m)
	})
	if permanent != nil {
		// Only the retryable part goes back to exporterhelper; say what is
		// dropped here so it is not silent.
		e.logger.Error("Dropping records that cannot be formatted", zap.Error(permanent))
	}
	return consumererror.NewLogs(err, unsent(ld, msgOf, delivered))
}

// sendRELP sends the batch's messages over RELP. Only messages the SIEM
// answered 200 count as delivered; the others go back to exporterhelper,
// which sends them again on the next session.
func (e *rfc5424Exporter) sendRELP(ctx context.Context, sc *scratch) (func(int) bool, error) {
	if cap(sc.acked) < len(sc.msgs) {
		sc.acked = make([]bool, len(sc.msgs))
	}
	acked := sc.acked[:len(sc.msgs)]
	res, err := e.relp.Send(ctx, sc.msgs, acked)
	if res.Unconfirmed > 0 {
		e.telemetry.ExporterRfc5424RelpUnconfirmed.Add(ctx, int64(res.Unconfirmed))
		e.logger.Warn("RELP session broke before the SIEM answered; the records are sent again and may arrive twice",
			zap.Int("unconfirmed", res.Unconfirmed), zap.Int("delivered", res.Delivered), zap.Error(err))
	}
	if res.Refused > 0 {
		e.telemetry.ExporterRfc5424RelpRefused.Add(ctx, int64(res.Refused))
	}
	return func(msg int) bool { return acked[msg] }, err
}

// unsent copies the records whose messages were not delivered.
func unsent(ld plog.Logs, msgOf []int, delivered func(msg int) bool) plog.Logs {
	out := plog.NewLogs()
	ld.CopyTo(out)
	ordinal := 0
	out.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(plog.LogRecord) bool {
				m := msgOf[ordinal]
				ordinal++
				return m < 0 || delivered(m) // unformattable, or already delivered
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	return out
}

// exporterhelper (v0.159.0) logs "Exporting failed. Dropping data." at error
// level, with a stack trace and dropped_items, for every request whose send
// failed, before the queue decides what to do with it. When the collector
// stops while the SIEM is down, the retry sender gives up its wait with a
// shutdown error, and a persistent queue keeps such a request for the next
// start (queue/persistent_queue.go: on experr.IsShutdownErr the item is not
// marked dispatched): the line then claims a loss that did not happen.
const (
	helperDropMessage = "Exporting failed. Dropping data."
	// shutdownErrPrefix is how experr.shutdownErr, internal to
	// exporterhelper, spells itself; TestStopWhileSIEMDownClaimsNoLoss
	// fails if a new exporterhelper spells it otherwise.
	shutdownErrPrefix = "interrupted due to shutdown: "
	keptMessage       = "Export interrupted by shutdown: the records are kept in the persistent queue and sent after the next start"
	// journaledMessage is said instead with an in-memory queue whose
	// records a journal (the auditlog processor's) waits for: the audit
	// events are kept there; the collector's own events, which reach the
	// exporter through other pipelines, are not journaled.
	journaledMessage = "Export interrupted by shutdown: the audit events are kept in the auditlog processor's journal and sent after the next start; the collector's own events among them (checkpoints, the viewer's trail) are not kept"
)

// keptOnShutdownCore rewrites that line, for an exporter with a persistent
// queue, or one a journal waits for (an in-memory queue alone does lose
// the request), into a line that says where the records are. Every other
// entry passes unchanged.
type keptOnShutdownCore struct {
	zapcore.Core
	persistent bool
	id         component.ID
}

func (c keptOnShutdownCore) With(fields []zapcore.Field) zapcore.Core {
	return keptOnShutdownCore{c.Core.With(fields), c.persistent, c.id}
}

func (c keptOnShutdownCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if strings.HasPrefix(ent.Message, helperDropMessage) && c.Enabled(ent.Level) {
		return ce.AddCore(ent, c) // decided in Write, which sees the error
	}
	return c.Core.Check(ent, ce)
}

func (c keptOnShutdownCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if !strings.HasPrefix(ent.Message, helperDropMessage) || !interruptedByShutdown(fields) {
		return c.Core.Write(ent, fields)
	}
	key := "kept_items"
	switch {
	case c.persistent:
		ent.Message, ent.Level = keptMessage, zapcore.InfoLevel
	case durable.Watched(c.id):
		ent.Message, ent.Level, key = journaledMessage, zapcore.WarnLevel, "items"
	default:
		return c.Core.Write(ent, fields)
	}
	ent.Stack = ""
	kept := make([]zapcore.Field, 0, len(fields))
	for _, f := range fields {
		if f.Key == "dropped_items" {
			f.Key = key
		}
		kept = append(kept, f)
	}
	return c.Core.Write(ent, kept)
}

func interruptedByShutdown(fields []zapcore.Field) bool {
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType && strings.HasPrefix(err.Error(), shutdownErrPrefix) {
			return true
		}
	}
	return false
}

// helperSettings are the settings exporterhelper gets: with a queue, its
// logger says "kept" where the persistent queue or a journal keeps.
func helperSettings(set exporter.Settings, cfg *Config) exporter.Settings {
	q := cfg.QueueConfig.Get()
	if q == nil {
		return set
	}
	persistent, id := q.StorageID != nil, set.ID
	set.Logger = set.Logger.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return keptOnShutdownCore{core, persistent, id}
	}))
	return set
}
