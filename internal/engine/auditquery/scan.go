package auditquery

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
)

// extractFast is extract for a line known to follow the project's JSON rule
// (internal/jsonpolicy; the archive reader checked it): instead of decoding
// the whole object it walks it once, unquoting only the members the index
// keeps and skipping the rest. Names are matched exactly, after unescaping;
// the rule leaves no repeated name to choose between. It reports false when
// the line is not shaped as expected; extract then falls back to
// encoding/json.
func extractFast(raw []byte) (fields, bool) {
	var (
		f       fields
		w       scanner
		tm, obs []byte
		marker  string
		detail  []byte
		h       archive.IndexHint // the event's values, as its writer would hand them over
	)
	w.b = raw
	f.ok = true
	if !w.object(func(key []byte) bool {
		switch string(key) {
		case "time":
			tm = w.stringOrNull()
		case "observed":
			obs = w.stringOrNull()
		case "source":
			h.Source = w.text()
		case "event":
			h.Event = w.text()
		case "message":
			h.Message = w.text()
		case "marker":
			marker = w.text()
		case "severity_number":
			n, err := strconv.Atoi(string(w.value()))
			if err != nil {
				return false
			}
			f.sev = min(max(n, 0), 255)
		case "detail":
			detail = w.value()
		case "attributes":
			return w.object(func(key []byte) bool {
				if field := archive.IndexHintField(&h, key); field != nil {
					*field = w.text()
				} else {
					w.value()
				}
				return !w.bad
			})
		default:
			w.value()
		}
		return !w.bad
	}) || w.bad {
		return fields{}, false
	}
	if marker == "" {
		h.Time, h.Observed, h.Severity = parseBytesNs(tm), parseBytesNs(obs), int64(f.sev)
		return hintFields(&h), true
	}
	f.time = parseBytesNs(tm)
	if f.time == 0 {
		f.time = parseBytesNs(obs)
		f.received = f.time != 0
	}
	f.kind = kindMarker
	f.cols[colAction] = marker
	f.msg = string(detail)
	f.alarm = alarmMarkers[marker]
	f.sev = 0
	return f, true
}

// hintFields turns an event line's values into the index's fields: those
// extractFast scanned, or those the line's writer in this process handed
// over with it (archive.IndexHint), which are the same
// (TestHintFieldsMatchTheLine) without scanning the line.
func hintFields(h *archive.IndexHint) fields {
	f := fields{ok: true, sev: int(min(max(h.Severity, 0), 255)), time: h.Time}
	if f.time == 0 {
		f.time = h.Observed
		f.received = f.time != 0
	}
	f.cols[colSource] = h.Source
	f.cols[colResource], f.cols[colActor] = columnsFor(h.Source, h.Resource, h.Target, h.ActionBy, h.Actor)
	f.cols[colAction] = first(h.Event, h.Action)
	f.cols[colAddress] = h.ClientAddress
	f.msg = h.Message
	f.parseErr = h.ParseError
	return f
}

// scanner walks valid JSON.
type scanner struct {
	b   []byte
	p   int
	bad bool
}

func (w *scanner) ws() {
	for w.p < len(w.b) {
		switch w.b[w.p] {
		case ' ', '\t', '\n', '\r':
			w.p++
		default:
			return
		}
	}
}

// object walks an object, calling member with each name (unescaped)
// positioned at its value, which member must consume.
func (w *scanner) object(member func(key []byte) bool) bool {
	w.ws()
	if w.p >= len(w.b) || w.b[w.p] != '{' {
		w.bad = true
		return false
	}
	w.p++
	w.ws()
	if w.p < len(w.b) && w.b[w.p] == '}' {
		w.p++
		return true
	}
	for {
		w.ws()
		key := w.str()
		if w.bad {
			return false
		}
		name := key[1 : len(key)-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			// The rule compares names after unescaping: "\u0073ource" is
			// source. The writer never escapes a name it reads here.
			var s string
			if json.Unmarshal(key, &s) != nil {
				w.bad = true
				return false
			}
			name = []byte(s)
		}
		w.ws()
		if w.p >= len(w.b) || w.b[w.p] != ':' {
			w.bad = true
			return false
		}
		w.p++
		w.ws()
		if !member(name) {
			return false
		}
		w.ws()
		if w.p >= len(w.b) {
			w.bad = true
			return false
		}
		switch w.b[w.p] {
		case ',':
			w.p++
		case '}':
			w.p++
			return true
		default:
			w.bad = true
			return false
		}
	}
}

// str consumes a string and returns it with its quotes.
func (w *scanner) str() []byte {
	if w.p >= len(w.b) || w.b[w.p] != '"' {
		w.bad = true
		return nil
	}
	start := w.p
	w.p++
	for {
		i := bytes.IndexByte(w.b[w.p:], '"')
		if i < 0 {
			w.bad = true
			return nil
		}
		w.p += i + 1
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for j := w.p - 2; j > start && w.b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return w.b[start:w.p]
		}
	}
}

// value consumes any value and returns its text.
func (w *scanner) value() []byte {
	start := w.p
	if w.p >= len(w.b) {
		w.bad = true
		return nil
	}
	switch w.b[w.p] {
	case '"':
		return w.str()
	case '{', '[':
		depth := 0
		for w.p < len(w.b) {
			switch w.b[w.p] {
			case '"':
				if w.str(); w.bad {
					return nil
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					w.p++
					return w.b[start:w.p]
				}
			}
			w.p++
		}
		w.bad = true
		return nil
	default:
		for w.p < len(w.b) {
			switch w.b[w.p] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return w.b[start:w.p]
			}
			w.p++
		}
		return w.b[start:w.p]
	}
}

// text consumes a value: a string's content, or other JSON as its text
// (null as empty), as anyText reads it.
func (w *scanner) text() string {
	v := w.value()
	if w.bad || len(v) == 0 {
		return ""
	}
	if v[0] != '"' {
		if string(v) == "null" {
			return ""
		}
		return string(v)
	}
	if bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
		return string(v[1 : len(v)-1])
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		w.bad = true
		return ""
	}
	return s
}

// stringOrNull consumes a string (returning its content, which for a time
// has no escapes) or null.
func (w *scanner) stringOrNull() []byte {
	v := w.value()
	if len(v) >= 2 && v[0] == '"' {
		return v[1 : len(v)-1]
	}
	return nil
}

// columnsFor picks the Resource and Action by columns: Sippy's viewer shows
// its own resource (with the new values) and the full actor string; the
// other vendors' normalized target and actor.
func columnsFor(source, resource, target, actionBy, actor string) (string, string) {
	if source == auditrecord.SourceSippy {
		return first(resource, target), first(actionBy, actor)
	}
	return first(target, resource), first(actor, actionBy)
}
