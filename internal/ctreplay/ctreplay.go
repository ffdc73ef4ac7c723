// Package ctreplay parses CTReplay audit lines (seed 001): one JSON object per
// line with the fields ts, domain, userID, ipAddress, action, params, level,
//
//	{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}
//
// into the record contract of DESIGN.md: the JSON fields become attributes in
// their order, EventName is the action, Body is "<action> <params>" and
// Timestamp comes from ts. The auditwebhook receiver (CTReplay over HTTP) and
// the auditlog processor (CTReplay's log file and syslog output read by
// contrib receivers) both use it, so the two paths produce the same record.
package ctreplay // import "github.com/otelcol-audit/otelcol-audit/internal/ctreplay"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	// CTReplay runs in its operators' local time zone; embedding the zone
	// database lets `timezone: Europe/Rome` work on hosts without tzdata.
	_ "time/tzdata"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// The field names of a CTReplay line.
const (
	FieldTS        = "ts"
	FieldDomain    = "domain"
	FieldUserID    = "userID"
	FieldIPAddress = "ipAddress"
	FieldAction    = "action"
	FieldParams    = "params"
	FieldLevel     = "level"
)

// RequiredFields are the fields without which a line is flagged: when, who,
// from where and what. domain, params and level may be absent.
var RequiredFields = []string{FieldTS, FieldUserID, FieldIPAddress, FieldAction}

// Bounds on a line's JSON, the same as the auditwebhook receiver's decoder.
// CTReplay's own lines are flat objects of seven fields, so input beyond
// these is hostile or not CTReplay; the member bound also bounds the
// quadratic cost of pdata maps, which look keys up by a linear scan.
const (
	MaxDepth         = 32
	MaxObjectMembers = 1000
)

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

// Event is what the record contract needs from a parsed line besides its
// attributes.
type Event struct {
	// Time is when the action happened; zero when ts is missing or invalid.
	Time   time.Time
	Action string
	Params string
	Level  string
}

// Body is the record's human-readable message: "<action> <params>", or the
// action alone when there are no params.
func (e Event) Body() string {
	if e.Params == "" {
		return e.Action
	}
	return e.Action + " " + e.Params
}

// SyntaxError means the line is not one JSON object. Nothing was added to
// the attributes.
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return "ctreplay: line is not a JSON object: " + e.Msg }

// FieldError means the line is a JSON object but some documented fields are
// missing or unreadable. The attributes hold every field the line has, and
// the Event every field that could be read.
type FieldError struct {
	Missing []string // required fields absent or empty
	Invalid []string // present but unreadable: "ts: <why>"
}

func (e *FieldError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "missing field(s) "+strings.Join(e.Missing, ", "))
	}
	parts = append(parts, e.Invalid...)
	return "ctreplay: " + strings.Join(parts, "; ")
}

// Parse decodes one line into dst, appending the line's fields in their
// order (DecodeObject), and reads the event's fields from them (Read).
//
// The error is a *SyntaxError (dst untouched, Event zero) or a *FieldError
// (dst and Event filled as far as possible); callers flag the record with
// it and pass the record on.
func Parse(line []byte, dst pcommon.Map, opts Options) (Event, error) {
	attrs := pcommon.NewMap()
	if err := DecodeObject(line, attrs); err != nil {
		return Event{}, err
	}
	ev, err := Read(attrs, opts)
	if dst.Len() == 0 {
		attrs.MoveTo(dst)
	} else {
		attrs.Range(func(k string, v pcommon.Value) bool {
			v.CopyTo(dst.PutEmpty(k))
			return true
		})
	}
	return ev, err
}

// Read takes the event's fields from a line already decoded into attrs (the
// auditwebhook receiver decodes request bodies itself). The error, a
// *FieldError, names missing and unreadable fields; the Event holds the
// rest.
func Read(attrs pcommon.Map, opts Options) (Event, error) {
	ev, fe := eventOf(attrs, opts)
	if fe != nil {
		return ev, fe
	}
	return ev, nil
}

// Apply sets the record contract's EventName, Body and Timestamp (when
// known) from the event.
func (e Event) Apply(r plog.LogRecord) {
	r.SetEventName(e.Action)
	r.Body().SetStr(e.Body())
	if !e.Time.IsZero() {
		r.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
	}
}

// Looks reports whether text is a JSON object carrying CTReplay's action and
// ts fields, cheaply, so text of other origins is left alone when nobody said
// it is CTReplay's.
func Looks(text string) bool {
	t := strings.TrimSpace(text)
	return strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") &&
		strings.Contains(t, `"`+FieldAction+`"`) && strings.Contains(t, `"`+FieldTS+`"`)
}

// ToRecord parses line into r: attributes (appended), EventName, Body and
// Timestamp. On a *SyntaxError r is left untouched, so the caller can keep the
// raw text as Body and flag it; on a *FieldError r holds what could be read.
func ToRecord(line []byte, r plog.LogRecord, opts Options) error {
	ev, err := Parse(line, r.Attributes(), opts)
	var syn *SyntaxError
	if errors.As(err, &syn) {
		return err
	}
	ev.Apply(r)
	return err
}

func eventOf(attrs pcommon.Map, opts Options) (Event, *FieldError) {
	var ev Event
	var fe FieldError
	str := func(key string) (string, bool) {
		v, ok := attrs.Get(key)
		if !ok || v.Type() == pcommon.ValueTypeEmpty {
			return "", false
		}
		return v.AsString(), true
	}
	for _, k := range RequiredFields {
		if s, ok := str(k); !ok || s == "" {
			fe.Missing = append(fe.Missing, k)
		}
	}
	ev.Action, _ = str(FieldAction)
	ev.Params, _ = str(FieldParams)
	ev.Level, _ = str(FieldLevel)
	if ts, ok := str(FieldTS); ok && ts != "" {
		t, err := ParseTime(ts, opts)
		if err != nil {
			fe.Invalid = append(fe.Invalid, err.Error())
		} else {
			ev.Time = t
		}
	}
	if len(fe.Missing) == 0 && len(fe.Invalid) == 0 {
		return ev, nil
	}
	return ev, &fe
}

// ParseTime reads a ts value: a date, then blanks and/or one '-', then the
// time of day, in opts.Location:
//
//	08/01/2021 - 12:44:30.479    (CTReplay's form)
//	8/1/2021 9:04:05,5           (single digits, no dash, comma fraction)
//
// The date is day/month/year unless opts says month first; the fraction has
// up to 9 digits and is kept in full. An RFC 3339 timestamp, which carries
// its own offset, is accepted too.
func ParseTime(ts string, opts Options) (time.Time, error) {
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	t, why := parseCTReplayTime(ts, opts.DateOrder, loc)
	if why == "" {
		return t, nil
	}
	if t3339, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		return t3339, nil
	}
	form := "DD/MM/YYYY - hh:mm:ss[.fff]"
	if opts.DateOrder == MonthFirst {
		form = "MM/DD/YYYY - hh:mm:ss[.fff]"
	}
	return time.Time{}, fmt.Errorf("ts %q: %s; want %s (%s) or RFC 3339", ts, why, form, opts.DateOrder)
}

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

// DecodeObject decodes text holding exactly one JSON object into dst,
// keeping the order of its keys (encoding/json's maps lose it). Leading and
// trailing white space and a UTF-8 byte order mark are allowed; anything
// else is a *SyntaxError and leaves dst untouched: nesting deeper than
// MaxDepth, more than MaxObjectMembers in one object, and a key repeated in
// one object (two parsers disagreeing on which value wins is a known way to
// smuggle a field past a check).
func DecodeObject(text []byte, dst pcommon.Map) error {
	text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return &SyntaxError{Msg: "empty"}
		}
		return &SyntaxError{Msg: err.Error()}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &SyntaxError{Msg: fmt.Sprintf("starts with %s, want '{'", describe(tok))}
	}
	out := pcommon.NewMap()
	if err := decodeMembers(dec, out, 1); err != nil {
		return &SyntaxError{Msg: err.Error()}
	}
	// Only white space may follow the object. (Checked by hand: another
	// Token call would cost an error allocation per line.)
	if rest := bytes.TrimLeft(text[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return &SyntaxError{Msg: fmt.Sprintf("trailing data after the object at byte %d", dec.InputOffset())}
	}
	out.MoveTo(dst)
	return nil
}

func describe(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return fmt.Sprintf("'%v'", tok)
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// decodeMembers reads an object's members up to and including its '}'.
func decodeMembers(dec *json.Decoder, m pcommon.Map, depth int) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key is %s", describe(tok))
		}
		if m.Len() >= MaxObjectMembers {
			return fmt.Errorf("object has more than %d members", MaxObjectMembers)
		}
		v, loaded := m.GetOrPutEmpty(key)
		if loaded {
			return fmt.Errorf("duplicate key %q", key)
		}
		if err := decodeValue(dec, v, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func decodeValue(dec *json.Decoder, v pcommon.Value, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= MaxDepth {
			return fmt.Errorf("nesting deeper than %d levels", MaxDepth)
		}
		switch t {
		case '{':
			return decodeMembers(dec, v.SetEmptyMap(), depth+1)
		case '[':
			s := v.SetEmptySlice()
			for dec.More() {
				if err := decodeValue(dec, s.AppendEmpty(), depth+1); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ']'
			return err
		}
		return fmt.Errorf("unexpected %q", t)
	case string:
		v.SetStr(t)
	case json.Number:
		lit := string(t)
		if i, err := strconv.ParseInt(lit, 10, 64); err == nil {
			v.SetInt(i)
		} else if f, err := strconv.ParseFloat(lit, 64); err == nil && strings.ContainsAny(lit, ".eE") {
			v.SetDouble(f)
		} else {
			// An integer beyond int64, or a number beyond float64: keep the
			// literal rather than lose digits.
			v.SetStr(lit)
		}
	case bool:
		v.SetBool(t)
	case nil:
		// The empty value is pdata's null; FromRaw(nil) cannot fail.
		_ = v.FromRaw(nil)
	}
	return nil
}
