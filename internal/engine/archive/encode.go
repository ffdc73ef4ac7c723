package archive

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/flatten"
)

// TimeLayout is how the archive writes times: RFC 3339 in UTC with all nine
// fractional digits, so no precision is lost and times sort as text.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// MaxLineSize bounds one line. Readers treat longer lines as malformed, and
// the writer keeps an event that would exceed it in a reduced form (see
// AttrTruncated) rather than losing the fact that it happened.
const MaxLineSize = 16 << 20

// maxReducedMessage is how much of the message a reduced event keeps.
const maxReducedMessage = 64 << 10

// AttrTruncated is set, on an event too large for one line, to the encoded
// size in bytes of the original; the reduced event keeps its times, source,
// name, severity and the start of its message, and drops its attributes.
const AttrTruncated = "audit.archive_truncated"

// EncodeLogs returns the encoded body of every log record in ld, in order.
// The bodies are independent of the chain, so callers can encode in
// parallel and leave only the chaining to the Writer. They share one
// backing array, sized from the first event: a batch costs a few
// allocations, not several per event.
func EncodeLogs(ld plog.Logs) [][]byte {
	var e Encoder
	return e.Encode(ld)
}

// Encoder is EncodeLogs with its memory kept from one batch to the next:
// an exporter that encodes batch after batch reuses the same backing array
// (megabytes for a batch of thousands) instead of allocating and clearing
// a new one each time. Not safe for concurrent use.
type Encoder struct {
	// NoHints skips making IndexHints: no reader in this process takes
	// the lines (see Writer.Tapped).
	NoHints bool

	buf                 []byte
	ends                []int
	bodies              [][]byte
	hints               []*IndexHint
	scratch, resScratch encodeScratch
}

// IndexHint holds what an index reads from one event's line (auditquery's
// columns), taken from the record while encoding it: an index in this
// process that is handed the line (Tap) uses it instead of scanning the
// line's JSON. It holds each value exactly as a reader of the line gets it
// back, so it is made only where every one of them is written as itself
// (valid UTF-8 text; each attribute below, when present, a string under
// its own name), and never for a reduced event; other lines are scanned.
type IndexHint struct {
	// Time and Observed are the line's "time" and "observed" in
	// nanoseconds since 1970 (0 for null).
	Time, Observed int64
	// Severity is "severity_number".
	Severity int64
	// Source, Event and Message are "source", "event" and "message".
	Source, Event, Message string
	// The attributes audit.actor, audit.target, audit.client_address,
	// audit.action, resource, action_by and audit.parse_error ("" when
	// absent).
	Actor, Target, ClientAddress, Action, Resource, ActionBy, ParseError string
}

// IndexHintField returns where h keeps the attribute named name, or nil
// for an attribute an index does not read: the one mapping from the
// attributes' names to the hint's fields, for the encoder and for a
// reader scanning a line (auditquery) alike. name is a string or the
// bytes of one (a switch on a converted []byte does not allocate).
func IndexHintField[N ~string | ~[]byte](h *IndexHint, name N) *string {
	switch string(name) {
	case auditrecord.AttrActor:
		return &h.Actor
	case auditrecord.AttrTarget:
		return &h.Target
	case auditrecord.AttrClientAddress:
		return &h.ClientAddress
	case auditrecord.AttrAction:
		return &h.Action
	case "resource":
		return &h.Resource
	case "action_by":
		return &h.ActionBy
	case auditrecord.AttrParseError:
		return &h.ParseError
	}
	return nil
}

// Hints returns, for each body of the last Encode, its IndexHint (nil
// where none could be made; none at all with NoHints). Unlike the bodies, they are not reused by
// the next Encode: a Tap keeps them until its reader takes the lines.
func (e *Encoder) Hints() []*IndexHint { return e.hints }

// Size is the capacity, in bytes, of the memory the encoder keeps for the
// bodies.
func (e *Encoder) Size() int { return cap(e.buf) }

// Encode is EncodeLogs; the bodies it returns are valid until the next
// Encode.
func (e *Encoder) Encode(ld plog.Logs) [][]byte {
	n := ld.LogRecordCount()
	ends := e.ends[:0]
	buf := e.buf[:0]
	// Resources and records have their own scratch, so neither undoes the
	// other's remembered order.
	scratch, resScratch := &e.scratch, &e.resScratch
	// One allocation for the batch's hints; never reused (see Hints).
	var hintVals []IndexHint
	var hints []*IndexHint
	if !e.NoHints {
		hintVals, hints = make([]IndexHint, n), make([]*IndexHint, 0, n)
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		resJSON, _ := appendAttributes(nil, res, resScratch, nil)
		src, hasSrc := res.Get(auditrecord.AttrSource)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				source := ""
				if hasSrc {
					source = src.AsString()
				} else if v, ok := lrs.At(k).Attributes().Get(auditrecord.AttrSource); ok {
					source = v.AsString()
				}
				var h *IndexHint
				if hintVals != nil {
					h = &hintVals[len(hints)]
				}
				var ok bool
				buf, ok = appendRecord(buf, lrs.At(k), source, resJSON, scratch, h)
				if hintVals != nil {
					if !ok {
						h = nil
					}
					hints = append(hints, h)
				}
				if len(ends) == 0 && n > 1 {
					if want := len(buf) + (n-1)*(len(buf)+len(buf)/8); cap(buf) < want {
						// Room for the rest at about the first one's size,
						// so the buffer is not copied again and again as it
						// grows.
						grown := make([]byte, len(buf), want)
						copy(grown, buf)
						buf = grown
					}
				}
				ends = append(ends, len(buf))
			}
		}
	}
	bodies := e.bodies[:0]
	start := 0
	for _, end := range ends {
		bodies = append(bodies, buf[start:end:end])
		start = end
	}
	e.buf, e.ends, e.bodies, e.hints = buf, ends, bodies, hints
	return bodies
}

// appendRecord appends one event's body to dst:
//
//	"time":…,"observed":…,"source":…,"event":…,"severity_number":…,
//	"severity_text":…,"message":…,"attributes":{…},"resource":{…}
//
// It fills hint (when not nil) with what the body holds for an index and
// reports whether the hint is sound (see IndexHint).
func appendRecord(dst []byte, lr plog.LogRecord, source string, resJSON []byte, scratch *encodeScratch, hint *IndexHint) ([]byte, bool) {
	message := lr.Body().AsString()
	start := len(dst)
	dst = appendEventHead(dst, lr, source, message)
	var ok bool
	dst, ok = appendAttributes(dst, lr.Attributes(), scratch, hint)
	dst = append(dst, `,"resource":`...)
	dst = append(dst, resJSON...)
	if size := len(dst) - start; size+keyedSealLen+64 > MaxLineSize {
		return append(dst[:start], reducedBody(lr, source, message, size)...), false
	}
	if hint == nil {
		return dst, false
	}
	// A time is written in nine-digit RFC 3339 (null for 0), which a
	// reader parses back to the same nanoseconds.
	hint.Time, hint.Observed = int64(lr.Timestamp()), int64(lr.ObservedTimestamp()) //nolint:gosec // as the reader gets them back
	hint.Severity = int64(lr.SeverityNumber())
	hint.Source, hint.Event, hint.Message = source, lr.EventName(), message
	return dst, ok && utf8.ValidString(source) && utf8.ValidString(hint.Event) && utf8.ValidString(message)
}

// appendEventHead appends the body's fields before the attributes' value.
func appendEventHead(dst []byte, lr plog.LogRecord, source, message string) []byte {
	dst = append(dst, `"time":`...)
	dst = appendTimestamp(dst, lr.Timestamp())
	dst = append(dst, `,"observed":`...)
	dst = appendTimestamp(dst, lr.ObservedTimestamp())
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, source)
	dst = append(dst, `,"event":`...)
	dst = appendString(dst, lr.EventName())
	dst = append(dst, `,"severity_number":`...)
	dst = strconv.AppendInt(dst, int64(lr.SeverityNumber()), 10)
	dst = append(dst, `,"severity_text":`...)
	dst = appendString(dst, lr.SeverityText())
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, message)
	return append(dst, `,"attributes":`...)
}

func appendEventBody(dst []byte, lr plog.LogRecord, source, message string, attrs, resJSON []byte) []byte {
	dst = appendEventHead(dst, lr, source, message)
	dst = append(dst, attrs...)
	dst = append(dst, `,"resource":`...)
	return append(dst, resJSON...)
}

func reducedBody(lr plog.LogRecord, source, message string, size int) []byte {
	if len(message) > maxReducedMessage {
		cut := maxReducedMessage
		for cut > 0 && !utf8.RuneStart(message[cut]) {
			cut--
		}
		message = message[:cut]
	}
	attrs := append([]byte(`{`), appendString(nil, AttrTruncated)...)
	attrs = append(attrs, ':')
	attrs = strconv.AppendInt(attrs, int64(size), 10)
	attrs = append(attrs, '}')
	return appendEventBody(nil, lr, source, message, attrs, []byte(`{}`))
}

// encodeScratch is what encoding one batch reuses from event to event: a
// map to flatten nested attributes into, the attributes to sort, and the
// last order found. It lives for one EncodeLogs call, so the references it
// holds to the records' keys and values do not outlive the batch.
type encodeScratch struct {
	m    pcommon.Map
	made bool
	// u holds a map whose names were made unique (see uniqueNames).
	u     pcommon.Map
	madeU bool
	pairs []attrPair
	// order lists pairs' indexes by key; lastKeys are the keys, in map
	// order, it was computed for. Events of one source usually have the
	// same keys in the same order, so the order is reused rather than
	// sorted again.
	order    []int32
	lastKeys []string
	// lastClean says lastKeys are valid UTF-8 and none repeats.
	lastClean bool
}

// attrPair is one attribute, for ordering a map's entries by key without
// looking each one up again (pcommon.Map finds keys by a linear scan).
type attrPair struct {
	k string
	v pcommon.Value
}

// appendAttributes writes m as a flat JSON object with sorted keys. Nested
// values are flattened by internal/flatten first. No key is written twice
// and every key is valid UTF-8 (the project's JSON rule, internal/jsonpolicy;
// readers find a line that breaks it malformed): see uniqueNames.
//
// With hint set, it records there the attributes an index reads, under the
// names they are written with, and reports false if one of them is not a
// string of valid UTF-8 (a reader would get other text back).
func appendAttributes(dst []byte, m pcommon.Map, scratch *encodeScratch, hint *IndexHint) ([]byte, bool) {
	sound := true
	if !flatten.IsFlat(m) {
		if !scratch.made {
			scratch.m, scratch.made = pcommon.NewMap(), true
		}
		scratch.m.Clear()
		flatten.Into(scratch.m, m, flatten.Options{})
		m = scratch.m
	}
	pairs := scratch.pairs[:0]
	for k, v := range m.All() {
		pairs = append(pairs, attrPair{k, v})
	}
	order, clean := scratch.sortedOrder(pairs)
	if !clean {
		if !scratch.madeU {
			scratch.u, scratch.madeU = pcommon.NewMap(), true
		}
		uniqueNames(scratch.u, m)
		clear(pairs)
		pairs = pairs[:0]
		for k, v := range scratch.u.All() {
			pairs = append(pairs, attrPair{k, v})
		}
		order, _ = scratch.sortedOrder(pairs)
	}
	dst = append(dst, '{')
	for i, at := range order {
		p := pairs[at]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, p.k)
		dst = append(dst, ':')
		dst = appendValue(dst, p.v)
		if hint != nil {
			if field := IndexHintField(hint, p.k); field != nil {
				if p.v.Type() == pcommon.ValueTypeStr && utf8.ValidString(p.v.Str()) {
					*field = p.v.Str()
				} else {
					sound = false
				}
			}
		}
	}
	clear(pairs) // keep no references to the map's values
	scratch.pairs = pairs[:0]
	if !clean {
		scratch.u.Clear()
	}
	return append(dst, '}'), sound
}

// uniqueNames copies m into dst, which it clears first, with every name
// made valid UTF-8 as appendString writes it (each bad byte becomes U+FFFD)
// and a name already taken given internal/flatten's collision suffix: the
// first free "_2", "_3", ... in the order of m. A repeat reaches the
// encoder in OTLP data (pdata keeps the repeats a wire message carries) or
// from names that differ only in their invalid bytes; writing it twice
// would leave readers to choose between the values.
func uniqueNames(dst, m pcommon.Map) {
	dst.Clear()
	dst.EnsureCapacity(m.Len())
	taken := make(map[string]struct{}, m.Len())
	for k, v := range m.All() {
		k = validName(k)
		name := k
		for n := 2; ; n++ {
			if _, dup := taken[name]; !dup {
				break
			}
			name = k + flatten.DefaultSeparator + strconv.Itoa(n)
		}
		taken[name] = struct{}{}
		v.CopyTo(dst.PutEmpty(name))
	}
}

// validName returns s with each byte that is not part of valid UTF-8
// replaced by U+FFFD, as appendString writes it.
func validName(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// sortedOrder returns the indexes of pairs ordered by key, repeated keys
// in their order: the last order when the keys are the last ones, else a
// new one. Records have a few dozen attributes: an insertion sort of
// indexes, with no calls through a comparison function, is the quickest.
// clean says the keys are valid UTF-8 and none repeats.
func (s *encodeScratch) sortedOrder(pairs []attrPair) (order []int32, clean bool) {
	if len(pairs) == len(s.lastKeys) {
		same := true
		for i, p := range pairs {
			if p.k != s.lastKeys[i] {
				same = false
				break
			}
		}
		if same {
			return s.order, s.lastClean
		}
	}
	s.lastKeys = s.lastKeys[:0]
	s.order = s.order[:0]
	for i, p := range pairs {
		s.lastKeys = append(s.lastKeys, p.k)
		s.order = append(s.order, int32(i))
	}
	order = s.order
	if len(order) > 64 {
		slices.SortStableFunc(order, func(a, b int32) int { return strings.Compare(pairs[a].k, pairs[b].k) })
	} else {
		for i := 1; i < len(order); i++ {
			for j := i; j > 0 && pairs[order[j]].k < pairs[order[j-1]].k; j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
	}
	clean = true
	for i, at := range order {
		k := pairs[at].k
		if (i > 0 && k == pairs[order[i-1]].k) || !utf8.ValidString(k) {
			clean = false
			break
		}
	}
	s.lastClean = clean
	return order, clean
}

// appendValue writes a flat attribute value: strings, numbers and booleans
// as themselves, bytes as base64, empty as null. Maps and slices only occur
// below flatten's depth limit; they are written as their JSON text.
func appendValue(dst []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendString(dst, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no NaN or infinity.
			return appendString(dst, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool())
	case pcommon.ValueTypeBytes:
		return appendString(dst, base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()))
	case pcommon.ValueTypeEmpty:
		return append(dst, "null"...)
	default:
		return appendString(dst, v.AsString())
	}
}

func appendTimestamp(dst []byte, ts pcommon.Timestamp) []byte {
	if ts == 0 {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = time.Unix(0, int64(ts)).UTC().AppendFormat(dst, TimeLayout)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD (JSON
// cannot carry it); control characters, quote and backslash are escaped, and
// so are U+2028/U+2029, which break JavaScript readers.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
