// Package ctreplay parses CTReplay audit events (seed 001): JSON objects with
// the fields ts, domain, userID, ipAddress, action, params, level,
//
//	{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}
//
// into the record contract of ARCHITECTURE.md: the JSON fields become attributes in
// their order, EventName is the action, Body is "<action> <params>" and
// Timestamp comes from ts. It is the one CTReplay parser: the auditwebhook
// receiver (CTReplay over HTTP, bodies split into events by jsonmap.Walk)
// calls Read and Apply on each decoded event, and the auditlog processor
// (CTReplay's log file and syslog output read by contrib receivers) calls
// Parse on each line, so both paths produce the same record and flag the
// same problems in the same words.
package ctreplay // import "github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	// CTReplay runs in its operators' local time zone; embedding the zone
	// database lets `timezone: Europe/Rome` work on hosts without tzdata.
	_ "time/tzdata"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonmap"
	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// The field names of a CTReplay event.
const (
	FieldTS        = "ts"
	FieldDomain    = "domain"
	FieldUserID    = "userID"
	FieldIPAddress = "ipAddress"
	FieldAction    = "action"
	FieldParams    = "params"
	FieldLevel     = "level"
)

// RequiredFields are the fields the record contract is filled from: ts gives
// Timestamp, action gives EventName and Body. An event without one of them
// (absent, null or empty) is flagged "<field>: missing". The other fields may
// be absent as far as the record goes; the auditlog processor's
// normalization needs userID and ipAddress too and flags them itself.
var RequiredFields = []string{FieldTS, FieldAction}

// Limits bound an event's JSON. They are jsonmap's defaults, which the
// auditwebhook receiver applies to request bodies too: 32 levels of nesting,
// 256 members per object, 1 MiB per string, 100 000 elements per array.
// CTReplay's own events are flat objects of seven fields, so input beyond
// these is hostile or not CTReplay's.
var Limits = jsonmap.Limits{}

// DateOrder says how the date part of ts is written.
type DateOrder int

const (
	// DayFirst reads 08/01/2021 as 8 January 2021 (CTReplay's Italian
	// default).
	DayFirst DateOrder = iota
	// MonthFirst reads 08/01/2021 as 1 August 2021.
	MonthFirst
)

// ParseDateOrder reads "day_first" or "month_first".
func ParseDateOrder(s string) (DateOrder, error) {
	switch s {
	case "day_first", "":
		return DayFirst, nil
	case "month_first":
		return MonthFirst, nil
	}
	return 0, fmt.Errorf("unknown date order %q: want day_first or month_first", s)
}

func (o DateOrder) String() string {
	if o == MonthFirst {
		return "month_first"
	}
	return "day_first"
}

// Options control how ts is read. The zero value reads day-first dates in UTC.
type Options struct {
	DateOrder DateOrder
	// Location is the time zone of ts, which carries no offset. Nil is UTC.
	Location *time.Location
}

// Event is what the record contract needs from a parsed event besides its
// attributes.
type Event struct {
	// Time is when the action happened; zero when ts is missing or invalid.
	Time   time.Time
	Action string
	Params string
	Level  string
}

// Body is the record's human-readable message: "<action> <params>", the
// action alone when there are no params, the params alone when there is no
// action.
func (e Event) Body() string {
	switch {
	case e.Params == "":
		return e.Action
	case e.Action == "":
		return e.Params
	}
	return e.Action + " " + e.Params
}

// Apply sets the record contract's EventName, Body and Timestamp from the
// event. Timestamp is left as it was when ts is missing or unreadable:
// unset on a new record, so consumers use ObservedTimestamp.
func (e Event) Apply(r plog.LogRecord) {
	r.SetEventName(e.Action)
	r.Body().SetStr(e.Body())
	if !e.Time.IsZero() {
		r.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
	}
}

// SyntaxError means the text is not one JSON object within Limits. Nothing
// was added to the attributes.
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return "ctreplay: line is not a JSON object: " + e.Msg }

// FieldError means the event is a JSON object but fields the record contract
// is filled from are missing or unreadable. The attributes hold every field
// the event has, and the Event every field that could be read.
type FieldError struct {
	// Problems name one field each, in the order of RequiredFields:
	// "ts: missing", `ts: cannot read "yesterday" as ...: bad date`,
	// "ts: is a number, not a string", "action: missing"; then, when
	// invalid UTF-8 was replaced, where ("column 12: invalid UTF-8 or lone
	// surrogate replaced by U+FFFD"). They are what audit.parse_error holds.
	Problems []string
}

func (e *FieldError) Error() string { return "ctreplay: " + strings.Join(e.Problems, "; ") }

// Parse decodes one line into dst, appending the line's fields in their
// order (DecodeObject), and reads the event's fields from them (Read).
//
// The error is a *SyntaxError (dst untouched, Event zero) or a *FieldError
// (dst and Event filled as far as possible); callers flag the record with
// it and pass the record on.
func Parse(line []byte, dst pcommon.Map, opts Options) (Event, error) {
	attrs := pcommon.NewMap()
	replaced, err := decodeObject(line, attrs)
	if err != nil {
		return Event{}, err
	}
	ev, err := Read(attrs, opts)
	if replaced != "" {
		// The project's JSON rule: the event is kept, flagged as altered.
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Problems = append(fe.Problems, replaced)
		} else {
			err = &FieldError{Problems: []string{replaced}}
		}
	}
	if dst.Len() == 0 {
		attrs.MoveTo(dst)
	} else {
		for k, v := range attrs.All() {
			v.CopyTo(dst.PutEmpty(k))
		}
	}
	return ev, err
}

// Read takes the event's fields from an event already decoded into attrs
// (the auditwebhook receiver decodes request bodies itself, with
// jsonmap.Walk). The error, a *FieldError, names the missing and unreadable
// fields; the Event holds the rest.
func Read(attrs pcommon.Map, opts Options) (Event, error) {
	var ev Event
	var problems []string
	switch ts, ok := attrs.Get(FieldTS); {
	case !present(ts, ok):
		problems = append(problems, missing(FieldTS))
	case ts.Type() != pcommon.ValueTypeStr:
		problems = append(problems, notAString(FieldTS, ts.Type()))
	default:
		t, err := ParseTime(ts.Str(), opts)
		if err != nil {
			problems = append(problems, FieldTS+": "+err.Error())
		} else {
			ev.Time = t
		}
	}
	ev.Action = str(attrs, FieldAction)
	if ev.Action == "" {
		problems = append(problems, missing(FieldAction))
	}
	ev.Params = str(attrs, FieldParams)
	ev.Level = str(attrs, FieldLevel)
	if len(problems) > 0 {
		return ev, &FieldError{Problems: problems}
	}
	return ev, nil
}

// CheckRequired returns "<field>: missing" for each of RequiredFields that
// attrs lacks (absent, null or empty), in the words Read uses. The auditlog
// processor checks records labelled ctreplay with it, so a record the
// receiver already flagged is not flagged again in other words.
func CheckRequired(attrs pcommon.Map) []string {
	var problems []string
	for _, f := range RequiredFields {
		if v, ok := attrs.Get(f); !present(v, ok) {
			problems = append(problems, missing(f))
		}
	}
	return problems
}

func missing(field string) string { return field + ": missing" }

func notAString(field string, t pcommon.ValueType) string {
	name := jsonmap.TypeName(t)
	article := "a"
	if name == "object" || name == "array" {
		article = "an"
	}
	return field + ": is " + article + " " + name + ", not a string"
}

// present reports whether a field is there with a value: not absent, not
// null, not the empty string.
func present(v pcommon.Value, ok bool) bool {
	switch {
	case !ok || v.Type() == pcommon.ValueTypeEmpty:
		return false
	case v.Type() == pcommon.ValueTypeStr:
		return v.Str() != ""
	}
	return true
}

// str returns a field's string form: the string itself, or the JSON text of
// another type (params may be an object); "" when absent or null.
func str(attrs pcommon.Map, key string) string {
	v, ok := attrs.Get(key)
	switch {
	case !ok || v.Type() == pcommon.ValueTypeEmpty:
		return ""
	case v.Type() == pcommon.ValueTypeStr:
		return v.Str()
	}
	return v.AsString()
}

// Looks reports whether text is a JSON object carrying CTReplay's action and
// ts fields, cheaply, so text of other origins is left alone when nobody said
// it is CTReplay's.
func Looks(text string) bool {
	t := strings.TrimSpace(text)
	return strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") &&
		strings.Contains(t, `"`+FieldAction+`"`) && strings.Contains(t, `"`+FieldTS+`"`)
}

// ParseTime reads a ts value: a date, then blanks and/or one '-', then the
// time of day, in opts.Location:
//
//	08/01/2021 - 12:44:30.479    (CTReplay's form)
//	8/1/2021 9:04:05,5           (single digits, no dash, comma fraction)
//
// The date is day/month/year unless opts says month first; the fraction has
// up to 9 digits and is kept in full. An RFC 3339 timestamp, which carries
// its own offset, is accepted too. A time a log record cannot hold (1970 or
// before, after 2262) is an error rather than a wrapped timestamp.
func ParseTime(ts string, opts Options) (time.Time, error) {
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	t, why := parseCTReplayTime(ts, opts.DateOrder, loc)
	if why != "" {
		t3339, err := time.Parse(time.RFC3339Nano, ts)
		if err == nil {
			t, why = t3339, ""
		}
	}
	if why == "" {
		if !t.After(minTime) || t.After(maxTime) {
			return time.Time{}, fmt.Errorf("%q is outside the time a log record can hold (after 1970-01-01T00:00:00Z, up to 2262-04-11T23:47:16Z)", ts)
		}
		return t, nil
	}
	form := "DD/MM/YYYY - hh:mm:ss[.fff]"
	if opts.DateOrder == MonthFirst {
		form = "MM/DD/YYYY - hh:mm:ss[.fff]"
	}
	return time.Time{}, fmt.Errorf("cannot read %q as %s or RFC 3339: %s", ts, form, why)
}

// A record's Timestamp is nanoseconds since 1970 in a uint64, 0 meaning
// unset, and Go computes it through an int64: times outside (minTime,
// maxTime] would come out wrapped or unset.
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, math.MaxInt64)
)

func parseCTReplayTime(s string, order DateOrder, loc *time.Location) (time.Time, string) {
	sc := timeScanner{s: s}
	a := sc.digits(1, 2)
	sc.expect('/')
	b := sc.digits(1, 2)
	sc.expect('/')
	year := sc.digits(4, 4)
	if sc.bad {
		return time.Time{}, "bad date"
	}
	sep := sc.blanks()
	if sc.s != "" && sc.s[0] == '-' {
		sc.s = sc.s[1:]
		sep += 1 + sc.blanks()
	}
	if sep == 0 {
		return time.Time{}, "no separator between date and time"
	}
	hour := sc.digits(1, 2)
	sc.expect(':')
	minute := sc.digits(2, 2)
	sc.expect(':')
	sec := sc.digits(2, 2)
	nanos := sc.fraction()
	if sc.bad || sc.s != "" {
		return time.Time{}, "bad time of day"
	}
	day, month := a, b
	if order == MonthFirst {
		day, month = b, a
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, fmt.Sprintf("month %d out of range", month)
	case day < 1 || day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day():
		return time.Time{}, fmt.Sprintf("day %d out of range", day)
	case hour > 23 || minute > 59 || sec > 59:
		return time.Time{}, "time of day out of range"
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc), ""
}

// timeScanner reads fixed-shape text; the first mismatch sets bad and turns
// every later read into a no-op.
type timeScanner struct {
	s   string
	bad bool
}

func (sc *timeScanner) digits(minN, maxN int) int {
	n, v := 0, 0
	for !sc.bad && n < maxN && n < len(sc.s) && sc.s[n] >= '0' && sc.s[n] <= '9' {
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

func (sc *timeScanner) expect(c byte) {
	if sc.bad || sc.s == "" || sc.s[0] != c {
		sc.bad = true
		return
	}
	sc.s = sc.s[1:]
}

func (sc *timeScanner) blanks() int {
	n := 0
	for n < len(sc.s) && (sc.s[n] == ' ' || sc.s[n] == '\t') {
		n++
	}
	sc.s = sc.s[n:]
	return n
}

// fraction reads an optional '.' or ',' and 1 to 9 digits as nanoseconds.
func (sc *timeScanner) fraction() int {
	if sc.bad || sc.s == "" || (sc.s[0] != '.' && sc.s[0] != ',') {
		return 0
	}
	sc.s = sc.s[1:]
	start := len(sc.s)
	v := sc.digits(1, 9)
	for n := start - len(sc.s); n < 9 && !sc.bad; n++ {
		v *= 10
	}
	return v
}

var bom = []byte("\xef\xbb\xbf")

// DecodeObject decodes text holding exactly one JSON object into dst with
// jsonmap, keeping the order of its keys (encoding/json's maps lose it) and
// jsonmap's type mapping: integers beyond int64 and numbers beyond float64
// keep their literal text, invalid UTF-8 becomes U+FFFD (Parse flags the
// event for it, per internal/jsonpolicy). Leading and trailing
// white space and a UTF-8 byte order mark are allowed; anything else is a
// *SyntaxError naming the line and column and leaves dst untouched: a value
// that is not an object, trailing data, input beyond Limits, and a key
// repeated in one object (two parsers disagreeing on which value wins is a
// known way to smuggle a field past a check).
func DecodeObject(text []byte, dst pcommon.Map) error {
	_, err := decodeObject(text, dst)
	return err
}

// decodeObject is DecodeObject; replaced says, as a problem to flag the
// event with, where invalid UTF-8 was replaced ("" when nothing was).
func decodeObject(text []byte, dst pcommon.Map) (replaced string, err error) {
	skipped := 0
	if bytes.HasPrefix(text, bom) {
		text, skipped = text[len(bom):], len(bom)
	}
	d := jsonmap.NewDecoder(text, Limits)
	if d.AtEOF() {
		return "", &SyntaxError{Msg: "empty"}
	}
	at := func(off int) string {
		line, col := jsonmap.NewLines(text).Locate(off)
		if line == 1 {
			col += skipped
			return fmt.Sprintf("column %d", col)
		}
		return fmt.Sprintf("line %d, column %d", line, col)
	}
	syntax := func(err error) error {
		var je *jsonmap.Error
		if errors.As(err, &je) {
			return &SyntaxError{Msg: at(je.Offset) + ": " + je.Msg}
		}
		return &SyntaxError{Msg: err.Error()}
	}
	if d.Peek() != '{' {
		// Say what it is, or why it is not JSON at all.
		start := d.Offset()
		if err := d.DecodeValue(pcommon.NewValueEmpty()); err != nil {
			return "", syntax(err)
		}
		return "", &SyntaxError{Msg: fmt.Sprintf("%s: a JSON %s, not an object", at(start), jsonmap.KindOf(text[start]))}
	}
	out := pcommon.NewMap()
	if err := d.DecodeObject(out); err != nil {
		return "", syntax(err)
	}
	if !d.AtEOF() {
		return "", &SyntaxError{Msg: at(d.Offset()) + ": trailing data after the object"}
	}
	if n, off := d.TakeReplaced(); n > 0 {
		replaced = at(off) + ": " + jsonpolicy.ReplacedMsg(n)
	}
	out.MoveTo(dst)
	return replaced, nil
}
