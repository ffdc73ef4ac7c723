// Package frame cuts syslog messages out of byte streams (TCP, TLS, unix
// stream sockets) and finds the message text inside a syslog header.
//
// winston-syslog, CTReplay's syslog transport, writes RFC 3164 (or RFC 5424)
// messages back to back on a stream with no delimiter between them, and the
// message text is one JSON object. Splitting such a stream where a header
// starts holds each message back until the next one arrives, and splits an
// event whose values hold header-shaped text. The JSON framing here ends a
// message where its top-level JSON object closes instead, tracking strings
// and escapes, so neither happens. Newline framing and RFC 6587 octet
// counting are there for other senders; a message that starts with a digit
// is octet-counted whatever the framing (RFC 6587 section 3.4.1).
//
// No library does this: contrib's stanza splits on patterns and newlines,
// and Go's JSON decoders want the object whole before they return.
package frame // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/frame"

import (
	"bytes"
	"fmt"
	"strconv"
)

// Framing is how messages are delimited on a stream.
type Framing int

const (
	// JSON ends a message where its top-level JSON object closes.
	JSON Framing = iota
	// Newline ends a message at LF (a CR before it is dropped).
	Newline
	// OctetCounting reads "LEN SP MSG" frames (RFC 6587, RFC 5425).
	OctetCounting
)

// ParseFraming reads the framing setting's value.
func ParseFraming(s string) (Framing, error) {
	switch s {
	case "json", "":
		return JSON, nil
	case "newline":
		return Newline, nil
	case "octet_counting":
		return OctetCounting, nil
	}
	return 0, fmt.Errorf("unknown framing %q: want json, newline or octet_counting", s)
}

func (f Framing) String() string {
	switch f {
	case Newline:
		return "newline"
	case OctetCounting:
		return "octet_counting"
	}
	return "json"
}

// Message is one syslog message.
type Message struct {
	// Raw is the message as received: header and text, without the
	// framing (octet count, line end). For a message longer than the
	// maximum it is the first max bytes.
	Raw []byte
	// Problem, when not empty, says why the message could not be cut
	// whole (too long, or the stream ended inside it). The message is to be
	// flagged with it and kept.
	Problem string
}

// maxHeader bounds the RFC 3164 header searched for the text's opening
// brace: PRI, timestamp, a host name of up to 255 bytes and a tag.
const maxHeader = 1024

// Splitter cuts messages from a stream. It keeps the state of the message
// being read between calls, so a long message is scanned once however many
// reads bring it.
type Splitter struct {
	framing Framing
	max     int

	// The message at the start of the pending data.
	kind    kind
	scanned int // bytes of it already scanned
	json    jsonState
	body    int // where the JSON object starts (kindJSON)
	length  int // the frame's length (kindCounted); its start in body

	// discarding is the rest of a message longer than max, whose first
	// max bytes were already emitted: its bytes are consumed and dropped
	// until it ends.
	discarding bool
}

type kind int

const (
	kindUnknown kind = iota // at a message's first byte: not decided yet
	kindJSON                // header (optional) then a JSON object
	kindLine                // up to LF
	kindText                // not JSON: up to LF or the next header
	kindCounted             // octet counted
)

type jsonState struct {
	depth          int
	inString, esc  bool
	started, ended bool
}

// NewSplitter returns a splitter for framing with messages of at most max
// bytes.
func NewSplitter(framing Framing, max int) *Splitter {
	return &Splitter{framing: framing, max: max}
}

// Pending reports whether a message has been started but not finished.
func (s *Splitter) Pending() bool { return s.kind != kindUnknown || s.discarding }

// Split cuts the messages at the start of data, calls emit for each, and
// returns how many bytes of data it consumed; the caller keeps the rest and
// passes it again, with more data appended, on the next call. With atEOF,
// the stream has ended: everything is consumed, and a message cut short
// becomes a Message with a Problem. emit must not keep Raw beyond the call
// unless data is never reused.
func (s *Splitter) Split(data []byte, atEOF bool, emit func(Message)) int {
	off := 0
	for {
		n, msg, ok := s.next(data[off:], atEOF)
		off += n
		if ok {
			emit(msg)
			continue
		}
		if n == 0 {
			break
		}
	}
	if atEOF && off < len(data) {
		// The stream ended inside a message.
		rest := data[off:]
		if !s.discarding && len(bytes.TrimSpace(rest)) > 0 {
			msg := Message{Raw: rest, Problem: fmt.Sprintf("the stream ended inside a message (%d bytes received of it)", len(rest))}
			if len(rest) > s.max {
				msg.Raw = rest[:s.max]
				msg.Problem += fmt.Sprintf("; the first %d bytes (max_message_size) are kept", s.max)
			}
			emit(msg)
		}
		off = len(data)
	}
	if atEOF {
		*s = Splitter{framing: s.framing, max: s.max}
	}
	return off
}

// next consumes what it can of data: blanks between messages, a whole
// message (ok), or discarded bytes. It returns 0 and !ok when it needs more
// data.
func (s *Splitter) next(data []byte, atEOF bool) (int, Message, bool) {
	if s.discarding {
		return s.discard(data), Message{}, false
	}
	if s.kind == kindUnknown {
		// Blanks and NULs between messages are not messages.
		i := 0
		for i < len(data) && isBlank(data[i]) {
			i++
		}
		if i > 0 || len(data) == 0 {
			return i, Message{}, false
		}
		s.decide(data)
		if s.kind == kindUnknown {
			return 0, Message{}, false // too little data to decide
		}
	}
	end, ok := s.end(data, atEOF)
	switch {
	case ok:
		msg := Message{Raw: data[:end]}
		consumed := end
		if s.kind == kindCounted {
			msg.Raw = data[s.body:end]
		}
		if s.kind == kindLine || s.kind == kindText {
			if end < len(data) && data[end] == '\n' {
				consumed++
			}
			msg.Raw = bytes.TrimSuffix(msg.Raw, []byte("\r"))
		}
		if len(msg.Raw) > s.max {
			n := -1 // the same words whether or not one read brought it all
			if s.kind == kindCounted {
				n = s.length
			}
			msg.Problem = tooLong(s.max, n)
			msg.Raw = msg.Raw[:s.max]
		}
		s.reset()
		return consumed, msg, true
	case s.kind != kindCounted && s.scanned > s.max,
		s.kind == kindCounted && s.length > s.max && len(data) >= s.body+s.max:
		// Too long: emit the first max bytes now, drop the rest as it comes.
		start := 0
		if s.kind == kindCounted {
			start = s.body
		}
		n := -1
		if s.kind == kindCounted {
			n = s.length
		}
		msg := Message{Raw: data[start : start+s.max], Problem: tooLong(s.max, n)}
		s.discarding = true
		consumed := start + s.max
		if s.kind != kindCounted {
			consumed = s.scanned
		} else {
			s.length -= s.max
		}
		return consumed, msg, true
	}
	return 0, Message{}, false
}

// tooLong says why a message was cut; n < 0 when its length is not known.
func tooLong(max, n int) string {
	if n < 0 {
		return fmt.Sprintf("message longer than max_message_size (%d bytes): the first %d bytes are kept, the rest was discarded", max, max)
	}
	return fmt.Sprintf("message of %d bytes is longer than max_message_size (%d bytes): the first %d bytes are kept, the rest was discarded", n, max, max)
}

func (s *Splitter) reset() {
	*s = Splitter{framing: s.framing, max: s.max}
}

// decide looks at a message's first bytes to see how it is delimited.
func (s *Splitter) decide(data []byte) {
	c := data[0]
	switch {
	case c >= '0' && c <= '9':
		s.kind = kindCounted
		s.length = -1
	case s.framing == OctetCounting, s.framing == Newline:
		s.kind = kindLine
	case c == '{' || c == '<':
		s.kind = kindJSON
		s.body = -1
	default:
		s.kind = kindText
	}
}

// end returns where the current message ends, if it does within data.
func (s *Splitter) end(data []byte, atEOF bool) (int, bool) {
	switch s.kind {
	case kindCounted:
		return s.endCounted(data, atEOF)
	case kindLine:
		return s.endLine(data, atEOF, false)
	case kindText:
		return s.endLine(data, atEOF, true)
	}
	if s.body < 0 {
		start, res := BodyStart(data, atEOF)
		switch res {
		case NeedMore:
			if len(data) > maxHeader {
				s.kind = kindText
				return s.endLine(data, atEOF, true)
			}
			return 0, false
		case NoJSON:
			s.kind = kindText
			return s.endLine(data, atEOF, true)
		}
		s.body = start
		s.scanned = start
	}
	i, done := s.json.scan(data, s.scanned)
	s.scanned = i
	if !done {
		return 0, false
	}
	// Whatever follows the object is the next message, even text that is
	// not one ("{...} junk"): waiting to see it would hold the event back.
	return i, true
}

// endLine finds the LF ending a line; text messages (not JSON) also end
// where the next syslog header starts.
func (s *Splitter) endLine(data []byte, atEOF, text bool) (int, bool) {
	for i := s.scanned; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			return i, true
		case text && i > 0 && data[i] == '<':
			switch isHeaderStart(data[i:]) {
			case yes:
				return i, true
			case maybe:
				if !atEOF {
					s.scanned = i
					return 0, false
				}
			}
		}
	}
	s.scanned = len(data)
	if atEOF {
		return len(data), true
	}
	return 0, false
}

func (s *Splitter) endCounted(data []byte, atEOF bool) (int, bool) {
	if s.length < 0 {
		i := 0
		for i < len(data) && i < 10 && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		switch {
		case i == len(data) && !atEOF:
			return 0, false
		case i == len(data) || data[i] != ' ':
			// Not an octet count after all: a bad message up to the line end.
			s.kind = kindText
			return s.endLine(data, atEOF, true)
		}
		n, err := strconv.Atoi(string(data[:i]))
		if err != nil || n == 0 {
			s.kind = kindText
			return s.endLine(data, atEOF, true)
		}
		s.length, s.body = n, i+1
	}
	s.scanned = len(data)
	if len(data) >= s.body+s.length {
		return s.body + s.length, true
	}
	return 0, false
}

// discard drops the rest of a message longer than max.
func (s *Splitter) discard(data []byte) int {
	switch s.kind {
	case kindCounted:
		n := min(s.length, len(data))
		s.length -= n
		if s.length == 0 {
			s.reset()
		}
		return n
	case kindJSON:
		i, done := s.json.scan(data, 0)
		if done {
			s.reset()
		}
		return i
	}
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			s.reset()
			return i + 1
		case data[i] == '<' && s.kind == kindText:
			// Text that is not JSON ends where the next header starts.
			switch isHeaderStart(data[i:]) {
			case yes:
				s.reset()
				return i
			case maybe:
				return i
			}
		}
	}
	return len(data)
}

// scan goes on scanning a JSON object from data[from:]. It returns the
// index after the object's closing brace and true, or len(data) and false.
func (j *jsonState) scan(data []byte, from int) (int, bool) {
	for i := from; i < len(data); i++ {
		c := data[i]
		if j.inString {
			switch {
			case j.esc:
				j.esc = false
			case c == '\\':
				j.esc = true
			case c == '"':
				j.inString = false
			}
			continue
		}
		switch c {
		case '"':
			j.inString = true
		case '{', '[':
			j.depth++
			j.started = true
		case '}', ']':
			j.depth--
			if j.depth <= 0 && j.started {
				return i + 1, true
			}
		}
	}
	return len(data), false
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0
}

type tri int

const (
	no tri = iota
	yes
	maybe
)

// isHeaderStart reports whether b starts with "<PRI>" (1 to 3 digits):
// maybe when b ends before that can be told.
func isHeaderStart(b []byte) tri {
	if len(b) == 0 || b[0] != '<' {
		return no
	}
	for i := 1; i < 5; i++ {
		if i >= len(b) {
			return maybe
		}
		switch c := b[i]; {
		case c >= '0' && c <= '9':
			if i == 4 {
				return no
			}
		case c == '>' && i > 1:
			return yes
		default:
			return no
		}
	}
	return no
}

// BodyStartResult says what BodyStart found.
type BodyStartResult int

const (
	// Found: the message text starts at the returned index with '{'.
	Found BodyStartResult = iota
	// NeedMore: the header is not complete in the data.
	NeedMore
	// NoJSON: the message text is not a JSON object (or the header is
	// malformed).
	NoJSON
)

// BodyStart finds the JSON object a syslog message carries: right at the
// start (no header), after an RFC 5424 header (parsed field by field, so
// structured data holding braces is skipped), or at the first '{' after an
// RFC 3164 header "<PRI>Mmm dd hh:mm:ss host tag: ", within a line and
// before another header starts.
func BodyStart(msg []byte, atEOF bool) (int, BodyStartResult) {
	if len(msg) == 0 {
		if atEOF {
			return 0, NoJSON
		}
		return 0, NeedMore
	}
	if msg[0] == '{' {
		return 0, Found
	}
	if msg[0] != '<' {
		return 0, NoJSON
	}
	i := 1
	for i < len(msg) && i < 4 && msg[i] >= '0' && msg[i] <= '9' {
		i++
	}
	switch {
	case i == len(msg):
		return 0, more(atEOF)
	case i == 1 || msg[i] != '>':
		return 0, NoJSON
	}
	i++
	// RFC 5424: VERSION "1" SP.
	if i+1 < len(msg) && msg[i] == '1' && msg[i+1] == ' ' {
		return rfc5424Body(msg, i+2, atEOF)
	}
	if i+1 >= len(msg) {
		return 0, more(atEOF)
	}
	for j := i; j < len(msg) && j < maxHeader; j++ {
		switch msg[j] {
		case '{':
			return j, Found
		case '\n':
			return 0, NoJSON
		case '<':
			if isHeaderStart(msg[j:]) == yes {
				return 0, NoJSON
			}
		}
	}
	if len(msg) >= maxHeader {
		return 0, NoJSON
	}
	return 0, more(atEOF)
}

func more(atEOF bool) BodyStartResult {
	if atEOF {
		return NoJSON
	}
	return NeedMore
}

// rfc5424Body skips TIMESTAMP HOSTNAME APP-NAME PROCID MSGID (one token
// each) and STRUCTURED-DATA, from i; the message text follows one space
// (and an optional UTF-8 BOM).
func rfc5424Body(msg []byte, i int, atEOF bool) (int, BodyStartResult) {
	for f := 0; f < 5; f++ {
		j := bytes.IndexByte(msg[i:], ' ')
		if j < 0 {
			if len(msg)-i > 255 {
				return 0, NoJSON
			}
			return 0, more(atEOF)
		}
		if j == 0 || j > 255 {
			return 0, NoJSON
		}
		i += j + 1
	}
	if i >= len(msg) {
		return 0, more(atEOF)
	}
	switch msg[i] {
	case '-':
		i++
	case '[':
		// SD-ELEMENTs: '[' ... ']' with quoted values holding escapes.
		inQuote, esc := false, false
	sd:
		for {
			if i >= len(msg) {
				return 0, more(atEOF)
			}
			c := msg[i]
			i++
			switch {
			case esc:
				esc = false
			case inQuote && c == '\\':
				esc = true
			case c == '"':
				inQuote = !inQuote
			case !inQuote && c == ']':
				if i >= len(msg) {
					return 0, more(atEOF)
				}
				if msg[i] != '[' {
					break sd
				}
			case c == '\n' && !inQuote:
				return 0, NoJSON
			}
		}
	default:
		return 0, NoJSON
	}
	if i >= len(msg) {
		return 0, more(atEOF)
	}
	if msg[i] != ' ' {
		return 0, NoJSON
	}
	i++
	if bom := []byte("\xef\xbb\xbf"); bytes.HasPrefix(msg[i:], bom) {
		i += len(bom)
	} else if len(msg)-i < len(bom) && bytes.HasPrefix(bom, msg[i:]) {
		return 0, more(atEOF)
	}
	if i >= len(msg) {
		return 0, more(atEOF)
	}
	if msg[i] != '{' {
		return 0, NoJSON
	}
	return i, Found
}

// Datagram returns the message a datagram holds (trailing blanks and NULs
// dropped), flagged when it is longer than max.
func Datagram(data []byte, max int) Message {
	end := len(data)
	for end > 0 && isBlank(data[end-1]) {
		end--
	}
	m := Message{Raw: data[:end]}
	if end > max {
		m.Raw, m.Problem = m.Raw[:max], tooLong(max, end)
	}
	return m
}

// Unfinished reports whether msg holds the start of a JSON object that does
// not close within it.
func Unfinished(msg []byte) bool {
	start, res := BodyStart(msg, true)
	if res != Found {
		return false
	}
	var j jsonState
	_, done := j.scan(msg, start)
	return !done
}
