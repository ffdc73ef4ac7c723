// Package jsonpolicy is the project's one rule for JSON that is well-formed
// enough to parse but not to trust, and the checker that archive readers
// apply it with. Every reader and writer of vendor JSON (internal/jsonmap
// and the vendor parsers built on it) and of archive lines
// (internal/engine/archive, internal/engine/auditquery) follows it.
//
// # The rule
//
//  1. Member names are compared after unescaping, exactly: "a" and "\u0061"
//     are the same name, "a" and "A" are not. An object that names a member
//     twice is refused whole. No reader keeps the first or the last value:
//     two parsers choosing differently is a known way to smuggle a field
//     past a check (RFC 8259 leaves the choice open; RFC 7493, I-JSON,
//     forbids the repeat). Readers match the names they know exactly,
//     never ignoring case.
//  2. Strings are Unicode: valid UTF-8, and no unpaired surrogate escape
//     (`"\ud800"` alone). OTLP, which carries the records, requires valid
//     UTF-8 strings too. `\u0000` is a character like any other and is kept.
//  3. A text holds one value: a byte order mark, trailing data and raw
//     control characters in strings are syntax errors, and nesting is
//     bounded.
//
// # How each path applies it
//
// Vendor JSON (a request body, a log line) comes from outside and must not
// be lost:
//
//   - a repeated member name makes the event unreadable: it becomes a
//     record flagged with audit.parse_error, whose body is the event's raw
//     text (dropped and counted when forwarding unparsed events is off);
//     the events beside it are unaffected;
//   - invalid UTF-8 and lone surrogates are replaced by U+FFFD, one per bad
//     byte or escape, and the event, otherwise parsed as usual, is flagged
//     with audit.parse_error saying how many were replaced and where the
//     first was. The bytes cannot travel as they are (OTLP), and the flag
//     says that the text is not exactly what the vendor sent;
//   - a UTF-8 byte order mark at the very start of a body or line is
//     skipped (RFC 8259 allows it); anywhere else it is a syntax error.
//
// Archive lines are written by the archive's own encoder, so a line that
// breaks the rule was damaged or forged:
//
//   - the encoder never writes a repeated name or invalid UTF-8: strings are
//     made valid (each bad byte becomes U+FFFD) and a name repeated in the
//     record's attributes (OTLP data can carry one; replacing bad bytes can
//     make one) takes internal/flatten's collision suffix (_2, _3, ...);
//   - a reader finds a line that breaks any part of the rule (Check)
//     malformed: verify reports it, the viewer and query show it flagged
//     with its raw text, and no reader takes a value from it. The hash
//     chain is over the raw bytes, so lines the encoder wrote read as they
//     always did.
package jsonpolicy // import "github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrorKind classifies a break of the rule.
type ErrorKind uint8

const (
	// Syntax means the input is not JSON; where the value ends is unknown.
	Syntax ErrorKind = iota
	// Limit means the input is JSON but exceeds a bound.
	Limit
	// DuplicateKey means an object names the same member twice.
	DuplicateKey
	// InvalidUTF8 means a string holds invalid UTF-8 or a lone surrogate.
	InvalidUTF8
)

// Error is a break of the rule at a byte offset of the input.
type Error struct {
	Offset int
	Kind   ErrorKind
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (byte %d)", e.Msg, e.Offset)
}

// DuplicateKeyMsg is the message for a repeated member name, the same on
// every path.
func DuplicateKeyMsg(name string) string { return fmt.Sprintf("duplicate key %q", name) }

// ReplacedMsg is the message flagging a vendor event in which n invalid
// UTF-8 bytes or lone surrogates were replaced by U+FFFD.
func ReplacedMsg(n int) string {
	if n == 1 {
		return "invalid UTF-8 or lone surrogate replaced by U+FFFD"
	}
	return fmt.Sprintf("invalid UTF-8 or lone surrogates replaced by U+FFFD (%d places)", n)
}

// MaxDepth is the nesting bound of every path: vendor events (jsonmap's
// default) and archive lines alike.
const MaxDepth = 32

// linearKeys is how many names of one object are compared pairwise
// before a set takes over.
const linearKeys = 32

// Check reports the first break of the rule in data, which must hold exactly
// one JSON value with optional surrounding whitespace, nested at most
// maxDepth levels. It is what json.Valid is, plus the rule, and costs about
// as much: it allocates only to unescape member names that hold escapes and
// for objects with more than a few dozen members out of order.
//
// It is written by hand because no library the project may use checks
// member names for repeats (encoding/json's Valid and Decoder do not; its
// v2, which does, is an experiment in this Go release).
func Check(data []byte, maxDepth int) error {
	c := checkers.Get().(*checker)
	*c = checker{data: data, maxDepth: maxDepth, keys: c.keys[:0], unescaped: c.unescaped[:0]}
	defer func() {
		c.data = nil // the pool keeps no reference to the caller's text
		checkers.Put(c)
	}()
	c.ws()
	if err := c.value(0); err != nil {
		return err
	}
	c.ws()
	if c.p < len(data) {
		return c.syntax("unexpected %s after the value", c.describe())
	}
	return nil
}

// checkers keeps checkers with the memory for names they grew, so that
// checking line after line allocates nothing.
var checkers = sync.Pool{New: func() any { return new(checker) }}

type checker struct {
	data     []byte
	p        int
	maxDepth int
	// keys holds the names of the objects being read, innermost last:
	// slices of data, or of unescaped for names with escapes.
	keys      []keyRef
	unescaped []byte
}

// keyRef locates a member name: data[start:end], or unescaped[start:end].
type keyRef struct {
	start, end int
	escaped    bool
}

func (c *checker) name(k keyRef) []byte {
	if k.escaped {
		return c.unescaped[k.start:k.end]
	}
	return c.data[k.start:k.end]
}

func (c *checker) ws() {
	for c.p < len(c.data) {
		switch c.data[c.p] {
		case ' ', '\t', '\n', '\r':
			c.p++
		default:
			return
		}
	}
}

func (c *checker) value(depth int) error {
	if c.p >= len(c.data) {
		return c.syntax("expected a value, found end of input")
	}
	switch b := c.data[c.p]; {
	case b == '{':
		return c.object(depth + 1)
	case b == '[':
		return c.array(depth + 1)
	case b == '"':
		_, _, err := c.str()
		return err
	case b == '-' || (b >= '0' && b <= '9'):
		return c.number()
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	default:
		return c.syntax("expected a value, found %s", c.describe())
	}
}

func (c *checker) enter(depth int) error {
	if depth > c.maxDepth {
		return &Error{Offset: c.p, Kind: Limit, Msg: fmt.Sprintf("nesting deeper than %d levels", c.maxDepth)}
	}
	c.p++
	c.ws()
	return nil
}

func (c *checker) object(depth int) error {
	if err := c.enter(depth); err != nil {
		return err
	}
	if c.p < len(c.data) && c.data[c.p] == '}' {
		c.p++
		return nil
	}
	first := len(c.keys)
	unescapedMark := len(c.unescaped)
	defer func() {
		c.keys = c.keys[:first]
		c.unescaped = c.unescaped[:unescapedMark]
	}()
	// Names in increasing order (the archive writes attributes sorted)
	// need one comparison each; otherwise every earlier name is compared,
	// or, for a large object, looked up in a set.
	sorted := true
	var set map[string]struct{}
	for {
		if c.p >= len(c.data) || c.data[c.p] != '"' {
			return c.syntax("expected a member name in quotes, found %s", c.describe())
		}
		at := c.p
		k, err := c.key()
		if err != nil {
			return err
		}
		name := c.name(k)
		n := len(c.keys) - first
		switch {
		case n == 0:
		case sorted && string(name) > string(c.name(c.keys[len(c.keys)-1])):
		case set != nil:
			if _, dup := set[string(name)]; dup {
				return c.duplicate(at, name)
			}
			set[string(name)] = struct{}{}
		default:
			sorted = false
			for _, prev := range c.keys[first:] {
				if bytes.Equal(c.name(prev), name) {
					return c.duplicate(at, name)
				}
			}
			if n >= linearKeys {
				set = make(map[string]struct{}, 2*n)
				for _, prev := range c.keys[first:] {
					set[string(c.name(prev))] = struct{}{}
				}
				set[string(name)] = struct{}{}
			}
		}
		if set == nil {
			c.keys = append(c.keys, k)
		}
		c.ws()
		if c.p >= len(c.data) || c.data[c.p] != ':' {
			return c.syntax("expected ':' after member name, found %s", c.describe())
		}
		c.p++
		c.ws()
		if err := c.value(depth); err != nil {
			return err
		}
		c.ws()
		if c.p >= len(c.data) {
			return c.syntax("expected ',' or '}' after object member, found end of input")
		}
		switch c.data[c.p] {
		case ',':
			c.p++
			c.ws()
		case '}':
			c.p++
			return nil
		default:
			return c.syntax("expected ',' or '}' after object member, found %s", c.describe())
		}
	}
}

func (c *checker) duplicate(at int, name []byte) error {
	return &Error{Offset: at, Kind: DuplicateKey, Msg: DuplicateKeyMsg(string(name))}
}

// key reads a member name, unescaping it when it holds escapes so that
// names compare by their characters, not their spelling.
func (c *checker) key() (keyRef, error) {
	start, escaped, err := c.str()
	if err != nil {
		return keyRef{}, err
	}
	if !escaped {
		return keyRef{start: start + 1, end: c.p - 1}, nil
	}
	from := len(c.unescaped)
	c.unescaped = appendUnescaped(c.unescaped, c.data[start+1:c.p-1])
	return keyRef{start: from, end: len(c.unescaped), escaped: true}, nil
}

func (c *checker) array(depth int) error {
	if err := c.enter(depth); err != nil {
		return err
	}
	if c.p < len(c.data) && c.data[c.p] == ']' {
		c.p++
		return nil
	}
	for {
		if err := c.value(depth); err != nil {
			return err
		}
		c.ws()
		if c.p >= len(c.data) {
			return c.syntax("expected ',' or ']' after array element, found end of input")
		}
		switch c.data[c.p] {
		case ',':
			c.p++
			c.ws()
		case ']':
			c.p++
			return nil
		default:
			return c.syntax("expected ',' or ']' after array element, found %s", c.describe())
		}
	}
}

// str checks the string at c.p and moves past it. It returns the offset of
// the opening quote and whether the string holds escapes.
func (c *checker) str() (start int, escaped bool, err error) {
	data := c.data
	start = c.p
	i := c.p + 1
	for i < len(data) {
		b := data[i]
		switch {
		case b == '"':
			c.p = i + 1
			return start, escaped, nil
		case b == '\\':
			escaped = true
			n, err := c.escape(i)
			if err != nil {
				return start, escaped, err
			}
			i += n
		case b < 0x20:
			c.p = i
			if b == '\n' || b == '\r' {
				return start, escaped, c.syntax("unterminated string: the line ends inside it")
			}
			return start, escaped, c.syntax("control character %#02x in string (must be escaped)", b)
		case b < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return start, escaped, &Error{Offset: i, Kind: InvalidUTF8, Msg: fmt.Sprintf("invalid UTF-8 byte %#02x in string", b)}
			}
			i += size
		}
	}
	c.p = len(data)
	return start, escaped, c.syntax("unterminated string")
}

// escape checks the escape at data[i] (a backslash) and returns its length.
func (c *checker) escape(i int) (int, error) {
	data := c.data
	if i+1 >= len(data) {
		c.p = len(data)
		return 0, c.syntax("unterminated string")
	}
	switch data[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		r, ok := Hex4(data, i+2)
		if !ok {
			c.p = i
			return 0, c.syntax("invalid \\u escape in string")
		}
		if !utf16.IsSurrogate(r) {
			return 6, nil
		}
		if r < 0xdc00 && i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
			if r2, ok := Hex4(data, i+8); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
				return 12, nil
			}
		}
		return 0, &Error{Offset: i, Kind: InvalidUTF8, Msg: fmt.Sprintf("lone surrogate %s in string", data[i:i+6])}
	default:
		c.p = i
		return 0, c.syntax("invalid escape '\\%c' in string", data[i+1])
	}
}

// Hex4 reads the four hex digits of a \u escape at data[i:], reporting
// false when they are missing or not hex digits. The vendor decoder
// (internal/jsonmap) reads its escapes with it too.
func Hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, b := range data[i : i+4] {
		switch {
		case b >= '0' && b <= '9':
			b -= '0'
		case b >= 'a' && b <= 'f':
			b = b - 'a' + 10
		case b >= 'A' && b <= 'F':
			b = b - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(b)
	}
	return r, true
}

// appendUnescaped appends the characters of s, the content of a string
// that str found valid, to buf.
func appendUnescaped(buf, s []byte) []byte {
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			buf = append(buf, s[i])
			i++
			continue
		}
		switch e := s[i+1]; e {
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, _ := Hex4(s, i+2)
			if utf16.IsSurrogate(r) {
				r2, _ := Hex4(s, i+8)
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			buf = utf8.AppendRune(buf, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			buf = append(buf, e)
		}
		i += 2
	}
	return buf
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// ScanNumber finds the end of the JSON number starting at data[p]. On a
// malformed number it returns the offset of the offending byte and what
// was expected there ("a digit in exponent"), for the caller's error. The
// vendor decoder (internal/jsonmap) scans its numbers with it too, so the
// policy and the decoder agree on what a number is.
func ScanNumber(data []byte, p int) (end int, expected string) {
	if p < len(data) && data[p] == '-' {
		p++
	}
	switch {
	case p < len(data) && data[p] == '0':
		p++
	case p < len(data) && data[p] >= '1' && data[p] <= '9':
		for p < len(data) && isDigit(data[p]) {
			p++
		}
	default:
		return p, "a digit in number"
	}
	if p < len(data) && data[p] == '.' {
		p++
		if p >= len(data) || !isDigit(data[p]) {
			return p, "a digit after decimal point"
		}
		for p < len(data) && isDigit(data[p]) {
			p++
		}
	}
	if p < len(data) && (data[p] == 'e' || data[p] == 'E') {
		p++
		if p < len(data) && (data[p] == '+' || data[p] == '-') {
			p++
		}
		if p >= len(data) || !isDigit(data[p]) {
			return p, "a digit in exponent"
		}
		for p < len(data) && isDigit(data[p]) {
			p++
		}
	}
	return p, ""
}

func (c *checker) number() error {
	end, expected := ScanNumber(c.data, c.p)
	c.p = end
	if expected != "" {
		return c.syntax("expected %s, found %s", expected, c.describe())
	}
	return nil
}

func (c *checker) literal(word string) error {
	if !bytes.HasPrefix(c.data[c.p:], []byte(word)) {
		return c.syntax("invalid literal, expected %q", word)
	}
	c.p += len(word)
	return nil
}

func (c *checker) syntax(format string, args ...any) *Error {
	return &Error{Offset: c.p, Kind: Syntax, Msg: fmt.Sprintf(format, args...)}
}

func (c *checker) describe() string { return Describe(c.data, c.p) }

// Describe names the byte at data[p] for an error message: a quoted
// printable character, the byte's value, or "end of input".
func Describe(data []byte, p int) string {
	if p >= len(data) {
		return "end of input"
	}
	b := data[p]
	if b >= 0x20 && b < 0x7f {
		return strconv.QuoteRune(rune(b))
	}
	return fmt.Sprintf("byte %#02x", b)
}
