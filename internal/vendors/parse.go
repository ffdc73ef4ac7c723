// Package vendors holds what the vendor parsers share: their options, the
// account of one request's events (Result), and the record written for an
// event that could not be parsed.
package vendors // import "github.com/otelcol-audit/otelcol-audit/internal/vendors"

import (
	"bytes"
	"strings"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/jsonmap"
)

// MaxProblems is how many problems a Result lists; the rest are counted.
const MaxProblems = 10

// Options are the parsers' common settings.
type Options struct {
	// Observed is the receipt time, set on every record.
	Observed pcommon.Timestamp
	// ForwardUnparsed makes an unparseable event a flagged record (Body =
	// its raw text, attribute audit.parse_error) instead of dropping it.
	ForwardUnparsed bool
	// Limits bound the JSON decoder.
	Limits jsonmap.Limits

	// Flush, when set, hands on the records in out, made from size bytes
	// of the body, each time out holds FlushAt of them and at the end, so
	// the records of a large body are never in memory all at once; out is
	// empty afterwards. It reports whether to go on: after false (the
	// pipeline refused), the parser adds no more records and stops
	// counting. Parsers that must read the whole body before any record is
	// valid (a Glassix envelope) never call it and leave their records in
	// out.
	Flush   func(out plog.LogRecordSlice, size int) bool
	FlushAt int

	// Owned is the request body when records may keep references into it:
	// it is never modified or reused after parsing. The raw text of an
	// unparseable event that is at least half of it then shares its memory
	// instead of being copied. Nil when the body is a reused buffer.
	Owned []byte
}

// Problem is one thing wrong in a request, for the HTTP response.
type Problem struct {
	// Event is the 1-based position of the event in the request; 0 when the
	// problem is not one event's (a broken envelope).
	Event int `json:"event,omitempty"`
	// Line is the 1-based line where the event starts, for JSON lines.
	Line  int    `json:"line,omitempty"`
	Error string `json:"error"`
}

// Result accounts for every event of one request.
type Result struct {
	// Parsed records carry the vendor's fields and no audit.parse_error.
	Parsed int
	// Flagged records carry audit.parse_error: the raw text of an event
	// that could not be parsed, or a parsed event with a bad field.
	Flagged int
	// Dropped events could not be parsed and were not forwarded, because
	// forwarding of unparsed input is off.
	Dropped int
	// Unreadable counts the events that could not be parsed at all
	// (forwarded as raw text or dropped), a subset of Flagged+Dropped.
	Unreadable int
	// Skipped events are not audit events (Glassix changes whose _event
	// is not forwarded).
	Skipped int
	// Problems lists the first MaxProblems problems in request order.
	Problems []Problem
	// ProblemCount counts all problems, listed or not.
	ProblemCount int
}

// AddProblem records a problem, keeping the first MaxProblems.
func (r *Result) AddProblem(p Problem) {
	r.ProblemCount++
	if len(r.Problems) < MaxProblems {
		r.Problems = append(r.Problems, p)
	}
}

// Unparseable handles an event that could not be parsed at all: a flagged
// record holding its raw text when forwarding is on, else a dropped event.
// line is 0 when the input is not JSON lines.
func Unparseable(out plog.LogRecordSlice, opts Options, res *Result, raw []byte, p Problem) {
	res.AddProblem(p)
	res.Unreadable++
	if !opts.ForwardUnparsed {
		res.Dropped++
		return
	}
	res.Flagged++
	lr := out.AppendEmpty()
	lr.SetObservedTimestamp(opts.Observed)
	lr.Body().SetStr(opts.rawText(raw))
	lr.Attributes().PutStr(auditrecord.AttrParseError, p.Error)
	if p.Line > 0 {
		lr.Attributes().PutInt(auditrecord.AttrParseLine, int64(p.Line))
	}
}

// ParseEvents appends one record per event in body (one object, a JSON
// array or JSON lines, split by jsonmap.Walk within opts.Limits) to out. An
// event that cannot be parsed goes to Unparseable. A decoded event becomes a
// record with the receipt time and the event's members as attributes, in
// their order; fill then sets the rest of the record contract from them and
// returns the problems that flag it.
//
// With opts.Flush set, the records are handed on every opts.FlushAt
// events and at the end; after a refusal the rest of the body is skipped.
func ParseEvents(body []byte, opts Options, out plog.LogRecordSlice, fill func(plog.LogRecord) FieldProblems) Result {
	var res Result
	stopped := false
	pending := 0 // bytes of the events in out
	jsonmap.Walk(body, opts.Limits, func(ev *jsonmap.Event) {
		if stopped {
			return
		}
		if ev.Err != nil {
			prob := Problem{Event: ev.Ordinal, Line: ev.Line, Error: ev.Err.Error()}
			if len(ev.Raw) == 0 {
				res.AddProblem(prob)
				return
			}
			Unparseable(out, opts, &res, ev.Raw, prob)
		} else {
			lr := out.AppendEmpty()
			lr.SetObservedTimestamp(opts.Observed)
			ev.Attrs.MoveTo(lr.Attributes())
			problems := fill(lr)
			if ev.Replaced != "" {
				// The project's JSON rule: kept, and flagged as altered.
				problems = append(problems, ev.Replaced)
			}
			problems.Finish(lr, &res, ev.Ordinal, ev.Line)
		}
		pending += len(ev.Raw)
		if opts.Flush != nil && out.Len() >= max(opts.FlushAt, 1) {
			stopped = !opts.Flush(out, pending)
			pending = 0
		}
	})
	if opts.Flush != nil && !stopped && out.Len() > 0 {
		// The body is no longer needed here: while the last records wait
		// for the pipeline, it may be freed unless they share it.
		opts.Owned = nil
		opts.Flush(out, pending)
	}
	return res
}

// FieldProblems collects the problems with single fields of an otherwise
// parsed event; the record keeps all its fields and gets one
// audit.parse_error naming every bad field.
type FieldProblems []string

// Add notes a problem with a field.
func (f *FieldProblems) Add(field, msg string) {
	*f = append(*f, field+": "+msg)
}

// Finish flags lr when there were problems and counts the event.
func (f FieldProblems) Finish(lr plog.LogRecord, res *Result, event, line int) {
	if len(f) == 0 {
		res.Parsed++
		return
	}
	msg := strings.Join(f, "; ")
	lr.Attributes().PutStr(auditrecord.AttrParseError, msg)
	if line > 0 {
		lr.Attributes().PutInt(auditrecord.AttrParseLine, int64(line))
	}
	res.Flagged++
	res.AddProblem(Problem{Event: event, Line: line, Error: msg})
}

// rawText returns raw as a string that pdata can export: OTLP requires
// valid UTF-8, so invalid bytes become U+FFFD (the rest is kept exactly).
// It does not copy when raw lies in an owned body and is at least half of
// it: the record then keeps the body alive, which costs at most twice the
// text itself, rather than doubling the memory of a near-limit body. A smaller event is copied, so it never pins a large
// body (a body padded with blanks around one small event) in a queue.
func (o *Options) rawText(raw []byte) string {
	if !utf8.Valid(raw) {
		return validUTF8(raw)
	}
	if len(raw) > 0 && o.Owned != nil && 2*len(raw) >= len(o.Owned) {
		return unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	return string(raw)
}

// validUTF8 returns raw with each run of invalid bytes replaced by U+FFFD,
// in a single copy: the new bytes are referenced by nothing else, so the
// string may share them.
func validUTF8(raw []byte) string {
	b := bytes.ToValidUTF8(raw, []byte("\uFFFD"))
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// StrOf returns the string form of an attribute value: the string itself,
// or the JSON text of any other type. The second result is false when the
// attribute is absent or null.
func StrOf(m pcommon.Map, key string) (string, bool) {
	v, ok := m.Get(key)
	if !ok || v.Type() == pcommon.ValueTypeEmpty {
		return "", false
	}
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str(), true
	}
	return v.AsString(), true
}
