package jsonmap // import "github.com/otelcol-audit/otelcol-audit/internal/jsonmap"

import (
	"bytes"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// Event is one event found by Walk.
type Event struct {
	// Ordinal is the event's 1-based position in the body.
	Ordinal int
	// Line is the 1-based line on which the event's text starts.
	Line int
	// Raw is the event's text as received, trailing whitespace trimmed. It
	// is empty only for a problem that has no text of its own (an array
	// whose closing bracket is missing).
	Raw []byte
	// Attrs holds the members of the event object in input order when Err
	// is nil. It is valid only during the callback; move it to keep it.
	Attrs pcommon.Map
	// Err says why the event is not a well-formed object, naming the line
	// and column of the problem.
	Err error
	// Replaced, when Err is nil, says that invalid UTF-8 or lone
	// surrogates in the event were replaced by U+FFFD, naming the line and
	// column of the first: the problem to flag the event with. Empty when
	// nothing was replaced.
	Replaced string
}

// Walk calls fn for each event in body. A body is any sequence of JSON
// values separated by whitespace: one object, JSON lines (one object per
// line), or arrays of objects, whose elements are the events.
//
// A malformed event never hides its neighbours. When an event has a syntax
// error its end is unknowable, so Walk resumes at the next line, at or after
// the line of the error, whose first non-blank character is '{' or '[' (the
// start of the next JSON line), and reports the text in between as the bad
// event. When an event is well-formed JSON but over a limit, has duplicate
// keys or is not an object, its exact text is reported and Walk continues
// right after it.
func Walk(body []byte, lim Limits, fn func(ev *Event)) {
	walkBody(body, lim, fn)
}

func walkBody(body []byte, lim Limits, fn func(ev *Event)) *walker {
	w := &walker{d: NewDecoder(body, lim), lines: NewLines(body), fn: fn}
	for !w.d.AtEOF() {
		if w.d.data[w.d.pos] == '[' {
			w.array()
		} else {
			w.event()
		}
	}
	return w
}

type walker struct {
	d       *Decoder
	lines   *Lines
	fn      func(*Event)
	ordinal int
}

// array walks a top-level array. Its elements are events, so the array
// itself does not count towards the nesting depth or the element limit.
func (w *walker) array() {
	d := w.d
	d.pos++
	if d.Peek() == ']' {
		d.pos++
		return
	}
	for {
		if !w.event() {
			return // resynchronised past the rest of the array
		}
		switch d.Peek() {
		case ',':
			d.pos++
			if d.Peek() == ']' {
				w.resyncFrom(d.pos, d.syntaxErr("expected an array element, found ']'"))
				return
			}
		case ']':
			d.pos++
			return
		default:
			w.resyncFrom(d.pos, d.syntaxErr("expected ',' or ']' after array element, found %s", d.describe()))
			return
		}
	}
}

// event decodes the event at the current position. It reports false when a
// syntax error forced a resynchronisation.
func (w *walker) event() bool {
	d := w.d
	d.SkipSpace()
	start := d.pos
	v := pcommon.NewValueEmpty()
	d.TakeReplaced()
	err := d.DecodeValue(v)
	if err == nil {
		ev := Event{Ordinal: w.next(), Line: w.lines.Line(start), Raw: d.data[start:d.pos]}
		if v.Type() == pcommon.ValueTypeMap {
			ev.Attrs = v.Map()
			if n, off := d.TakeReplaced(); n > 0 {
				ev.Replaced = w.located(off, jsonpolicy.ReplacedMsg(n)).Error()
			}
		} else {
			ev.Err = w.located(start, fmt.Sprintf("event is a JSON %s, not an object", KindOf(d.data[start])))
		}
		w.fn(&ev)
		return true
	}
	var je *Error
	if !errors.As(err, &je) {
		je = &Error{Offset: d.pos, Kind: Syntax, Msg: err.Error()}
	}
	if je.Kind != Syntax {
		// Well-formed but refused: its end is findable, keep its exact text.
		d.Seek(start)
		if d.Skip() == nil {
			w.fn(&Event{Ordinal: w.next(), Line: w.lines.Line(start), Raw: d.data[start:d.pos], Err: w.located(je.Offset, je.Msg)})
			return true
		}
	}
	w.resyncFrom(start, je)
	return false
}

func (w *walker) next() int {
	w.ordinal++
	return w.ordinal
}

// resyncFrom reports body[start:resume] as one bad event and moves to
// resume: the first line at or after the error's line (but after start's
// line) that begins with '{' or '['.
func (w *walker) resyncFrom(start int, err *Error) {
	data := w.d.data
	errOff := min(err.Offset, len(data))
	from := lineStart(data, errOff)
	if from <= start {
		from = lineEnd(data, start) + 1
	}
	resume := len(data)
	for p := from; p < len(data); p = lineEnd(data, p) + 1 {
		q := p
		for q < len(data) && (data[q] == ' ' || data[q] == '\t') {
			q++
		}
		if q < len(data) && (data[q] == '{' || data[q] == '[') {
			resume = p
			break
		}
	}
	raw := bytes.TrimRight(data[start:resume], " \t\r\n")
	ev := Event{Ordinal: w.next(), Line: w.lines.Line(start), Raw: raw, Err: w.located(errOff, err.Msg)}
	if len(raw) == 0 {
		ev.Ordinal = 0 // no event of its own: just a problem to report
		w.ordinal--
	}
	w.fn(&ev)
	w.d.Seek(resume)
}

func (w *walker) located(off int, msg string) error {
	line, col := w.lines.Locate(off)
	return fmt.Errorf("line %d, column %d: %s", line, col, msg)
}

func lineStart(data []byte, off int) int {
	return bytes.LastIndexByte(data[:off], '\n') + 1
}

// lineEnd returns the index of the newline ending off's line, or len(data).
func lineEnd(data []byte, off int) int {
	if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(data)
}

// Lines answers line and column questions about one body. Offsets that
// mostly increase cost one scan of the body in all, so reporting many bad
// events stays linear (a fresh count per event would be quadratic).
type Lines struct {
	data []byte
	off  int
	line int
	// scanned counts the bytes counted so far, for a test of linearity.
	scanned int
}

// NewLines returns a Lines for data.
func NewLines(data []byte) *Lines {
	return &Lines{data: data, line: 1}
}

// Line returns the 1-based line of offset off.
func (l *Lines) Line(off int) int {
	off = min(max(off, 0), len(l.data))
	if off >= l.off {
		l.line += bytes.Count(l.data[l.off:off], []byte{'\n'})
		l.scanned += off - l.off
	} else {
		l.line -= bytes.Count(l.data[off:l.off], []byte{'\n'})
		l.scanned += l.off - off
	}
	l.off = off
	return l.line
}

// Locate returns the 1-based line and byte column of offset off.
func (l *Lines) Locate(off int) (line, col int) {
	off = min(max(off, 0), len(l.data))
	return l.Line(off), off - lineStart(l.data, off) + 1
}

// KindOf names the kind of a well-formed JSON value that starts with byte
// c. Unlike TypeName of the decoded value, it calls a number beyond int64
// (decoded as a string holding its digits) a number.
func KindOf(c byte) string {
	switch c {
	case '"':
		return "string"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	default:
		return "number"
	}
}
