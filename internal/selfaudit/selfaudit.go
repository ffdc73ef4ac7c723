// Package selfaudit carries the collector's own audit events into its
// pipelines: the auditfile exporter's signed checkpoints (so that each
// leaves the host through the SIEM path) and the audit viewer's record of
// its use (failed logins, queries, downloads).
//
// Producers (an exporter, an extension) cannot emit into a pipeline; the
// auditself receiver can. This package is the hand-off between them: a
// process-wide buffer per stream that producers publish to without
// blocking and one receiver per stream drains. Records published while no
// receiver is running wait in the buffer (up to BufferSize per stream),
// so the checkpoints an exporter writes at start, before receivers start,
// are not lost.
package selfaudit // import "github.com/otelcol-audit/otelcol-audit/internal/selfaudit"

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
)

// The streams.
const (
	StreamCheckpoints = "checkpoints"
	StreamViewer      = "viewer"
)

// Source is the audit.source of every record of this package.
const Source = "otelcol-audit"

// BufferSize bounds the records waiting per stream.
const BufferSize = 4096

// Record is one audit event of the collector itself, in the terms of the
// record contract.
type Record struct {
	Time         time.Time
	Event        string // EventName; the SIEM's MSGID
	Severity     plog.SeverityNumber
	SeverityText string
	Body         string
	Attributes   map[string]any // string, int64 or bool values
}

type stream struct {
	ch         chan Record
	subscribed bool
}

var (
	mu      sync.Mutex
	streams = map[string]*stream{}
)

func get(name string) *stream {
	mu.Lock()
	defer mu.Unlock()
	s := streams[name]
	if s == nil {
		s = &stream{ch: make(chan Record, BufferSize)}
		streams[name] = s
	}
	return s
}

// Publish hands r to the stream's receiver without blocking. It returns
// false when the buffer is full (no receiver drains the stream).
func Publish(name string, r Record) bool {
	select {
	case get(name).ch <- r:
		return true
	default:
		return false
	}
}

// Subscribe makes the caller the stream's one receiver. cancel ends the
// subscription; records not yet taken stay for the next subscriber.
func Subscribe(name string) (records <-chan Record, cancel func(), err error) {
	s := get(name)
	mu.Lock()
	defer mu.Unlock()
	if s.subscribed {
		return nil, nil, fmt.Errorf("stream %q already has a receiver: configure one auditself receiver per stream", name)
	}
	s.subscribed = true
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			mu.Lock()
			s.subscribed = false
			mu.Unlock()
		})
	}, nil
}

// Subscribed reports whether a receiver drains the stream now.
func Subscribed(name string) bool {
	s := get(name)
	mu.Lock()
	defer mu.Unlock()
	return s.subscribed
}

// AppendTo adds r to ld as one log record with the resource attributes
// audit.source and service.name set to Source, and an audit.event_id of
// its own (unless the record's attributes name one): the id the auditlog
// processor's journal and the exporters' delivery reports go by, so the
// collector's own events can be journaled like the vendors'.
func AppendTo(ld plog.Logs, rs []Record) {
	res := ld.ResourceLogs().AppendEmpty()
	res.Resource().Attributes().PutStr("audit.source", Source)
	res.Resource().Attributes().PutStr("service.name", Source)
	sl := res.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/otelcol-audit/otelcol-audit/internal/selfaudit")
	for _, r := range rs {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.Time))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(r.Time))
		lr.SetEventName(r.Event)
		lr.SetSeverityNumber(r.Severity)
		lr.SetSeverityText(r.SeverityText)
		lr.Body().SetStr(r.Body)
		attrs := lr.Attributes()
		for k, v := range r.Attributes {
			switch v := v.(type) {
			case string:
				attrs.PutStr(k, v)
			case int64:
				attrs.PutInt(k, v)
			case int:
				attrs.PutInt(k, int64(v))
			case uint64:
				attrs.PutInt(k, int64(v))
			case bool:
				attrs.PutBool(k, v)
			default:
				attrs.PutStr(k, fmt.Sprint(v))
			}
		}
		if _, ok := attrs.Get(auditrecord.AttrEventID); !ok {
			attrs.PutStr(auditrecord.AttrEventID, newEventID())
		}
	}
}

// newEventID returns a random id: the collector's own events have no
// vendor id, and two collectors (or two runs) must not share one.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return Source + ":" + hex.EncodeToString(b[:])
}
