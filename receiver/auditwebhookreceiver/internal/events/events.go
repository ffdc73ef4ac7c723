// Package events holds what the vendor parsers share: their options, the
// account of one request's events (Result), and the record written for an
// event that could not be parsed.
package events // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/events"

import (
	"strings"
	"unicode/utf8"

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
	lr.Body().SetStr(RawText(raw))
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
func ParseEvents(body []byte, opts Options, out plog.LogRecordSlice, fill func(plog.LogRecord) FieldProblems) Result {
	var res Result
	jsonmap.Walk(body, opts.Limits, func(ev *jsonmap.Event) {
		if ev.Err != nil {
			prob := Problem{Event: ev.Ordinal, Line: ev.Line, Error: ev.Err.Error()}
			if len(ev.Raw) == 0 {
				res.AddProblem(prob)
				return
			}
			Unparseable(out, opts, &res, ev.Raw, prob)
			return
		}
		lr := out.AppendEmpty()
		lr.SetObservedTimestamp(opts.Observed)
		ev.Attrs.MoveTo(lr.Attributes())
		fill(lr).Finish(lr, &res, ev.Ordinal, ev.Line)
	})
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

// RawText returns raw as a string that pdata can export: OTLP requires
// valid UTF-8, so invalid bytes become U+FFFD (the rest is kept exactly).
func RawText(raw []byte) string {
	if utf8.Valid(raw) {
		return string(raw)
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
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
