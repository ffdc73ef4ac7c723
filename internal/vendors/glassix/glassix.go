// Package glassix parses Glassix webhook envelopes (seed 000) and verifies
// their signatures.
//
// An envelope is {"key", "dateTime", "changes": [{"_event", "log"}, ...]}.
// Each change whose _event is AUDIT_LOGS becomes one record built from its
// log object; other changes are skipped unless configured to be forwarded.
package glassix // import "github.com/otelcol-audit/otelcol-audit/internal/vendors/glassix"

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonmap"
	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// EventAuditLogs is the _event value of audit log changes.
const EventAuditLogs = "AUDIT_LOGS"

// ForwardAll in Parser.ForwardEvents forwards every _event value.
const ForwardAll = "*"

// Attributes added to every record from the envelope. Their names cannot
// collide with the log's own fields, which never contain a dot.
const (
	AttrKey              = "glassix.key"
	AttrEnvelopeDateTime = "glassix.envelope_dateTime"
)

// The fields of a log object that the record mapping reads.
const (
	FieldDateTime = "dateTime"
	FieldType     = "type"
	FieldMessage  = "message"
)

// Envelope and change member names.
const (
	memberKey      = "key"
	memberDateTime = "dateTime"
	memberChanges  = "changes"
	memberEvent    = "_event"
	memberLog      = "log"
)

// Parser turns Glassix envelopes into records.
type Parser struct {
	// ForwardEvents lists _event values other than AUDIT_LOGS whose changes
	// are forwarded as records (attributes = the whole change object);
	// ForwardAll forwards every one. Others are counted as skipped.
	ForwardEvents []string
}

// envelopeError is a problem with the envelope's structure: the body as a
// whole is not a Glassix envelope.
type envelopeError struct{ msg string }

func (e *envelopeError) Error() string { return e.msg }

// Parse appends one record per forwarded change of the envelope in body
// to out.
//
// AUDIT_LOGS mapping: Timestamp = log.dateTime (all 7 fractional digits
// kept), EventName = log.type, Body = log.message, attributes = the log's
// fields in their order, then glassix.key and glassix.envelope_dateTime. A
// missing or unreadable dateTime or type flags the record.
//
// A change that is not a well-formed object with an _event, or whose log
// is not an object, is unparseable on its own: its raw text is flagged and
// the other changes are unaffected. A body that is not an envelope at all
// (not JSON, no changes array) is one unparseable event: its raw text.
func (p Parser) Parse(body []byte, opts vendors.Options, out plog.LogRecordSlice) vendors.Result {
	recs := plog.NewLogRecordSlice()
	res, err := p.parseEnvelope(body, opts, recs)
	if err != nil {
		var broken vendors.Result
		vendors.Unparseable(out, opts, &broken, body, vendors.Problem{Error: "not a Glassix envelope: " + err.Error()})
		return broken
	}
	recs.MoveAndAppendTo(out)
	return res
}

type pending struct {
	lr       plog.LogRecord
	problems vendors.FieldProblems
	event    int
	// other marks a forwarded non-audit change, timed by the envelope.
	other bool
	// replaced counts the change's bad bytes replaced by U+FFFD.
	replaced replacements
}

// replacements counts invalid UTF-8 bytes and lone surrogates replaced by
// U+FFFD, with the offset of the first.
type replacements struct{ n, first int }

func (r *replacements) add(n, first int) {
	if n > 0 && r.n == 0 {
		r.first = first
	}
	r.n += n
}

// flag adds the problem saying what was replaced, if anything.
func (r replacements) flag(problems vendors.FieldProblems, lines *jsonmap.Lines) vendors.FieldProblems {
	if r.n == 0 {
		return problems
	}
	line, col := lines.Locate(r.first)
	return append(problems, fmt.Sprintf("line %d, column %d: %s", line, col, jsonpolicy.ReplacedMsg(r.n)))
}

func (p Parser) parseEnvelope(body []byte, opts vendors.Options, recs plog.LogRecordSlice) (vendors.Result, error) {
	var res vendors.Result
	d := jsonmap.NewDecoder(body, opts.Limits)
	lines := jsonmap.NewLines(body)
	key, envDate := pcommon.NewValueEmpty(), pcommon.NewValueEmpty()
	var done []pending
	// envReplaced counts the bad bytes replaced outside any change (the
	// envelope's key or dateTime, which every record carries).
	var envReplaced replacements
	seen := map[string]bool{}
	sawChanges := false

	err := d.Object(func(name string, nameOffset int) error {
		if seen[name] {
			return &jsonmap.Error{Offset: nameOffset, Kind: jsonmap.DuplicateKey, Msg: jsonpolicy.DuplicateKeyMsg(name)}
		}
		seen[name] = true
		switch name {
		case memberKey:
			return d.DecodeValue(key)
		case memberDateTime:
			return d.DecodeValue(envDate)
		case memberChanges:
			sawChanges = true
			if c := d.Peek(); c != '[' {
				return &envelopeError{fmt.Sprintf("%q is not an array", memberChanges)}
			}
			return d.Array(func(i int) error {
				envReplaced.add(d.TakeReplaced())
				pd, err := p.change(d, lines, i, opts, recs, &res)
				if pd != nil {
					done = append(done, *pd)
				}
				return err
			})
		default:
			return d.DecodeValue(pcommon.NewValueEmpty()) // other envelope members are not kept
		}
	})
	if err == nil && !d.AtEOF() {
		err = fmt.Errorf("unexpected data after the envelope at byte %d", d.Offset())
	}
	envReplaced.add(d.TakeReplaced())
	if err == nil && !sawChanges {
		err = &envelopeError{fmt.Sprintf("no %q array", memberChanges)}
	}
	if err != nil {
		var je *jsonmap.Error
		if errors.As(err, &je) {
			line, col := lines.Locate(je.Offset)
			return res, fmt.Errorf("line %d, column %d: %s", line, col, je.Msg)
		}
		return res, err
	}

	envTime, envTimeOK := time.Time{}, false
	if envDate.Type() == pcommon.ValueTypeStr {
		envTime, envTimeOK = parseDateTimeOK(envDate.Str())
	}
	for i := 0; i < recs.Len(); i++ {
		attrs := recs.At(i).Attributes()
		if key.Type() != pcommon.ValueTypeEmpty {
			key.CopyTo(attrs.PutEmpty(AttrKey))
		}
		if envDate.Type() != pcommon.ValueTypeEmpty {
			envDate.CopyTo(attrs.PutEmpty(AttrEnvelopeDateTime))
		}
	}
	for _, pd := range done {
		if pd.other && envTimeOK {
			pd.lr.SetTimestamp(pcommon.NewTimestampFromTime(envTime))
		}
		// The project's JSON rule: text with bad bytes replaced is kept,
		// and flagged as altered.
		pd.problems = pd.replaced.flag(pd.problems, lines)
		pd.problems = envReplaced.flag(pd.problems, lines)
		pd.problems.Finish(pd.lr, &res, pd.event, 0)
	}
	return res, nil
}

// change handles changes[i]. It returns a pending record to finish once
// the envelope is read, or an error that breaks the envelope.
func (p Parser) change(d *jsonmap.Decoder, lines *jsonmap.Lines, i int, opts vendors.Options, recs plog.LogRecordSlice, res *vendors.Result) (*pending, error) {
	body := d.Data()
	d.SkipSpace()
	start := d.Offset()
	v := pcommon.NewValueEmpty()
	prob := vendors.Problem{Event: i + 1}
	if err := d.DecodeValue(v); err != nil {
		var je *jsonmap.Error
		if !errors.As(err, &je) || je.Kind == jsonmap.Syntax {
			return nil, err
		}
		// Well-formed but refused (a limit, a duplicate key): this change
		// alone is unparseable, kept as its raw text.
		d.TakeReplaced()
		d.Seek(start)
		if serr := d.Skip(); serr != nil {
			return nil, err
		}
		line, col := lines.Locate(je.Offset)
		prob.Error = fmt.Sprintf("changes[%d]: line %d, column %d: %s", i, line, col, je.Msg)
		vendors.Unparseable(recs, opts, res, body[start:d.Offset()], prob)
		return nil, nil
	}
	raw := body[start:d.Offset()]
	var replaced replacements
	replaced.add(d.TakeReplaced())
	unparseable := func(format string, args ...any) (*pending, error) {
		prob.Error = fmt.Sprintf("changes[%d]: ", i) + fmt.Sprintf(format, args...)
		vendors.Unparseable(recs, opts, res, raw, prob)
		return nil, nil
	}
	if v.Type() != pcommon.ValueTypeMap {
		return unparseable("is a %s, not an object", jsonmap.TypeName(v.Type()))
	}
	change := v.Map()
	ev, ok := change.Get(memberEvent)
	if !ok || ev.Type() != pcommon.ValueTypeStr {
		return unparseable("no %q string", memberEvent)
	}
	name := ev.Str()
	if name == EventAuditLogs {
		log, ok := change.Get(memberLog)
		if !ok || log.Type() != pcommon.ValueTypeMap {
			return unparseable("%q is missing or not an object", memberLog)
		}
		lr := recs.AppendEmpty()
		lr.SetObservedTimestamp(opts.Observed)
		log.Map().MoveTo(lr.Attributes())
		return &pending{lr: lr, problems: fillAuditLog(lr), event: i + 1, replaced: replaced}, nil
	}
	if !p.forwards(name) {
		res.Skipped++
		return nil, nil
	}
	lr := recs.AppendEmpty()
	lr.SetObservedTimestamp(opts.Observed)
	lr.SetEventName(name)
	lr.Body().SetStr(name)
	change.MoveTo(lr.Attributes())
	return &pending{lr: lr, event: i + 1, other: true, replaced: replaced}, nil
}

func (p Parser) forwards(event string) bool {
	return slices.Contains(p.ForwardEvents, ForwardAll) || slices.Contains(p.ForwardEvents, event)
}

func fillAuditLog(lr plog.LogRecord) vendors.FieldProblems {
	attrs := lr.Attributes()
	var problems vendors.FieldProblems
	switch dt, ok := attrs.Get(FieldDateTime); {
	case !ok || dt.Type() == pcommon.ValueTypeEmpty:
		problems.Add(FieldDateTime, "missing")
	case dt.Type() != pcommon.ValueTypeStr:
		problems.Add(FieldDateTime, "is a "+jsonmap.TypeName(dt.Type())+", not a string")
	default:
		t, err := ParseDateTime(dt.Str())
		if err != nil {
			problems.Add(FieldDateTime, err.Error())
		} else {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
		}
	}
	typ, ok := vendors.StrOf(attrs, FieldType)
	if !ok || typ == "" {
		problems.Add(FieldType, "missing")
	}
	lr.SetEventName(typ)
	msg, _ := vendors.StrOf(attrs, FieldMessage)
	lr.Body().SetStr(msg)
	return problems
}

// ParseDateTime reads a Glassix dateTime: RFC 3339 with any number of
// fractional digits up to 9 (Glassix sends 7: 2024-01-15T11:19:07.7935597Z).
// A value without a zone is read as UTC, as .NET writes UTC times.
func ParseDateTime(s string) (time.Time, error) {
	if t, ok := parseDateTimeOK(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot read %q as an RFC 3339 date-time", s)
}

func parseDateTimeOK(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}
