// Package siemformat reads CEF and LEEF lines strictly, for tests: what the
// specifications forbid is an error, never guessed around. The lenient
// parsers SIEMs and libraries ship accept malformed escapes, so a test that
// only used them could not tell a correct formatter from a sloppy one.
//
// CEF follows ArcSight's "Implementing ArcSight CEF" (revision 25):
//
//	CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
//
// In the header, '\' and '|' are escaped with a backslash and nothing else
// may be; a header holds no line break. The extension is key=value pairs
// separated by one space; keys are letters and digits; in values '\' and
// '=' are escaped with a backslash, line breaks are written \n or \r, and
// no other escape exists. A key may appear once.
//
// LEEF follows IBM's LEEF format guide (LEEF 1.0 and 2.0):
//
//	LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|key=value<delim>key=value
//
// LEEF 1.0 has no DelimiterCharacter and separates attributes by a tab.
// The header escapes '|' and '\' with a backslash. The guide defines no
// escape inside attribute values; this reader accepts the one the project
// documents (a backslash before '\', the delimiter, and n or r for line
// breaks) and refuses any other backslash, a raw line break, an empty or
// repeated key.
package siemformat // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/siemformat"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CEF is one parsed CEF line.
type CEF struct {
	Version                                   int
	Vendor, Product, DeviceVersion, Signature string
	Name                                      string
	Severity                                  string
	// Extension holds the extension's pairs, unescaped; Keys their order.
	Extension map[string]string
	Keys      []string
}

// LEEF is one parsed LEEF line.
type LEEF struct {
	Version                         string
	Vendor, Product, ProductVersion string
	EventID                         string
	Delimiter                       byte
	Attributes                      map[string]string
	Keys                            []string
}

// headerFields splits n pipe-separated header fields off s, unescaping
// \| and \\; it returns the fields and the rest after the n-th pipe.
func headerFields(s string, n int) ([]string, string, error) {
	var fields []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 == len(s) || (s[i+1] != '\\' && s[i+1] != '|') {
				return nil, "", fmt.Errorf("header field %d: backslash not followed by '\\' or '|'", len(fields)+1)
			}
			i++
			b.WriteByte(s[i])
		case '|':
			fields = append(fields, b.String())
			b.Reset()
			if len(fields) == n {
				return fields, s[i+1:], nil
			}
		case '\n', '\r':
			return nil, "", fmt.Errorf("header field %d: line break", len(fields)+1)
		default:
			b.WriteByte(c)
		}
	}
	return nil, "", fmt.Errorf("header: %d fields, want %d", len(fields), n)
}

var cefSeverities = map[string]bool{"Unknown": true, "Low": true, "Medium": true, "High": true, "Very-High": true}

func validKey(k string) error {
	if k == "" {
		return errors.New("empty key")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("key %q: %q is not a letter or digit", k, c)
		}
	}
	return nil
}

// ParseCEF reads one CEF line (without a syslog header).
func ParseCEF(line string) (CEF, error) {
	rest, ok := strings.CutPrefix(line, "CEF:")
	if !ok {
		return CEF{}, errors.New(`does not start with "CEF:"`)
	}
	fields, ext, err := headerFields(rest, 7)
	if err != nil {
		return CEF{}, err
	}
	var c CEF
	if c.Version, err = strconv.Atoi(fields[0]); err != nil || (c.Version != 0 && c.Version != 1) {
		return CEF{}, fmt.Errorf("version %q: want 0 or 1", fields[0])
	}
	c.Vendor, c.Product, c.DeviceVersion, c.Signature, c.Name = fields[1], fields[2], fields[3], fields[4], fields[5]
	c.Severity = fields[6]
	if n, err := strconv.Atoi(c.Severity); (err != nil || n < 0 || n > 10) && !cefSeverities[c.Severity] {
		return CEF{}, fmt.Errorf("severity %q: want 0-10 or Unknown, Low, Medium, High, Very-High", c.Severity)
	}
	for i, name := range []string{"Device Vendor", "Device Product", "Device Version", "Signature ID", "Name"} {
		if fields[i+1] == "" {
			return CEF{}, fmt.Errorf("%s is empty", name)
		}
	}
	c.Extension, c.Keys, err = parseCEFExtension(ext)
	return c, err
}

// parseCEFExtension reads key=value pairs separated by a space. An
// unescaped '=' ends a key, so a value runs to the last space before the
// next key.
func parseCEFExtension(s string) (map[string]string, []string, error) {
	m := map[string]string{}
	var keys []string
	if s == "" {
		return m, nil, nil
	}
	// Positions of the unescaped '=' signs.
	var eqs []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return nil, nil, errors.New("extension ends in a lone backslash")
			}
			switch s[i+1] {
			case '\\', '=', 'n', 'r':
			default:
				return nil, nil, fmt.Errorf("extension: unknown escape \\%c", s[i+1])
			}
			i++
		case '=':
			eqs = append(eqs, i)
		case '\n', '\r':
			return nil, nil, errors.New("extension: raw line break (write \\n or \\r)")
		}
	}
	if len(eqs) == 0 {
		return nil, nil, errors.New("extension: no key=value pair")
	}
	keyStart := 0
	for n, eq := range eqs {
		key := s[keyStart:eq]
		if err := validKey(key); err != nil {
			return nil, nil, fmt.Errorf("extension: %w", err)
		}
		valEnd := len(s)
		nextKeyStart := len(s)
		if n+1 < len(eqs) {
			sp := strings.LastIndexByte(s[eq+1:eqs[n+1]], ' ')
			if sp < 0 {
				return nil, nil, fmt.Errorf("extension: value of %q holds an unescaped '='", key)
			}
			valEnd = eq + 1 + sp
			nextKeyStart = valEnd + 1
		}
		if _, dup := m[key]; dup {
			return nil, nil, fmt.Errorf("extension: key %q repeated", key)
		}
		m[key] = unescape(s[eq+1 : valEnd])
		keys = append(keys, key)
		keyStart = nextKeyStart
	}
	return m, keys, nil
}

// unescape resolves the escapes a value may hold (already checked).
func unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b.WriteByte(v[i])
			continue
		}
		i++
		switch v[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// ParseLEEF reads one LEEF 1.0 or 2.0 line (without a syslog header).
func ParseLEEF(line string) (LEEF, error) {
	rest, ok := strings.CutPrefix(line, "LEEF:")
	if !ok {
		return LEEF{}, errors.New(`does not start with "LEEF:"`)
	}
	ver, _, _ := strings.Cut(rest, "|")
	n := 6
	switch ver {
	case "1.0":
		n = 5
	case "2.0":
	default:
		return LEEF{}, fmt.Errorf("version %q: want 1.0 or 2.0", ver)
	}
	fields, attrs, err := headerFields(rest, n)
	if err != nil {
		return LEEF{}, err
	}
	l := LEEF{Version: ver, Vendor: fields[1], Product: fields[2], ProductVersion: fields[3], EventID: fields[4], Delimiter: '\t'}
	for i, name := range []string{"Vendor", "Product", "Version", "EventID"} {
		if fields[i+1] == "" {
			return LEEF{}, fmt.Errorf("%s is empty", name)
		}
	}
	if n == 6 {
		if l.Delimiter, err = leefDelimiter(fields[5]); err != nil {
			return LEEF{}, err
		}
	}
	l.Attributes, l.Keys, err = parseLEEFAttributes(attrs, l.Delimiter)
	if err != nil {
		return LEEF{}, err
	}
	if sev, ok := l.Attributes["sev"]; ok {
		if v, err := strconv.Atoi(sev); err != nil || v < 1 || v > 10 {
			return LEEF{}, fmt.Errorf("sev %q: want 1-10", sev)
		}
	}
	return l, nil
}

// leefDelimiter reads DelimiterCharacter: one character, or x or 0x and
// 1-4 hex digits.
func leefDelimiter(s string) (byte, error) {
	if len(s) == 1 {
		return s[0], nil
	}
	hex, ok := strings.CutPrefix(s, "0x")
	if !ok {
		hex, ok = strings.CutPrefix(s, "x")
	}
	if !ok || len(hex) < 1 || len(hex) > 4 {
		return 0, fmt.Errorf("delimiter %q: want one character or x/0x and 1-4 hex digits", s)
	}
	v, err := strconv.ParseUint(hex, 16, 16)
	if err != nil || v == 0 || v > 0x7f {
		return 0, fmt.Errorf("delimiter %q: not an ASCII character", s)
	}
	return byte(v), nil
}

func parseLEEFAttributes(s string, delim byte) (map[string]string, []string, error) {
	m := map[string]string{}
	var keys []string
	var pair strings.Builder
	flush := func() error {
		p := pair.String()
		pair.Reset()
		raw, value, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("attribute %q has no '='", p)
		}
		if err := validKey(raw); err != nil {
			return err
		}
		if _, dup := m[raw]; dup {
			return fmt.Errorf("key %q repeated", raw)
		}
		m[raw] = value
		keys = append(keys, raw)
		return nil
	}
	if s == "" {
		return m, nil, nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, nil, errors.New("attributes end in a lone backslash")
			}
			i++
			switch s[i] {
			case '\\', delim:
				pair.WriteByte(s[i])
			case 'n':
				pair.WriteByte('\n')
			case 'r':
				pair.WriteByte('\r')
			default:
				return nil, nil, fmt.Errorf("unknown escape \\%c", s[i])
			}
		case c == delim:
			if err := flush(); err != nil {
				return nil, nil, err
			}
		case c == '\n' || c == '\r':
			return nil, nil, errors.New("raw line break in the attributes")
		default:
			pair.WriteByte(c)
		}
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	return m, keys, nil
}
