// Package ctreplay parses CTReplay audit events (seed 001): JSON objects
// {ts, domain, userID, ipAddress, action, params, level}, posted as one
// object, a JSON array or JSON lines.
package ctreplay // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/ctreplay"

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonmap"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/events"
)

// The fields of a CTReplay audit event that the record mapping reads. The
// others (domain, userID, ipAddress, level) are kept as attributes only.
const (
	FieldTS     = "ts"
	FieldAction = "action"
	FieldParams = "params"
)

// Parser turns CTReplay bodies into records.
type Parser struct {
	// MonthFirst reads ts as MM/DD/YYYY instead of DD/MM/YYYY.
	MonthFirst bool
	// Location is the zone of ts, which carries none. Nil means UTC.
	Location *time.Location
}

// Parse appends one record per event in body to out.
//
// Mapping: Timestamp = ts, EventName = action, Body = "<action> <params>"
// (just action when params is empty), attributes = the event's fields in
// their order. A ts or action that is missing or unreadable flags the
// record (audit.parse_error names the field); Timestamp then stays unset
// and consumers use ObservedTimestamp.
func (p Parser) Parse(body []byte, opts events.Options, out plog.LogRecordSlice) events.Result {
	var res events.Result
	jsonmap.Walk(body, opts.Limits, func(ev *jsonmap.Event) {
		prob := events.Problem{Event: ev.Ordinal, Line: ev.Line}
		if ev.Err != nil {
			prob.Error = ev.Err.Error()
			if len(ev.Raw) == 0 {
				res.AddProblem(prob)
				return
			}
			events.Unparseable(out, opts, &res, ev.Raw, prob)
			return
		}
		lr := out.AppendEmpty()
		lr.SetObservedTimestamp(opts.Observed)
		ev.Attrs.MoveTo(lr.Attributes())
		p.fill(lr).Finish(lr, &res, ev.Ordinal, ev.Line)
	})
	return res
}

func (p Parser) fill(lr plog.LogRecord) events.FieldProblems {
	attrs := lr.Attributes()
	var problems events.FieldProblems

	action, ok := events.StrOf(attrs, FieldAction)
	if !ok || action == "" {
		problems.Add(FieldAction, "missing")
	}
	lr.SetEventName(action)
	body := action
	if params, _ := events.StrOf(attrs, FieldParams); params != "" {
		if body != "" {
			body += " "
		}
		body += params
	}
	lr.Body().SetStr(body)

	switch ts, ok := attrs.Get(FieldTS); {
	case !ok || ts.Type() == pcommon.ValueTypeEmpty:
		problems.Add(FieldTS, "missing")
	case ts.Type() != pcommon.ValueTypeStr:
		problems.Add(FieldTS, "is a "+events.TypeName(ts.Type())+", not a string")
	default:
		t, err := ParseTS(ts.Str(), p.MonthFirst, p.Location)
		if err != nil {
			problems.Add(FieldTS, err.Error())
		} else {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
		}
	}
	return problems
}

// ParseTS reads CTReplay's "08/01/2021 - 12:44:30.479": day/month/year (or
// month/day/year), a separator of blanks and at most one '-', and
// hh:mm:ss with an optional fraction of up to 9 digits, in loc.
func ParseTS(s string, monthFirst bool, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	order := "DD/MM/YYYY"
	if monthFirst {
		order = "MM/DD/YYYY"
	}
	fail := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("cannot read %q as %s - hh:mm:ss.fff: %s", s, order, why)
	}
	sc := scanner{s: s}
	a := sc.digits(1, 2)
	sc.expect('/')
	b := sc.digits(1, 2)
	sc.expect('/')
	year := sc.digits(4, 4)
	if sc.bad {
		return fail("bad date")
	}
	blanks := sc.skipBlanks()
	dash := sc.s != "" && sc.s[0] == '-'
	if dash {
		sc.s = sc.s[1:]
		blanks += sc.skipBlanks()
	}
	if blanks == 0 && !dash {
		return fail("no separator between date and time")
	}
	hour := sc.digits(1, 2)
	sc.expect(':')
	minute := sc.digits(2, 2)
	sc.expect(':')
	sec := sc.digits(2, 2)
	nanos := sc.fraction()
	if sc.bad || sc.s != "" {
		return fail("bad time of day")
	}
	day, month := a, b
	if monthFirst {
		day, month = b, a
	}
	if month < 1 || month > 12 {
		return fail(fmt.Sprintf("month %d out of range", month))
	}
	if day < 1 || day > daysIn(time.Month(month), year) {
		return fail(fmt.Sprintf("day %d out of range", day))
	}
	if hour > 23 || minute > 59 || sec > 59 {
		return fail("time of day out of range")
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc), nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// scanner reads fixed-shape date text; the first failure sets bad and
// makes every later read a no-op.
type scanner struct {
	s   string
	bad bool
}

func (sc *scanner) digits(minN, maxN int) int {
	if sc.bad {
		return 0
	}
	n, v := 0, 0
	for n < maxN && n < len(sc.s) && sc.s[n] >= '0' && sc.s[n] <= '9' {
		v = v*10 + int(sc.s[n]-'0')
		n++
	}
	if n < minN {
		sc.bad = true
		return 0
	}
	sc.s = sc.s[n:]
	return v
}

func (sc *scanner) expect(c byte) {
	if sc.bad || sc.s == "" || sc.s[0] != c {
		sc.bad = true
		return
	}
	sc.s = sc.s[1:]
}

func (sc *scanner) skipBlanks() int {
	n := 0
	for n < len(sc.s) && (sc.s[n] == ' ' || sc.s[n] == '\t') {
		n++
	}
	sc.s = sc.s[n:]
	return n
}

// fraction reads an optional '.' or ',' and 1-9 digits as nanoseconds.
func (sc *scanner) fraction() int {
	if sc.bad || sc.s == "" || (sc.s[0] != '.' && sc.s[0] != ',') {
		return 0
	}
	sc.s = sc.s[1:]
	n, v := 0, 0
	for n < len(sc.s) && sc.s[n] >= '0' && sc.s[n] <= '9' {
		if n == 9 {
			sc.bad = true
			return 0
		}
		v = v*10 + int(sc.s[n]-'0')
		n++
	}
	if n == 0 {
		sc.bad = true
		return 0
	}
	for i := n; i < 9; i++ {
		v *= 10
	}
	sc.s = sc.s[n:]
	return v
}
