// Package eventid gives every audit record the id deduplication keys on:
// the vendor's own event id where it has one (Glassix log.id), else a
// SHA-256 of the event's canonical content.
//
// The canonical content is, in this order: the source, the event name, the
// timestamp in Unix nanoseconds, the body, then every attribute whose key
// does not start with "audit." (the processor's own fields and flags), in
// the record's order. Each string is written as its length (uvarint) and
// bytes; each value as a type byte and its content, maps and slices
// recursively with their length. The encoding is unambiguous, so two events
// hash alike only when all of that is equal. The id is "sha256:" and 64 hex
// digits.
//
// The hash is taken before flattening, so changing flatten::separator does
// not change the ids of events already seen.
package eventid // import "github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/eventid"

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"strings"
	"sync"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/registry"
)

// HashPrefix starts every content-hash id.
const HashPrefix = "sha256:"

// Of returns r's event id. An audit.event_id already on the record wins (a
// receiver that knows the id set it); then the vendor's own id (vendors.Vendor.EventID: Glassix's log id); then the hash of
// the content, with attrs standing for the record's vendor fields.
func Of(source string, r plog.LogRecord, attrs pcommon.Map) string {
	if v, ok := r.Attributes().Get(auditrecord.AttrEventID); ok && v.Str() != "" {
		return v.Str()
	}
	if v, ok := registry.Lookup(source); ok {
		if id := v.EventID(attrs); id != "" {
			return id
		}
	}
	return Hash(source, r, attrs)
}

// Hash returns the content hash id of r with vendor fields attrs.
func Hash(source string, r plog.LogRecord, attrs pcommon.Map) string {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.buf = e.buf[:0]
	e.h.Reset()
	e.str(source)
	e.str(r.EventName())
	e.uint(uint64(r.Timestamp()))
	e.value(r.Body())
	attrs.Range(func(k string, v pcommon.Value) bool {
		if !strings.HasPrefix(k, "audit.") {
			e.str(k)
			e.value(v)
		}
		return true
	})
	e.flush()
	var sum [sha256.Size]byte
	e.h.Sum(sum[:0])
	out := make([]byte, len(HashPrefix)+hex.EncodedLen(sha256.Size))
	copy(out, HashPrefix)
	hex.Encode(out[len(HashPrefix):], sum[:])
	return string(out)
}

// flushAt is how much of the encoding is buffered before it is hashed; a
// string or byte value at least this long is hashed where it lies. So a
// record holding a near-limit value (an unreadable 8 MiB body) costs no
// copy of it.
const flushAt = 32 << 10

// encoders reuse the encoding buffer and the hash across records.
var encoders = sync.Pool{New: func() any { return &encoder{h: sha256.New()} }}

// encoder writes the canonical encoding into h, buffering small pieces in
// buf.
type encoder struct {
	buf []byte
	h   hash.Hash
}

func (e *encoder) flush() {
	if len(e.buf) > 0 {
		e.h.Write(e.buf)
		e.buf = e.buf[:0]
	}
}

// bytes writes b, which must not be modified during the call.
func (e *encoder) bytes(b []byte) {
	if len(b) >= flushAt {
		e.flush()
		e.h.Write(b) // hashes read their input and keep none of it
		return
	}
	e.buf = append(e.buf, b...)
	if len(e.buf) >= flushAt {
		e.flush()
	}
}

func (e *encoder) uint(n uint64) {
	e.buf = binary.AppendUvarint(e.buf, n)
}

func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	e.bytes(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func (e *encoder) tag(t pcommon.ValueType) {
	e.buf = append(e.buf, byte(t))
}

func (e *encoder) value(v pcommon.Value) {
	t := v.Type()
	e.tag(t)
	switch t {
	case pcommon.ValueTypeStr:
		e.str(v.Str())
	case pcommon.ValueTypeInt:
		e.uint(uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		e.uint(math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			e.uint(1)
		} else {
			e.uint(0)
		}
	case pcommon.ValueTypeBytes:
		b := v.Bytes().AsRaw()
		e.uint(uint64(len(b)))
		e.bytes(b)
	case pcommon.ValueTypeMap:
		m := v.Map()
		e.uint(uint64(m.Len()))
		m.Range(func(k string, mv pcommon.Value) bool {
			e.str(k)
			e.value(mv)
			return true
		})
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		e.uint(uint64(s.Len()))
		for i := 0; i < s.Len(); i++ {
			e.value(s.At(i))
		}
	}
}
