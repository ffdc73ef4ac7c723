// Package format turns log records that follow the project's record contract
// (ARCHITECTURE.md) into RFC 5424 syslog messages:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID name="value" ...] MSG
//
// Every field is made valid rather than rejected: header fields keep only
// printable US-ASCII and are cut to their RFC lengths, SD-PARAM names are
// repaired and made unique, SD-PARAM values are escaped, and invalid UTF-8
// becomes U+FFFD. The only record that cannot be formatted is one whose
// header and structured data alone exceed the maximum message size
// (ErrTooLarge): cutting structured data would hand the SIEM an audit record
// that looks complete but is not.
package format // import "github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/format"

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
	"github.com/otelcol-audit/otelcol-audit/internal/severity"
)

// Field lengths of RFC 5424, section 6.
const (
	MaxHostnameLen  = 255
	MaxAppNameLen   = 48
	MaxProcIDLen    = 128
	MaxMsgIDLen     = 32
	MaxSDNameLen    = 32
	nilValue        = "-"
	timestampLayout = "2006-01-02T15:04:05.000000Z"
)

// ErrTooLarge is returned for a record whose header and structured data do
// not fit in the maximum message size even with an empty MSG.
var ErrTooLarge = errors.New("header and structured data exceed the maximum message size")

// Options configures a Formatter. The zero value is not usable: see New.
type Options struct {
	// Facility is the syslog facility code, 0-23.
	Facility int
	// Hostname is the HOSTNAME field; empty means NILVALUE.
	Hostname string
	// AppName, when set, is used for every record instead of the record's
	// audit.source (or service.name) resource attribute.
	AppName string
	// MsgID, when set, is used for every record instead of its event name.
	MsgID string
	// SDID names the element holding the record's attributes.
	SDID string
	// ResourceSDID, when set, names a second element holding the resource
	// attributes.
	ResourceSDID string
	// Template builds MSG; see ParseTemplate. Empty means DefaultTemplate.
	Template string
	// EscapeNewlines writes LF, CR and NUL as the two characters \n, \r and
	// \0 everywhere in the message, so newline (non-transparent) framing
	// cannot split a record in two.
	EscapeNewlines bool
	// MaxSize is the largest message in octets, framing excluded; 0 means
	// no limit.
	MaxSize int
	// Now is the clock used when a record has neither timestamp; nil means
	// time.Now.
	Now func() time.Time
	// Payload is what MSG carries: PayloadRFC5424 (empty means it),
	// PayloadCEF or PayloadLEEF.
	Payload string
	// DeviceVersion is the CEF Device Version and LEEF Version; empty
	// means DefaultDeviceVersion.
	DeviceVersion string
	// LEEFDelimiter separates LEEF attributes; 0 means
	// DefaultLEEFDelimiter.
	LEEFDelimiter byte
}

// Formatter formats records. It holds no mutable state: one Formatter may
// be used from several goroutines.
type Formatter struct {
	opts     Options
	hostname string
	appName  string
	msgID    string
	tmpl     Template
}

// New checks opts and returns a Formatter.
func New(opts Options) (*Formatter, error) {
	var errs []error
	if opts.Facility < 0 || opts.Facility > 23 {
		errs = append(errs, fmt.Errorf("facility %d is out of range 0-23", opts.Facility))
	}
	if err := ValidSDName(opts.SDID); err != nil {
		errs = append(errs, fmt.Errorf("sd_id: %w", err))
	}
	if opts.ResourceSDID != "" {
		if err := ValidSDName(opts.ResourceSDID); err != nil {
			errs = append(errs, fmt.Errorf("resource_sd_id: %w", err))
		}
		if opts.ResourceSDID == opts.SDID {
			errs = append(errs, fmt.Errorf("resource_sd_id must differ from sd_id %q", opts.SDID))
		}
	}
	tmplText := opts.Template
	if tmplText == "" {
		tmplText = DefaultTemplate
	}
	tmpl, err := ParseTemplate(tmplText)
	if err != nil {
		errs = append(errs, err)
	}
	switch opts.Payload {
	case "", PayloadRFC5424, PayloadCEF, PayloadLEEF:
	default:
		errs = append(errs, fmt.Errorf("format: unknown format %q: want rfc5424, cef or leef", opts.Payload))
	}
	if opts.LEEFDelimiter == '=' || opts.LEEFDelimiter == '\\' || opts.LEEFDelimiter == '|' || opts.LEEFDelimiter == '\n' || opts.LEEFDelimiter == '\r' || opts.LEEFDelimiter >= 0x80 {
		errs = append(errs, fmt.Errorf("leef.delimiter: %q cannot separate attributes: it is '=', '\\', '|', a line break or not ASCII", opts.LEEFDelimiter))
	}
	if opts.MaxSize < 0 {
		errs = append(errs, fmt.Errorf("maximum message size %d is negative", opts.MaxSize))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DeviceVersion == "" {
		opts.DeviceVersion = DefaultDeviceVersion
	}
	if opts.LEEFDelimiter == 0 {
		opts.LEEFDelimiter = DefaultLEEFDelimiter
	}
	return &Formatter{
		opts:     opts,
		hostname: headerField(opts.Hostname, MaxHostnameLen),
		appName:  opts.AppName,
		msgID:    opts.MsgID,
		tmpl:     tmpl,
	}, nil
}

// Append formats rec, which belongs to res, and appends the message to dst.
// It reports how many octets of MSG were cut to respect MaxSize. On error
// dst is returned unchanged.
func (f *Formatter) Append(dst []byte, res pcommon.Resource, rec plog.LogRecord) ([]byte, int, error) {
	start := len(dst)
	sev := severityOf(rec)
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(f.opts.Facility*8+int(sev)), 10)
	dst = append(dst, ">1 "...)
	dst = f.appendTimestamp(dst, rec)
	dst = append(dst, ' ')
	dst = append(dst, f.hostname...)
	dst = append(dst, ' ')
	appName := f.appName
	if appName == "" {
		appName = sourceOf(res)
	}
	dst = appendHeaderField(dst, appName, MaxAppNameLen)
	dst = append(dst, " - "...) // PROCID: the collector's pid would mislead
	msgID := f.msgID
	if msgID == "" {
		msgID = rec.EventName()
	}
	dst = appendHeaderField(dst, msgID, MaxMsgIDLen)
	dst = append(dst, ' ')

	if f.opts.Payload == PayloadCEF || f.opts.Payload == PayloadLEEF {
		// The whole event is in MSG; structured data would repeat it.
		dst = append(dst, nilValue...)
		dst = append(dst, ' ')
		var cutFrom int
		if f.opts.Payload == PayloadCEF {
			dst, cutFrom = f.appendCEF(dst, res, rec)
		} else {
			dst, cutFrom = f.appendLEEF(dst, res, rec)
		}
		return f.fit(dst, start, cutFrom, true)
	}

	sdStart := len(dst)
	dst = f.appendElement(dst, f.opts.SDID, rec.Attributes())
	if f.opts.ResourceSDID != "" {
		dst = f.appendElement(dst, f.opts.ResourceSDID, res.Attributes())
	}
	if len(dst) == sdStart {
		dst = append(dst, nilValue...)
	}

	msgStart := len(dst) + 1
	dst = append(dst, ' ')
	dst = f.appendMsg(dst, res, rec)
	if len(dst) == msgStart { // no MSG: the SP before it goes too
		dst = dst[:msgStart-1]
	}
	return f.fit(dst, start, msgStart, false)
}

// fit cuts the message starting at start in dst to MaxSize, only from
// cutFrom on (MSG, or a CEF/LEEF msg value), at a character boundary and,
// when escaped, never inside a backslash escape. It reports the octets
// cut, or ErrTooLarge when what precedes cutFrom does not fit.
func (f *Formatter) fit(dst []byte, start, cutFrom int, escaped bool) ([]byte, int, error) {
	if f.opts.MaxSize <= 0 || len(dst)-start <= f.opts.MaxSize {
		return dst, 0, nil
	}
	limit := start + f.opts.MaxSize
	if cutFrom-1 > limit || (escaped && cutFrom > limit) {
		size := cutFrom - start
		if !escaped {
			size = cutFrom - 1 - start
		}
		return dst[:start], 0, fmt.Errorf("%w: %d octets before the message text, limit %d", ErrTooLarge, size, f.opts.MaxSize)
	}
	cut := limit
	for cut > cutFrom && !utf8.RuneStart(dst[cut]) {
		cut--
	}
	if escaped {
		// An odd run of backslashes before the cut would leave an escape
		// without its character.
		n := 0
		for i := cut - 1; i >= cutFrom && dst[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			cut--
		}
	}
	cutLen := len(dst) - cut
	if !escaped && cut == cutFrom {
		cut-- // nothing of MSG is left: drop its SP as well
	}
	return dst[:cut], cutLen, nil
}

// Format is Append to a new slice.
func (f *Formatter) Format(res pcommon.Resource, rec plog.LogRecord) ([]byte, int, error) {
	return f.Append(nil, res, rec)
}

func (f *Formatter) appendTimestamp(dst []byte, rec plog.LogRecord) []byte {
	ts := rec.Timestamp()
	if ts == 0 {
		ts = rec.ObservedTimestamp()
	}
	var t time.Time
	if ts == 0 {
		t = f.opts.Now()
	} else {
		t = ts.AsTime()
	}
	// Go's formatting truncates fractions, so .9999999 never becomes the
	// next second.
	return t.UTC().AppendFormat(dst, timestampLayout)
}

func severityOf(rec plog.LogRecord) severity.Level {
	return severity.FromOTel(rec.SeverityNumber())
}

// sourceOf is the record's APP-NAME: audit.source, else service.name.
func sourceOf(res pcommon.Resource) string {
	for _, k := range []string{auditrecord.AttrSource, auditrecord.AttrServiceName} {
		if v, ok := res.Attributes().Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}

// appendElement writes [id name="value" ...] for attrs, flattened in their
// order, or nothing when attrs is empty.
func (f *Formatter) appendElement(dst []byte, id string, attrs pcommon.Map) []byte {
	if attrs.Len() == 0 {
		return dst
	}
	if !flatten.IsFlat(attrs) {
		flat := pcommon.NewMap()
		flatten.Into(flat, attrs, flatten.Options{})
		attrs = flat
	}
	dst = append(dst, '[')
	dst = append(dst, id...)
	names := newNameSet(attrs.Len())
	attrs.Range(func(k string, v pcommon.Value) bool {
		dst = append(dst, ' ')
		dst = append(dst, names.claim(k)...)
		dst = append(dst, '=', '"')
		if v.Type() == pcommon.ValueTypeStr {
			dst = f.appendParamValue(dst, v.Str())
		} else {
			dst = f.appendParamValue(dst, v.AsString())
		}
		dst = append(dst, '"')
		return true
	})
	return append(dst, ']')
}

// appendParamValue escapes '"', '\' and ']' as RFC 5424 section 6.3.3
// requires.
func (f *Formatter) appendParamValue(dst []byte, s string) []byte {
	return f.appendText(dst, s, true)
}

// appendMsgText appends free text to MSG: valid UTF-8, and with newlines
// escaped when framing needs it.
func (f *Formatter) appendMsgText(dst []byte, s string) []byte {
	return f.appendText(dst, s, false)
}

// appendText copies s, replacing invalid UTF-8 with U+FFFD, escaping what a
// PARAM-VALUE must escape when sdValue is set, and writing LF, CR and NUL as
// \n, \r and \0 when EscapeNewlines is set. Runs of bytes that need nothing
// are copied whole.
func (f *Formatter) appendText(dst []byte, s string, sdValue bool) []byte {
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
		switch {
		case sdValue && (c == '"' || c == '\\' || c == ']'):
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', c)
			start = i + 1
		case f.opts.EscapeNewlines && (c == '\n' || c == '\r' || c == 0):
			dst = append(dst, s[start:i]...)
			if sdValue {
				// Read back as backslash + letter: the backslash itself is
				// escaped, so the value stays strictly valid.
				dst = append(dst, '\\')
			}
			dst = append(dst, '\\', escapeLetter(c))
			start = i + 1
		}
		i++
	}
	return append(dst, s[start:]...)
}

func escapeLetter(c byte) byte {
	switch c {
	case '\n':
		return 'n'
	case '\r':
		return 'r'
	default:
		return '0'
	}
}

// headerField keeps printable US-ASCII (33-126) of s, replacing anything
// else with '_', cut to max octets; empty becomes NILVALUE.
func headerField(s string, maxLen int) string {
	return string(appendHeaderField(nil, s, maxLen))
}

func appendHeaderField(dst []byte, s string, maxLen int) []byte {
	if s == "" {
		return append(dst, nilValue...)
	}
	n := 0
	for _, r := range s {
		if n == maxLen {
			break
		}
		if r >= 33 && r <= 126 {
			dst = append(dst, byte(r))
		} else {
			dst = append(dst, '_')
		}
		n++
	}
	return dst
}

// ValidSDName reports whether s is a valid SD-ID or PARAM-NAME: 1-32
// printable US-ASCII characters other than '=', ' ', ']' and '"'.
func ValidSDName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > MaxSDNameLen {
		return fmt.Errorf("%q is longer than %d characters", s, MaxSDNameLen)
	}
	for i := 0; i < len(s); i++ {
		if !sdNameChar(s[i]) {
			return fmt.Errorf("%q contains %q: only printable US-ASCII other than '=', ']', '\"' and space is allowed", s, s[i])
		}
	}
	return nil
}

func sdNameChar(c byte) bool {
	return c > 32 && c < 127 && c != '=' && c != ']' && c != '"'
}
