package rfc5424exporter // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter"

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/format"
	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/transport"
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
	return &rfc5424Exporter{cfg: cfg, logger: set.Logger, formatter: f, telemetry: tb}, nil
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

// pushLogs formats every record and sends the messages in order. A record
// that cannot be formatted is dropped with a permanent error and never
// holds back the others. When sending fails part-way, only the records not
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
		return permanent
	}
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
