// Package sippy parses Sippy Softswitch audit records (seed 002): JSON
// objects carrying the Audit Logs Viewer's columns as fields resource,
// action, action_by, date and user_ip, posted as one object, a JSON array or
// JSON lines.
package sippy // import "github.com/otelcol-audit/otelcol-audit/internal/vendors/sippy"

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonmap"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// Parser turns Sippy bodies into records.
type Parser struct {
	// Location is the zone of dates written without one
	// ("2009-11-18 09:57:29"). Nil means UTC.
	Location *time.Location
}

// Parse appends one record per event in body to out.
//
// Mapping: Timestamp = date, EventName = action, Body = "<action>
// <resource>", attributes = the record's fields in their order. A date or
// action that is missing or unreadable flags the record (audit.parse_error
// names the field); Timestamp then stays unset.
func (p Parser) Parse(body []byte, opts vendors.Options, out plog.LogRecordSlice) vendors.Result {
	return vendors.ParseEvents(body, opts, out, p.fill)
}

func (p Parser) fill(lr plog.LogRecord) vendors.FieldProblems {
	attrs := lr.Attributes()
	var problems vendors.FieldProblems

	action, ok := vendors.StrOf(attrs, FieldAction)
	if !ok || action == "" {
		problems.Add(FieldAction, "missing")
	}
	lr.SetEventName(action)
	body := action
	if resource, _ := vendors.StrOf(attrs, FieldResource); resource != "" {
		if body != "" {
			body += " "
		}
		body += resource
	}
	lr.Body().SetStr(body)

	switch date, ok := attrs.Get(FieldDate); {
	case !ok || date.Type() == pcommon.ValueTypeEmpty:
		problems.Add(FieldDate, "missing")
	case date.Type() != pcommon.ValueTypeStr:
		problems.Add(FieldDate, "is a "+jsonmap.TypeName(date.Type())+", not a string")
	default:
		t, err := ParseDate(date.Str(), p.Location)
		if err != nil {
			problems.Add(FieldDate, err.Error())
		} else {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t))
		}
	}
	return problems
}

// ParseDate reads a Sippy date in one of the forms:
//
//	2009-11-18T09:57:29.000Z             RFC 3339, any fraction
//	09:57:29.000 GMT Wed Nov 18 2009     Sippy's API form
//	2009-11-18 09:57:29[.000]            no zone: read in loc
//
// The API form's zone must be GMT, UTC, UT or Z, a numeric offset (+0200,
// -07:00) or one of those with an offset (GMT+0200). Other abbreviations
// are refused: they are ambiguous (CST is both -0600 and +0800) and Go
// would silently read an unknown one as UTC.
func ParseDate(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	// The API form starts with the time of day: try it first, as Sippy's
	// own API writes it.
	if len(s) > 2 && s[2] == ':' {
		return parseAPIDate(s)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot read %q: want RFC 3339 or \"09:57:29.000 GMT Wed Nov 18 2009\"", s)
}

// parseAPIDate reads "09:57:29.000 GMT Wed Nov 18 2009".
func parseAPIDate(s string) (time.Time, error) {
	fields := strings.Fields(s)
	if len(fields) != 6 {
		return time.Time{}, fmt.Errorf("cannot read %q: want \"09:57:29.000 GMT Wed Nov 18 2009\"", s)
	}
	offset, err := parseZone(fields[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read %q: %w", s, err)
	}
	// The zone is applied by hand below, so the layout parses in UTC.
	const layout = "15:04:05.999999999 Mon Jan 2 2006"
	t, err := time.Parse(layout, fields[0]+" "+fields[2]+" "+fields[3]+" "+fields[4]+" "+fields[5])
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read %q: want \"09:57:29.000 GMT Wed Nov 18 2009\"", s)
	}
	if offset == 0 {
		return t, nil
	}
	return t.Add(-time.Duration(offset) * time.Second).In(time.FixedZone(fields[1], offset)), nil
}

// parseZone returns the UTC offset in seconds of a zone token.
func parseZone(z string) (int, error) {
	rest := z
	for _, name := range []string{"GMT", "UTC", "UT", "Z"} {
		if strings.HasPrefix(strings.ToUpper(rest), name) {
			rest = rest[len(name):]
			break
		}
	}
	if rest == "" {
		if z == "" {
			return 0, fmt.Errorf("missing time zone")
		}
		return 0, nil
	}
	sign := 1
	switch rest[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return 0, fmt.Errorf("unknown time zone %q (use GMT, UTC or a numeric offset)", z)
	}
	digits := strings.Replace(rest[1:], ":", "", 1)
	if (len(digits) != 4 && len(digits) != 2) || strings.Trim(digits, "0123456789") != "" {
		return 0, fmt.Errorf("bad time zone offset %q", z)
	}
	hh := int(digits[0]-'0')*10 + int(digits[1]-'0')
	mm := 0
	if len(digits) == 4 {
		mm = int(digits[2]-'0')*10 + int(digits[3]-'0')
	}
	if hh > 23 || mm > 59 {
		return 0, fmt.Errorf("bad time zone offset %q", z)
	}
	return sign * (hh*3600 + mm*60), nil
}
