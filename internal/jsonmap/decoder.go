// Package jsonmap decodes JSON straight into pdata values, keeping the order
// of object members. encoding/json's map[string]any loses that order, and the
// vendors' member order is what downstream components (the syslog exporter's
// structured data) must reproduce. The auditwebhook receiver decodes request
// bodies with it (Walk splits JSON lines and arrays into events) and
// internal/vendors/ctreplay decodes CTReplay lines with it, so every path into the
// pipeline applies the same type mapping and the same bounds.
//
// Type mapping:
//
//	object  -> Map (members in input order)
//	array   -> Slice
//	string  -> Str (invalid UTF-8 and lone surrogates become U+FFFD, one per bad byte or escape, as in encoding/json; TakeReplaced says where)
//	integer -> Int when it fits in int64, else Str holding the literal (no silent rounding of ids)
//	number  -> Double, or Str holding the literal when it overflows float64
//	boolean -> Bool
//	null    -> empty value
//
// The decoder is a bounded recursive-descent parser over a byte slice. Hostile
// input cannot exhaust the stack or memory beyond the input's own size: see
// Limits.
//
// It applies the project's JSON rule for vendor input (internal/jsonpolicy):
// a member name repeated in one object is an error (DuplicateKey), because
// two parsers disagreeing on which value wins is a known way to smuggle a
// field past a check; invalid UTF-8 and lone surrogates are replaced, and
// counted so that the caller flags the event (TakeReplaced).
package jsonmap // import "github.com/otelcol-audit/otelcol-audit/internal/jsonmap"

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// Default limits. They are far above anything a vendor sends and low enough
// that a hostile body costs bounded time.
const (
	DefaultMaxDepth         = jsonpolicy.MaxDepth
	DefaultMaxStringBytes   = 1 << 20
	DefaultMaxObjectMembers = 256
	DefaultMaxArrayElements = 100_000
	// maxNumberBytes bounds a number literal: no real number needs more.
	maxNumberBytes = 1024
)

// Limits bounds what the decoder accepts. Zero fields take the defaults.
type Limits struct {
	// MaxDepth is the deepest nesting of objects and arrays.
	MaxDepth int
	// MaxStringBytes bounds one decoded string or member name.
	MaxStringBytes int
	// MaxObjectMembers bounds the members of one object (pcommon.Map looks
	// keys up by linear scan, so this also bounds the quadratic cost).
	MaxObjectMembers int
	// MaxArrayElements bounds the elements of one array.
	MaxArrayElements int
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxStringBytes <= 0 {
		l.MaxStringBytes = DefaultMaxStringBytes
	}
	if l.MaxObjectMembers <= 0 {
		l.MaxObjectMembers = DefaultMaxObjectMembers
	}
	if l.MaxArrayElements <= 0 {
		l.MaxArrayElements = DefaultMaxArrayElements
	}
	return l
}

// ErrorKind classifies decoding errors: those of the project's JSON rule.
type ErrorKind = jsonpolicy.ErrorKind

const (
	// Syntax means the input is not JSON; where the value ends is unknown.
	Syntax = jsonpolicy.Syntax
	// Limit means the input is JSON but exceeds a bound in Limits.
	Limit = jsonpolicy.Limit
	// DuplicateKey means an object names the same member twice.
	DuplicateKey = jsonpolicy.DuplicateKey
)

// Error is a decoding error at a byte offset of the input.
type Error = jsonpolicy.Error

// Decoder reads JSON values from a byte slice.
type Decoder struct {
	data  []byte
	pos   int
	depth int
	lim   Limits
	buf   []byte // scratch for unescaping strings
	// replaced counts the bad bytes and lone surrogates replaced by U+FFFD
	// since the last TakeReplaced; firstReplaced is the first one's offset.
	replaced, firstReplaced int
}

// TakeReplaced returns how many invalid UTF-8 bytes and lone surrogates
// were replaced by U+FFFD since the last call, and the offset of the first,
// and starts counting anew. Under the project's JSON rule a vendor event
// with a replacement is kept and flagged (jsonpolicy.ReplacedMsg).
func (d *Decoder) TakeReplaced() (n, firstOffset int) {
	n, firstOffset = d.replaced, d.firstReplaced
	d.replaced, d.firstReplaced = 0, 0
	return n, firstOffset
}

func (d *Decoder) noteReplaced(off int) {
	if d.replaced == 0 {
		d.firstReplaced = off
	}
	d.replaced++
}

// NewDecoder returns a decoder positioned at the start of data.
func NewDecoder(data []byte, lim Limits) *Decoder {
	return &Decoder{data: data, lim: lim.withDefaults()}
}

// Decode parses data, which must hold exactly one JSON value with optional
// surrounding whitespace, into v.
func Decode(data []byte, v pcommon.Value, lim Limits) error {
	d := NewDecoder(data, lim)
	if err := d.DecodeValue(v); err != nil {
		return err
	}
	if !d.AtEOF() {
		return d.syntaxErr("unexpected %s after top-level value", d.describe())
	}
	return nil
}

// Offset returns the position of the next unread byte.
func (d *Decoder) Offset() int { return d.pos }

// Seek moves to off, keeping the nesting depth: use it to go back to the
// start of a value whose decoding failed (DecodeValue restores the depth).
func (d *Decoder) Seek(off int) {
	d.pos = off
}

// Data returns the input.
func (d *Decoder) Data() []byte { return d.data }

// SkipSpace advances past JSON whitespace.
func (d *Decoder) SkipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// AtEOF skips whitespace and reports whether the input is exhausted.
func (d *Decoder) AtEOF() bool {
	d.SkipSpace()
	return d.pos >= len(d.data)
}

// Peek skips whitespace and returns the next byte, or 0 at the end.
func (d *Decoder) Peek() byte {
	d.SkipSpace()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// DecodeValue decodes the next value into v. On error the position is
// unspecified but the nesting depth is restored, so the caller may Seek and
// Skip to recover.
func (d *Decoder) DecodeValue(v pcommon.Value) error {
	depth := d.depth
	err := d.value(v)
	if err != nil {
		d.depth = depth
	}
	return err
}

// DecodeObject decodes the next value, which must be an object, into m,
// adding its members in input order. m should be empty.
func (d *Decoder) DecodeObject(m pcommon.Map) error {
	depth := d.depth
	err := d.object(m)
	if err != nil {
		d.depth = depth
	}
	return err
}

func (d *Decoder) value(v pcommon.Value) error {
	switch c := d.Peek(); {
	case c == '{':
		return d.object(v.SetEmptyMap())
	case c == '[':
		return d.array(v.SetEmptySlice())
	case c == '"':
		s, err := d.ReadString()
		if err != nil {
			return err
		}
		v.SetStr(s)
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number(v)
	case c == 't':
		if err := d.literal("true"); err != nil {
			return err
		}
		v.SetBool(true)
		return nil
	case c == 'f':
		if err := d.literal("false"); err != nil {
			return err
		}
		v.SetBool(false)
		return nil
	case c == 'n':
		return d.literal("null") // an empty value is null
	default:
		return d.syntaxErr("expected a value, found %s", d.describe())
	}
}

func (d *Decoder) object(m pcommon.Map) error {
	return d.Object(func(key string, keyOffset int) error {
		v, loaded := m.GetOrPutEmpty(key)
		if loaded {
			return &Error{Offset: keyOffset, Kind: DuplicateKey, Msg: jsonpolicy.DuplicateKeyMsg(key)}
		}
		return d.value(v)
	})
}

func (d *Decoder) array(s pcommon.Slice) error {
	return d.Array(func(int) error {
		return d.value(s.AppendEmpty())
	})
}

// Object reads the object at the current position, calling fn for each
// member with the decoder positioned at the member's value; fn must consume
// that value exactly (DecodeValue, Object, Array, ReadString or Skip).
func (d *Decoder) Object(fn func(key string, keyOffset int) error) error {
	if d.Peek() != '{' {
		return d.syntaxErr("expected an object, found %s", d.describe())
	}
	if err := d.enter(); err != nil {
		return err
	}
	if d.Peek() == '}' {
		d.pos++
		d.depth--
		return nil
	}
	for n := 0; ; n++ {
		if n >= d.lim.MaxObjectMembers {
			return &Error{Offset: d.pos, Kind: Limit, Msg: fmt.Sprintf("object has more than %d members", d.lim.MaxObjectMembers)}
		}
		if d.Peek() != '"' {
			return d.syntaxErr("expected a member name in quotes, found %s", d.describe())
		}
		keyOffset := d.pos
		key, err := d.ReadString()
		if err != nil {
			return err
		}
		if d.Peek() != ':' {
			return d.syntaxErr("expected ':' after member name, found %s", d.describe())
		}
		d.pos++
		if err := fn(key, keyOffset); err != nil {
			return err
		}
		switch d.Peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return nil
		default:
			return d.syntaxErr("expected ',' or '}' after object member, found %s", d.describe())
		}
	}
}

// Array reads the array at the current position, calling fn for each
// element with the decoder positioned at it; fn must consume the element.
func (d *Decoder) Array(fn func(index int) error) error {
	if d.Peek() != '[' {
		return d.syntaxErr("expected an array, found %s", d.describe())
	}
	if err := d.enter(); err != nil {
		return err
	}
	if d.Peek() == ']' {
		d.pos++
		d.depth--
		return nil
	}
	for i := 0; ; i++ {
		if i >= d.lim.MaxArrayElements {
			return &Error{Offset: d.pos, Kind: Limit, Msg: fmt.Sprintf("array has more than %d elements", d.lim.MaxArrayElements)}
		}
		if err := fn(i); err != nil {
			return err
		}
		switch d.Peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return nil
		default:
			return d.syntaxErr("expected ',' or ']' after array element, found %s", d.describe())
		}
	}
}

// enter consumes an opening bracket, checking the depth bound.
func (d *Decoder) enter() error {
	if d.depth >= d.lim.MaxDepth {
		return &Error{Offset: d.pos, Kind: Limit, Msg: fmt.Sprintf("nesting deeper than %d levels", d.lim.MaxDepth)}
	}
	d.depth++
	d.pos++
	return nil
}

func (d *Decoder) literal(word string) error {
	end := d.pos + len(word)
	if end > len(d.data) || string(d.data[d.pos:end]) != word {
		return d.syntaxErr("invalid literal, expected %q", word)
	}
	d.pos = end
	return nil
}

func (d *Decoder) number(v pcommon.Value) error {
	start := d.pos
	p, expected := jsonpolicy.ScanNumber(d.data, start)
	if expected != "" {
		d.pos = p
		return d.syntaxErr("expected %s, found %s", expected, d.describe())
	}
	integer := bytes.IndexAny(d.data[start:p], ".eE") < 0
	if p-start > maxNumberBytes {
		return &Error{Offset: start, Kind: Limit, Msg: fmt.Sprintf("number literal longer than %d bytes", maxNumberBytes)}
	}
	d.pos = p
	lit := string(d.data[start:p])
	if integer {
		if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
			v.SetInt(n)
			return nil
		}
		v.SetStr(lit) // beyond int64: keep every digit
		return nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		v.SetStr(lit) // overflows float64
		return nil
	}
	v.SetDouble(f)
	return nil
}

// ReadString reads the string at the current position.
func (d *Decoder) ReadString() (string, error) {
	if d.Peek() != '"' {
		return "", d.syntaxErr("expected a string, found %s", d.describe())
	}
	start := d.pos + 1
	data := d.data
	maxLen := d.lim.MaxStringBytes
	ascii := true
	// Fast path: no escapes and valid UTF-8, so the bytes are the value.
	for i := start; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '"':
			seg := data[start:i]
			if !ascii && !utf8.Valid(seg) {
				return d.slowString(start)
			}
			d.pos = i + 1
			return string(seg), nil
		case c == '\\':
			return d.slowString(start)
		case c < 0x20:
			d.pos = i
			return "", d.controlErr(c)
		case c >= 0x80:
			ascii = false
		}
		if i-start >= maxLen {
			return "", &Error{Offset: d.pos, Kind: Limit, Msg: fmt.Sprintf("string longer than %d bytes", maxLen)}
		}
	}
	d.pos = len(data)
	return "", d.syntaxErr("unterminated string")
}

// slowString decodes a string with escapes or invalid UTF-8 starting at
// start (just after the opening quote).
func (d *Decoder) slowString(start int) (string, error) {
	data := d.data
	buf := d.buf[:0]
	maxLen := d.lim.MaxStringBytes
	for i := start; i < len(data); {
		if len(buf) > maxLen {
			return "", &Error{Offset: start - 1, Kind: Limit, Msg: fmt.Sprintf("string longer than %d bytes", maxLen)}
		}
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.buf = buf
			return string(buf), nil
		case c == '\\':
			if i+1 >= len(data) {
				d.pos = len(data)
				return "", d.syntaxErr("unterminated string")
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
				i += 2
			case 'b':
				buf = append(buf, '\b')
				i += 2
			case 'f':
				buf = append(buf, '\f')
				i += 2
			case 'n':
				buf = append(buf, '\n')
				i += 2
			case 'r':
				buf = append(buf, '\r')
				i += 2
			case 't':
				buf = append(buf, '\t')
				i += 2
			case 'u':
				r, ok := jsonpolicy.Hex4(data, i+2)
				if !ok {
					d.pos = i
					return "", d.syntaxErr("invalid \\u escape in string")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair is \uD8xx\uDCxx; anything else is a lone
					// surrogate, which becomes U+FFFD as in encoding/json.
					r2, ok2 := rune(-1), false
					if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						r2, ok2 = jsonpolicy.Hex4(data, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
						d.noteReplaced(i - 6)
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.pos = i
				return "", d.syntaxErr("invalid escape '\\%c' in string", e)
			}
		case c < 0x20:
			d.pos = i
			return "", d.controlErr(c)
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
				d.noteReplaced(i)
			} else {
				buf = append(buf, data[i:i+size]...)
			}
			i += size
		}
	}
	d.pos = len(data)
	d.buf = buf
	return "", d.syntaxErr("unterminated string")
}

// Skip advances past the value at the current position without building
// it. It checks only enough syntax to find the value's end (brackets and
// strings) and uses no recursion, so it also serves to find the end of a
// value whose decoding failed on a limit or a duplicate key.
func (d *Decoder) Skip() error {
	data := d.data
	d.SkipSpace()
	start := d.pos
	depth := 0
	for d.pos < len(data) {
		switch c := data[d.pos]; c {
		case '"':
			if err := d.skipString(); err != nil {
				return err
			}
		case '{', '[':
			depth++
			d.pos++
		case '}', ']':
			if depth == 0 {
				return d.syntaxErr("expected a value, found %s", d.describe())
			}
			depth--
			d.pos++
		default:
			if depth > 0 {
				d.pos++ // separators, whitespace and scalars inside a container
				continue
			}
			for d.pos < len(data) && !isDelimiter(data[d.pos]) {
				d.pos++
			}
			if d.pos == start {
				return d.syntaxErr("expected a value, found %s", d.describe())
			}
			return nil
		}
		if depth == 0 {
			return nil
		}
	}
	if depth > 0 || d.pos == start {
		return d.syntaxErr("unexpected end of input")
	}
	return nil
}

func (d *Decoder) skipString() error {
	data := d.data
	for i := d.pos + 1; i < len(data); i++ {
		switch c := data[i]; {
		case c == '\\':
			i++
		case c == '"':
			d.pos = i + 1
			return nil
		case c < 0x20:
			d.pos = i
			return d.controlErr(c)
		}
	}
	d.pos = len(data)
	return d.syntaxErr("unterminated string")
}

func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ':', '{', '}', '[', ']', '"':
		return true
	}
	return false
}

func (d *Decoder) syntaxErr(format string, args ...any) *Error {
	return &Error{Offset: d.pos, Kind: Syntax, Msg: fmt.Sprintf(format, args...)}
}

// controlErr reports a raw control character in a string. A line break
// there almost always means a JSON line was cut short, so say that.
func (d *Decoder) controlErr(c byte) *Error {
	if c == '\n' || c == '\r' {
		return d.syntaxErr("unterminated string: the line ends inside it")
	}
	return d.syntaxErr("control character %#02x in string (must be escaped)", c)
}

// describe names the byte at the current position for error messages.
func (d *Decoder) describe() string { return jsonpolicy.Describe(d.data, d.pos) }

// TypeName names the JSON type a decoded value came from, for messages
// such as `ts: is a number, not a string`.
func TypeName(t pcommon.ValueType) string {
	switch t {
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble:
		return "number"
	case pcommon.ValueTypeBool:
		return "boolean"
	case pcommon.ValueTypeMap:
		return "object"
	case pcommon.ValueTypeSlice:
		return "array"
	case pcommon.ValueTypeEmpty:
		return "null"
	default:
		return "string"
	}
}
