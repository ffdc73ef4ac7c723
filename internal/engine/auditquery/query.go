package auditquery

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	// Zone names in the tz parameter must resolve on hosts without
	// /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/otelcol-audit/otelcol-audit/internal/severity"
)

// The query parameters, as the HTTP API and ParseQuery name them. The CLI's
// flags carry the same names.
const (
	ParamSource    = "source"
	ParamResource  = "resource"
	ParamAction    = "action"
	ParamActor     = "actor"
	ParamSeverity  = "severity"
	ParamText      = "text"
	ParamSince     = "since"
	ParamUntil     = "until"
	ParamTZ        = "tz"
	ParamIntegrity = "integrity"
	ParamLimit     = "limit"
	ParamPage      = "page"
	ParamCursor    = "cursor"
	ParamParse     = "parse"
)

// Values of the parse parameter.
const (
	ParseAll    = ""       // every line
	ParseFailed = "failed" // only records flagged audit.parse_error (input not all readable)
	ParseOK     = "ok"     // only records read whole
)

// Values of the integrity parameter.
const (
	IntegrityAll      = ""         // every line
	IntegrityOK       = "ok"       // only lines whose integrity check passed
	IntegrityProblems = "problems" // only lines whose check failed, and writer alarms
)

// Query is a parsed filter. The zero Query matches every line.
type Query struct {
	// Sources: the line's source must be one of these (exact).
	Sources []string
	// Resource, Actor: case-insensitive substrings of the Resource and
	// Action by columns.
	Resource, Actor string
	// Actions: the Action column must match one of these, ignoring case:
	// contain it ("Login" finds LoginFailed and LoginSucceeded, "Recording"
	// DELETE Recording), equal it when it starts with '=' ("=U": Sippy's
	// code U only), or match it as a pattern when it holds '*', which
	// matches any run of characters ("DELETE *", "MFA_*").
	Actions []string
	// Severity, when HasSeverity: the level at least this severe (or
	// exactly this level with SeverityExact).
	Severity      severity.Level
	HasSeverity   bool
	SeverityExact bool
	// Text: a case-insensitive substring of any shown column: source,
	// resource, action, actor, client address, message.
	Text string
	// Since, Until bound the Date column, both inclusive; zero means
	// unbounded.
	Since, Until time.Time
	// Integrity is IntegrityAll, IntegrityOK or IntegrityProblems.
	Integrity string
	// Parse is ParseAll, ParseFailed or ParseOK.
	Parse string
}

// PageRequest selects which rows of the result to return.
type PageRequest struct {
	Limit int // rows per page
	// Page is 1-based; ignored when Cursor is set.
	Page int
	// Last asks for the last page (the oldest rows) instead of Page.
	Last bool
	// Cursor continues after the last row of an earlier page (its
	// NextCursor): stable while new events arrive.
	Cursor string
}

// ParseOptions are the defaults ParseQuery applies.
type ParseOptions struct {
	// Location reads since/until written without an offset when tz is not
	// given (default UTC).
	Location     *time.Location
	DefaultLimit int // default 50
	MaxLimit     int // default 1000; 0 for none (exports)
}

// ParseQuery reads the query parameters (see the Param* constants). Every
// problem is reported at once, naming the parameter.
func ParseQuery(v url.Values, opts ParseOptions) (Query, PageRequest, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.DefaultLimit <= 0 {
		opts.DefaultLimit = 50
	}
	var (
		q    Query
		p    = PageRequest{Limit: opts.DefaultLimit, Page: 1}
		errs []error
	)
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	q.Sources = splitList(get(ParamSource))
	q.Actions = splitList(get(ParamAction))
	q.Resource = get(ParamResource)
	q.Actor = get(ParamActor)
	q.Text = get(ParamText)
	if s := get(ParamSeverity); s != "" {
		exact := strings.HasPrefix(s, "=")
		l, err := severity.Parse(strings.TrimPrefix(s, "="))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (prefix with '=' for exactly that level)", ParamSeverity, err))
		}
		q.Severity, q.HasSeverity, q.SeverityExact = l, err == nil, exact
	}
	loc := opts.Location
	if tz := get(ParamTZ); tz != "" {
		l, err := parseZone(tz)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ParamTZ, err))
		} else {
			loc = l
		}
	}
	var err error
	if s := get(ParamSince); s != "" {
		if q.Since, _, err = parseTime(s, loc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ParamSince, err))
		}
	}
	if s := get(ParamUntil); s != "" {
		var until time.Time
		var step time.Duration
		if until, step, err = parseTime(s, loc); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ParamUntil, err))
		} else {
			// Inclusive at the precision written: until 09:18 takes in 09:18:59.9.
			q.Until = until.Add(step - time.Nanosecond)
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		errs = append(errs, fmt.Errorf("%s is before %s", ParamUntil, ParamSince))
	}
	switch i := get(ParamIntegrity); i {
	case IntegrityAll, "all":
	case IntegrityOK, IntegrityProblems:
		q.Integrity = i
	default:
		errs = append(errs, fmt.Errorf("%s: %q: want ok, problems or all", ParamIntegrity, i))
	}
	switch v := get(ParamParse); v {
	case ParseAll, "all":
	case ParseFailed, ParseOK:
		q.Parse = v
	default:
		errs = append(errs, fmt.Errorf("%s: %q: want failed, ok or all", ParamParse, v))
	}
	if s := get(ParamLimit); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil || n < 1:
			errs = append(errs, fmt.Errorf("%s: %q: want a whole number of at least 1", ParamLimit, s))
		case opts.MaxLimit > 0 && n > opts.MaxLimit:
			errs = append(errs, fmt.Errorf("%s: %d is more than the maximum page size %d", ParamLimit, n, opts.MaxLimit))
		default:
			p.Limit = n
		}
	}
	if s := get(ParamPage); s == "last" {
		p.Last = true
	} else if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s: %q: want a whole number of at least 1, or last", ParamPage, s))
		} else {
			p.Page = n
		}
	}
	if s := get(ParamCursor); s != "" {
		if _, err := decodeCursor(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ParamCursor, err))
		} else {
			p.Cursor = s
		}
	}
	return q, p, errors.Join(errs...)
}

// splitList splits a comma-separated value, dropping empty items.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// timeLayouts are the zone-less forms since/until accept, with the
// precision each gives: the date-time-local form of an HTML input
// (2024-01-11T09:18, with seconds when the step allows), a space instead of
// the T, and a bare date.
var timeLayouts = []struct {
	layout string
	step   time.Duration
}{
	{"2006-01-02T15:04", time.Minute},
	{"2006-01-02T15:04:05", time.Second},
	{"2006-01-02 15:04", time.Minute},
	{"2006-01-02 15:04:05", time.Second},
	{"2006-01-02", 24 * time.Hour},
}

// parseTime reads RFC 3339 (any offset, up to nine fraction digits) or a
// zone-less local form in loc, and returns the time and the precision it
// was written with.
func parseTime(s string, loc *time.Location) (time.Time, time.Duration, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), fractionStep(s), nil
	}
	// RFC 3339 without seconds, as a minute-precise instant.
	if t, err := time.Parse("2006-01-02T15:04Z07:00", s); err == nil {
		return t.UTC(), time.Minute, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
			return t.UTC(), l.step, nil
		}
	}
	// Seconds with a fraction, zone-less.
	for _, l := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t.UTC(), fractionStep(s), nil
		}
	}
	return time.Time{}, 0, fmt.Errorf("%q: want RFC 3339 (2024-01-11T09:18:32Z, 2024-01-11T11:18:32+02:00, 2024-01-11T09:18Z) or a local date-time (2024-01-11T09:18, 2024-01-11 09:18:32, 2024-01-11)", s)
}

// fractionStep is the precision of an RFC 3339 or fractional time: a
// second, or the last fraction digit written.
func fractionStep(s string) time.Duration {
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return time.Second
	}
	digits := 0
	for _, c := range s[dot+1:] {
		if c < '0' || c > '9' {
			break
		}
		digits++
	}
	step := time.Second
	for range min(digits, 9) {
		step /= 10
	}
	return step
}

// LoadZone reads a tz value as ParseQuery does: an IANA zone name, UTC,
// Local, or a fixed offset (+02:00).
func LoadZone(s string) (*time.Location, error) { return parseZone(s) }

// parseZone reads an IANA zone name, UTC, Local, or a fixed offset
// (+02:00, -0530, Z).
func parseZone(s string) (*time.Location, error) {
	if s == "Z" {
		return time.UTC, nil
	}
	if s[0] == '+' || s[0] == '-' {
		for _, l := range []string{"-07:00", "-0700", "-07"} {
			if t, err := time.Parse(l, s); err == nil {
				_, off := t.Zone()
				return time.FixedZone(s, off), nil
			}
		}
		return nil, fmt.Errorf("offset %q: want +hh:mm", s)
	}
	l, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: want an IANA name (Europe/Rome), UTC, Local or an offset (+02:00)", s)
	}
	return l, nil
}

// cursor is the sort key of the last row of a page: rows come newest
// first, ordered by (time, seq, sub) descending, where sub orders lines
// without chain fields after the sealed line before them.
type cursor struct {
	time int64
	seq  uint64
	sub  uint32
}

func (c cursor) encode() string {
	s := strconv.FormatInt(c.time, 10) + "." + strconv.FormatUint(c.seq, 10) + "." + strconv.FormatUint(uint64(c.sub), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(s string) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, errors.New("not a cursor from an earlier page's next_cursor")
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 {
		return cursor{}, errors.New("not a cursor from an earlier page's next_cursor")
	}
	t, err1 := strconv.ParseInt(parts[0], 10, 64)
	seq, err2 := strconv.ParseUint(parts[1], 10, 64)
	sub, err3 := strconv.ParseUint(parts[2], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return cursor{}, errors.New("not a cursor from an earlier page's next_cursor")
	}
	return cursor{time: t, seq: seq, sub: uint32(sub)}, nil
}

// less orders keys oldest first.
func (c cursor) less(d cursor) bool {
	if c.time != d.time {
		return c.time < d.time
	}
	if c.seq != d.seq {
		return c.seq < d.seq
	}
	return c.sub < d.sub
}

// Values is the inverse of ParseQuery for the filter part: the parameters
// that select q (used for download links and tests).
func (q Query) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set(ParamSource, strings.Join(q.Sources, ","))
	set(ParamAction, strings.Join(q.Actions, ","))
	set(ParamResource, q.Resource)
	set(ParamActor, q.Actor)
	set(ParamText, q.Text)
	if q.HasSeverity {
		s := q.Severity.String()
		if q.SeverityExact {
			s = "=" + s
		}
		set(ParamSeverity, s)
	}
	if !q.Since.IsZero() {
		set(ParamSince, q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		set(ParamUntil, q.Until.Format(time.RFC3339Nano))
	}
	set(ParamIntegrity, q.Integrity)
	set(ParamParse, q.Parse)
	return v
}

// matchAction reports whether action matches one of the patterns (see
// Query.Actions).
func matchAction(patterns []string, action string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool {
		switch {
		case strings.HasPrefix(p, "="):
			return strings.EqualFold(p[1:], action)
		case strings.Contains(p, "*"):
			return globFold(p, action)
		}
		return newFoldNeedle(p).in(action)
	})
}

// globFold matches s against p ignoring case, '*' matching any run of
// characters.
func globFold(p, s string) bool {
	if !strings.Contains(p, "*") {
		return strings.EqualFold(p, s)
	}
	parts := strings.Split(p, "*")
	ls := strings.ToLower(s)
	first, last := strings.ToLower(parts[0]), strings.ToLower(parts[len(parts)-1])
	if !strings.HasPrefix(ls, first) {
		return false
	}
	ls = ls[len(first):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(ls, strings.ToLower(mid))
		if i < 0 {
			return false
		}
		ls = ls[i+len(mid):]
	}
	return strings.HasSuffix(ls, last)
}
