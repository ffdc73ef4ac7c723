package auditlogprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/metadata"
)

// harness runs one processor against a sink, with real telemetry.
type harness struct {
	t    *testing.T
	proc processor.Logs
	sink *consumertest.LogsSink
	tel  *componenttest.Telemetry
}

func defaultConfig() *Config { return createDefaultConfig().(*Config) }

// start creates and starts a processor with cfg feeding next (a fresh sink
// when nil), on host (a nop host when nil). It is shut down at cleanup.
func start(t *testing.T, cfg *Config, next consumer.Logs, host component.Host) *harness {
	t.Helper()
	h := &harness{t: t, tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { require.NoError(t, h.tel.Shutdown(context.Background())) })
	if next == nil {
		h.sink = new(consumertest.LogsSink)
		next = h.sink
	}
	if host == nil {
		host = componenttest.NewNopHost()
	}
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), host))
	h.proc = p
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return h
}

func (h *harness) consume(ld plog.Logs) error {
	return h.proc.ConsumeLogs(context.Background(), ld)
}

// records returns every record the sink received, with its resource.
func (h *harness) records() []outRecord {
	return collect(h.sink.AllLogs())
}

type outRecord struct {
	res pcommon.Resource
	plog.LogRecord
}

func (o outRecord) source() string {
	v, _ := o.res.Attributes().Get(auditrecord.AttrSource)
	return v.Str()
}

func (o outRecord) attr(k string) string {
	v, ok := o.Attributes().Get(k)
	if !ok {
		return "<absent>"
	}
	return v.AsString()
}

func collect(lds []plog.Logs) []outRecord {
	var out []outRecord
	for _, ld := range lds {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					out = append(out, outRecord{res: rl.Resource(), LogRecord: lrs.At(k)})
				}
			}
		}
	}
	return out
}

// counter returns the value of a telemetry counter for a source.
func (h *harness) counter(name, source string) int64 {
	h.t.Helper()
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value("source"); ok && v.AsString() == source {
			n += dp.Value
		}
	}
	return n
}

// The receiver-shaped input of the record contract.

func logsOf(records ...func(plog.ResourceLogs)) plog.Logs {
	ld := plog.NewLogs()
	for _, add := range records {
		add(ld.ResourceLogs().AppendEmpty())
	}
	return ld
}

// vendorResource adds a resource labelled as the auditwebhook receiver
// does, holding one record per JSON object, its attributes the object's
// fields in order.
func vendorResource(t *testing.T, source string, events ...vendorEvent) func(plog.ResourceLogs) {
	return func(rl plog.ResourceLogs) {
		rl.Resource().Attributes().PutStr(auditrecord.AttrSource, source)
		rl.Resource().Attributes().PutStr(auditrecord.AttrServiceName, source)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for _, ev := range events {
			r := lrs.AppendEmpty()
			require.NoError(t, ctreplay.DecodeObject([]byte(ev.json), r.Attributes()))
			r.SetEventName(ev.name)
			r.Body().SetStr(ev.body)
			r.SetTimestamp(pcommon.NewTimestampFromTime(ev.ts))
			r.SetObservedTimestamp(pcommon.NewTimestampFromTime(ev.ts.Add(time.Second)))
		}
	}
}

type vendorEvent struct {
	name, body, json string
	ts               time.Time
}

// textResource adds a resource as contrib's text receivers make it: no
// audit.source, each record's Body the line (and, for syslog, the message
// attribute).
func textResource(records ...func(plog.LogRecord)) func(plog.ResourceLogs) {
	return func(rl plog.ResourceLogs) {
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for _, fill := range records {
			fill(lrs.AppendEmpty())
		}
	}
}

// fileLine is a record of the filelog receiver.
func fileLine(line string) func(plog.LogRecord) {
	return func(r plog.LogRecord) {
		r.Body().SetStr(line)
		r.Attributes().PutStr("log.file.name", "ctreplay.log")
	}
}

// syslogLine is a record of the syslog receiver (RFC 3164).
func syslogLine(msg string) func(plog.LogRecord) {
	return func(r plog.LogRecord) {
		r.Body().SetStr("<134>Jan  8 12:44:30 ctreplay-host ctreplay[4242]: " + msg)
		a := r.Attributes()
		a.PutStr("hostname", "ctreplay-host")
		a.PutStr("appname", "ctreplay")
		a.PutStr("proc_id", "4242")
		a.PutStr("message", msg)
		a.PutInt("priority", 134)
		a.PutInt("facility", 16)
	}
}

func processortestSettings() processor.Settings {
	return processortest.NewNopSettings(metadata.Type)
}
