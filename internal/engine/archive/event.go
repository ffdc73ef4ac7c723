package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
)

// Event is one decoded archive line: an audit event, or a marker the writer
// recorded about the archive itself (Marker is then set).
type Event struct {
	Seq  uint64
	Prev string // hash of the line before, hex
	Hash string // this line's hash, hex
	HMAC string // hex; empty when the archive is not keyed

	Time           time.Time // when the event happened; zero when the record had none
	Observed       time.Time // when the collector received it; zero when unset
	Source         string    // audit.source: glassix, ctreplay, sippy
	Name           string    // the record's EventName
	SeverityNumber int       // OTel severity number
	SeverityText   string
	Message        string         // the record's body as text
	Attributes     map[string]any // flattened; values are string, int64, float64, bool or nil
	Resource       map[string]any // flattened resource attributes

	Marker string         // marker kind; empty for an audit event
	Detail map[string]any // the marker's details
}

// IsMarker reports whether the line is a marker rather than an audit event.
func (e *Event) IsMarker() bool { return e.Marker != "" }

// Marker kinds. The writer records these in the chain, so what it did to the
// archive is itself tamper-evident.
const (
	// MarkerPartialLineRemoved: at start, the active file ended in a partial
	// line (a crash mid-write); it was cut away and saved beside the archive.
	// Detail: file, offset, length, saved_as.
	MarkerPartialLineRemoved = "partial_line_removed"
	// MarkerRetention: rotated files are about to be deleted by retention.
	// Detail: removed (list of {file, first_seq, first_prev}) and next
	// ({file, first_seq, first_prev}), the file that becomes the oldest.
	MarkerRetention = "retention"
	// MarkerTailMissing: at start, the head recorded a later line than the
	// archive holds: lines were removed from its end while the writer was
	// stopped. The chain continues after the head's line, so the gap stays
	// visible. Detail: head_seq, head_hash, last_seq.
	MarkerTailMissing = "tail_missing"
	// MarkerHeadMismatch: at start, the line with the head's seq had another
	// hash than the head recorded. Detail: head_seq, head_hash, line_hash.
	MarkerHeadMismatch = "head_mismatch"
	// MarkerHeadUnreadable: at start, the archive had lines but its head
	// file was missing or unreadable, so a truncated tail could not be
	// checked. Detail: last_seq, error.
	MarkerHeadUnreadable = "head_unreadable"
)

// alarmMarkers are marker kinds that report tampering (or damage) found by
// the writer; verify reports them as problems.
var alarmMarkers = map[string]bool{
	MarkerTailMissing:    true,
	MarkerHeadMismatch:   true,
	MarkerHeadUnreadable: true,
}

// appendMarkerBody writes a marker's body: "marker":…,"time":…,"detail":{…}.
func appendMarkerBody(dst []byte, kind string, at time.Time, detail map[string]any) []byte {
	dst = append(dst, `"marker":`...)
	dst = appendString(dst, kind)
	dst = append(dst, `,"time":"`...)
	dst = at.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, `","detail":`...)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(detail); err != nil {
		// Details are built by this package from strings and numbers.
		panic(fmt.Sprintf("archive: encoding marker detail: %v", err))
	}
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...)
}

type wireLine struct {
	Seq            uint64
	Prev           string
	Hash           string
	HMAC           string
	Time           *string
	Observed       *string
	Source         string
	Event          string
	SeverityNumber int
	SeverityText   string
	Message        string
	Attributes     map[string]any
	Resource       map[string]any
	Marker         string
	Detail         map[string]any
}

// members maps each member name of a line to where it is decoded.
func (w *wireLine) members() []struct {
	name string
	dst  any
} {
	return []struct {
		name string
		dst  any
	}{
		{"seq", &w.Seq}, {"prev", &w.Prev}, {"hash", &w.Hash}, {"hmac", &w.HMAC},
		{"time", &w.Time}, {"observed", &w.Observed}, {"source", &w.Source}, {"event", &w.Event},
		{"severity_number", &w.SeverityNumber}, {"severity_text", &w.SeverityText}, {"message", &w.Message},
		{"attributes", &w.Attributes}, {"resource", &w.Resource}, {"marker", &w.Marker}, {"detail", &w.Detail},
	}
}

// DecodeEvent decodes one archive line (without its newline). It does not
// check the hash; the reader does that. A line that breaks the project's
// JSON rule (internal/jsonpolicy: a repeated member name, invalid UTF-8) is
// an error, and members are matched by their exact names: encoding/json's
// struct decoding would take the last of a repeat and ignore case.
func DecodeEvent(line []byte) (Event, error) {
	if err := jsonpolicy.Check(line, jsonpolicy.MaxDepth); err != nil {
		return Event{}, fmt.Errorf("decoding line: %w", err)
	}
	var top map[string]json.RawMessage // names as written
	if err := json.Unmarshal(line, &top); err != nil {
		return Event{}, fmt.Errorf("decoding line: %w", err)
	}
	var w wireLine
	for _, m := range w.members() {
		raw, ok := top[m.name]
		if !ok {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(m.dst); err != nil {
			return Event{}, fmt.Errorf("decoding line: %s: %w", m.name, err)
		}
	}
	e := Event{
		Seq: w.Seq, Prev: w.Prev, Hash: w.Hash, HMAC: w.HMAC,
		Source: w.Source, Name: w.Event, SeverityNumber: w.SeverityNumber,
		SeverityText: w.SeverityText, Message: w.Message,
		Attributes: numbersIn(w.Attributes), Resource: numbersIn(w.Resource),
		Marker: w.Marker, Detail: numbersIn(w.Detail),
	}
	var err error
	if e.Time, err = parseTime(w.Time); err != nil {
		return Event{}, fmt.Errorf("decoding line: time: %w", err)
	}
	if e.Observed, err = parseTime(w.Observed); err != nil {
		return Event{}, fmt.Errorf("decoding line: observed: %w", err)
	}
	return e, nil
}

func parseTime(s *string) (time.Time, error) {
	if s == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	return t.UTC(), err
}

// numbersIn turns json.Number values into int64 (integers) or float64.
func numbersIn(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = numberValue(v)
	}
	return m
}

func numberValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(x.String(), ".eE") {
			if i, err := x.Int64(); err == nil {
				return i
			}
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		return numbersIn(x)
	case []any:
		for i := range x {
			x[i] = numberValue(x[i])
		}
	}
	return v
}
