package format

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/registry"
)

// Payloads: what MSG carries.
const (
	// PayloadRFC5424 is the record's attributes as RFC 5424 structured data
	// and MSG from the message template.
	PayloadRFC5424 = "rfc5424"
	// PayloadCEF is an ArcSight Common Event Format (CEF:0) line as MSG,
	// with no structured data.
	PayloadCEF = "cef"
	// PayloadLEEF is an IBM QRadar Log Event Extended Format (LEEF:2.0)
	// line as MSG, with no structured data.
	PayloadLEEF = "leef"
)

// DefaultLEEFDelimiter separates LEEF attributes. Not a tab, LEEF 1.0's
// separator: rsyslog, the usual relay in front of QRadar, rewrites control
// characters it receives as "#011" unless told not to.
const DefaultLEEFDelimiter = '^'

// DefaultDeviceVersion is the CEF Device Version and LEEF Version.
const DefaultDeviceVersion = "1.0"

// CEF and LEEF severities (0-10 and 1-10) of the syslog levels, most
// severe first.
var (
	cefSeverity  = [...]string{"10", "9", "8", "7", "6", "4", "3", "1"}
	leefSeverity = cefSeverity
)

// siemFields are the record's values the SIEM formats map to their own
// keys.
type siemFields struct {
	names      vendors.SIEMNames
	source     string
	eventName  string
	actor      string
	actorID    string
	target     string
	address    string
	outcome    string
	category   string
	eventID    string
	parseError string
	body       string
	millis     int64
	time       time.Time
	sev        severity.Level
}

// mappedAttrs are the normalized attributes that go to the formats' own
// keys; every other attribute is carried under a derived custom key.
var mappedAttrs = map[string]bool{
	auditrecord.AttrActor: true, auditrecord.AttrActorID: true, auditrecord.AttrTarget: true,
	auditrecord.AttrClientAddress: true, auditrecord.AttrAction: true, auditrecord.AttrOutcome: true,
	auditrecord.AttrCategory: true, auditrecord.AttrEventID: true, auditrecord.AttrParseError: true,
}

func (f *Formatter) siemFieldsOf(res pcommon.Resource, rec plog.LogRecord) siemFields {
	attrs := rec.Attributes()
	str := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	s := siemFields{
		source:     sourceOf(res),
		eventName:  rec.EventName(),
		actor:      str(auditrecord.AttrActor),
		actorID:    str(auditrecord.AttrActorID),
		target:     str(auditrecord.AttrTarget),
		address:    str(auditrecord.AttrClientAddress),
		outcome:    str(auditrecord.AttrOutcome),
		category:   str(auditrecord.AttrCategory),
		eventID:    str(auditrecord.AttrEventID),
		parseError: str(auditrecord.AttrParseError),
		sev:        severityOf(rec),
	}
	if s.eventName == "" {
		s.eventName = str(auditrecord.AttrAction)
	}
	if rec.Body().Type() == pcommon.ValueTypeStr {
		s.body = rec.Body().Str()
	} else {
		s.body = rec.Body().AsString()
	}
	if v, ok := registry.Lookup(s.source); ok {
		s.names = v.SIEM()
	} else {
		s.names = vendors.SIEMNames{Vendor: "otelcol-audit", Product: cmpOr(s.source, "otelcol-audit")}
	}
	ts := rec.Timestamp()
	if ts == 0 {
		ts = rec.ObservedTimestamp()
	}
	if ts == 0 {
		s.time = f.opts.Now()
	} else {
		s.time = ts.AsTime()
	}
	s.millis = s.time.UnixMilli()
	return s
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isIP reports whether s is an IPv4 or IPv6 address, which CEF's src and
// LEEF's src require.
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// customKeys derives the keys of the attributes without a key of their own
// in the format: the source, then each alphanumeric run of the attribute's
// name capitalized ("log_initiatorUser_UserName" from Glassix is
// glassixLogInitiatorUserUserName), so keys hold only the letters and
// digits both formats allow and never collide with a standard key. A key
// that two attributes would share gets a number (…2, …3).
type customKeys struct {
	prefix string
	seen   map[string]bool
	buf    []byte
}

func newCustomKeys(source string) *customKeys {
	prefix := alnumCamel(nil, cmpOr(source, "audit"), false)
	return &customKeys{prefix: string(prefix), seen: map[string]bool{}}
}

func (c *customKeys) key(attr string) string {
	c.buf = append(c.buf[:0], c.prefix...)
	c.buf = alnumCamel(c.buf, attr, true)
	k := string(c.buf)
	for n := 2; c.seen[k]; n++ {
		k = string(c.buf) + strconv.Itoa(n)
	}
	c.seen[k] = true
	return k
}

// alnumCamel appends the ASCII letters and digits of s to dst, each run
// after a non-alphanumeric character (and the first when upperFirst)
// starting with an upper-case letter.
func alnumCamel(dst []byte, s string, upperFirst bool) []byte {
	up := upperFirst
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			if up {
				c -= 'a' - 'A'
			}
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			up = true
			continue
		}
		dst = append(dst, c)
		up = false
	}
	return dst
}

// otherAttrs calls fn for every attribute of rec without a standard key,
// flattened, in the record's order.
func otherAttrs(rec plog.LogRecord, fn func(k, v string)) {
	attrs := rec.Attributes()
	if !flatten.IsFlat(attrs) {
		flat := pcommon.NewMap()
		flatten.Into(flat, attrs, flatten.Options{})
		attrs = flat
	}
	for k, v := range attrs.All() {
		if mappedAttrs[k] {
			continue
		}
		if v.Type() == pcommon.ValueTypeStr {
			fn(k, v.Str())
		} else {
			fn(k, v.AsString())
		}
	}
}

// appendCEF writes the record as a CEF:0 line (ArcSight's "Implementing
// ArcSight CEF", revision 25):
//
//	CEF:0|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
//
// Header fields escape '\' and '|' with a backslash; they cannot hold a
// line break, which becomes a space (the exact event name is in act).
// Extension values escape '\', '=' and line breaks (\n, \r). The body comes
// last, as msg, so that a message over the size limit is cut inside msg
// only. It returns where msg's value starts.
func (f *Formatter) appendCEF(dst []byte, res pcommon.Resource, rec plog.LogRecord) ([]byte, int) {
	s := f.siemFieldsOf(res, rec)
	dst = append(dst, "CEF:0|"...)
	dst = appendHeaderValue(dst, s.names.Vendor, '|')
	dst = append(dst, '|')
	dst = appendHeaderValue(dst, s.names.Product, '|')
	dst = append(dst, '|')
	dst = appendHeaderValue(dst, f.opts.DeviceVersion, '|')
	dst = append(dst, '|')
	dst = appendHeaderValue(dst, cmpOr(s.eventName, "unknown"), '|')
	dst = append(dst, '|')
	dst = appendHeaderValue(dst, cmpOr(s.eventName, "unknown"), '|')
	dst = append(dst, '|')
	dst = append(dst, cefSeverity[s.sev]...)
	dst = append(dst, '|')

	w := kvWriter{dst: dst, sep: ' ', escape: cefValueEscape}
	w.put("rt", strconv.FormatInt(s.millis, 10))
	w.put("act", s.eventName)
	w.put("suser", s.actor)
	w.put("suid", s.actorID)
	if s.names.TargetIsUser {
		w.put("duser", s.target)
	}
	if isIP(s.address) {
		w.put("src", s.address)
	} else {
		w.put("shost", s.address)
	}
	w.put("outcome", s.outcome)
	w.put("cat", s.category)
	w.put("externalId", s.eventID)
	w.put("cs1Label", "auditSource")
	w.put("cs1", s.source)
	if s.parseError != "" {
		w.put("cs2Label", "parseError")
		w.put("cs2", s.parseError)
	}
	if !s.names.TargetIsUser && s.target != "" {
		w.put("cs3Label", "target")
		w.put("cs3", s.target)
	}
	keys := newCustomKeys(s.source)
	otherAttrs(rec, func(k, v string) { w.put(keys.key(k), v) })
	msgStart := w.putLast("msg", s.body)
	return w.dst, msgStart
}

// appendLEEF writes the record as a LEEF:2.0 line (IBM QRadar's LEEF
// format guide):
//
//	LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|key=value<delim>key=value...
//
// Header fields escape '\' and '|'. Attribute values escape '\', the
// delimiter (\ followed by it) and line breaks (\n, \r). The body comes
// last, as msg. It returns where msg's value starts.
func (f *Formatter) appendLEEF(dst []byte, res pcommon.Resource, rec plog.LogRecord) ([]byte, int) {
	s := f.siemFieldsOf(res, rec)
	delim := f.opts.LEEFDelimiter
	dst = append(dst, "LEEF:2.0|"...)
	dst = appendHeaderValue(dst, s.names.Vendor, '|')
	dst = append(dst, '|')
	dst = appendHeaderValue(dst, s.names.Product, '|')
	dst = append(dst, '|')
	dst = appendHeaderValue(dst, f.opts.DeviceVersion, '|')
	dst = append(dst, '|')
	dst = appendHeaderValue(dst, cmpOr(s.eventName, "unknown"), '|')
	dst = append(dst, '|')
	dst = append(dst, LEEFDelimiterField(delim)...)
	dst = append(dst, '|')

	w := kvWriter{dst: dst, sep: delim, escape: leefValueEscape(delim)}
	w.put("devTime", s.time.UTC().Format(leefTimeLayout))
	w.put("devTimeFormat", leefTimeFormat)
	w.put("sev", leefSeverity[s.sev])
	w.put("cat", s.category)
	w.put("usrName", s.actor)
	if isIP(s.address) {
		w.put("src", s.address)
	} else {
		w.put("srcHost", s.address)
	}
	w.put("action", s.eventName)
	w.put("actorId", s.actorID)
	w.put("target", s.target)
	w.put("outcome", s.outcome)
	w.put("eventId", s.eventID)
	w.put("auditSource", s.source)
	w.put("parseError", s.parseError)
	keys := newCustomKeys(s.source)
	otherAttrs(rec, func(k, v string) { w.put(keys.key(k), v) })
	msgStart := w.putLast("msg", s.body)
	return w.dst, msgStart
}

// LEEF's devTime, with the Java date pattern devTimeFormat names it by.
const (
	leefTimeLayout = "2006-01-02T15:04:05.000-0700"
	leefTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
)

// LEEFDelimiterField is the header's DelimiterCharacter for delim: the
// character itself, or its hex form (x09) when it is not printable.
func LEEFDelimiterField(delim byte) string {
	if delim > ' ' && delim < 0x7f {
		return string(delim)
	}
	return "x" + strconv.FormatUint(uint64(delim)|0x100, 16)[1:]
}

// kvWriter appends key=value pairs separated by sep, leaving out empty
// values.
type kvWriter struct {
	dst    []byte
	sep    byte
	n      int
	escape func(c byte) (byte, bool)
}

func (w *kvWriter) put(key, value string) {
	if value == "" {
		return
	}
	w.putLast(key, value)
}

// putLast writes the pair even when value is empty, and returns where the
// value starts.
func (w *kvWriter) putLast(key, value string) int {
	if w.n > 0 {
		w.dst = append(w.dst, w.sep)
	}
	w.n++
	w.dst = append(w.dst, key...)
	w.dst = append(w.dst, '=')
	start := len(w.dst)
	w.dst = appendEscaped(w.dst, value, w.escape)
	return start
}

// cefValueEscape: '\' and '=' are escaped with a backslash, line breaks
// written as \n and \r.
func cefValueEscape(c byte) (byte, bool) {
	switch c {
	case '\\', '=':
		return c, true
	case '\n':
		return 'n', true
	case '\r':
		return 'r', true
	}
	return 0, false
}

func leefValueEscape(delim byte) func(c byte) (byte, bool) {
	return func(c byte) (byte, bool) {
		switch c {
		case '\\', delim:
			return c, true
		case '\n':
			return 'n', true
		case '\r':
			return 'r', true
		}
		return 0, false
	}
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// appendHeaderValue writes a CEF or LEEF header field: '\' and sep
// escaped with a backslash, line breaks (which a header cannot hold)
// written as spaces, invalid UTF-8 as U+FFFD.
func appendHeaderValue(dst []byte, s string, sep byte) []byte {
	return appendEscaped(dst, lineBreaks.Replace(s), func(c byte) (byte, bool) {
		if c == '\\' || c == sep {
			return c, true
		}
		return 0, false
	})
}

// appendEscaped copies s, writing each byte escape accepts as a backslash
// and the byte it returns, and invalid UTF-8 as U+FFFD.
func appendEscaped(dst []byte, s string, escape func(c byte) (byte, bool)) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = utf8.AppendRune(dst, utf8.RuneError)
				start = i + 1
			}
			i += size
			continue
		}
		if e, ok := escape(c); ok {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', e)
			start = i + 1
		}
		i++
	}
	return append(dst, s[start:]...)
}
