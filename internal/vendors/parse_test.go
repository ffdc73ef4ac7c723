package vendors

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// shares reports whether s lies in b's memory.
func shares(s string, b []byte) bool {
	if len(s) == 0 || len(b) == 0 {
		return false
	}
	p, start := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= start && p < start+uintptr(len(b))
}

// The raw text of an unparseable event is copied unless it is at least
// half of a body the records may keep (a large body that is one bad
// event); invalid UTF-8 is replaced in a single copy.
func TestUnparseableRawText(t *testing.T) {
	big := []byte(strings.Repeat("x", 1000))
	tests := []struct {
		name    string
		owned   []byte
		raw     []byte
		want    string
		aliased bool
	}{
		{"whole owned body: not copied", big, big, string(big), true},
		{"half of an owned body: not copied", big, big[:500], string(big[:500]), true},
		{"small part of an owned body: copied, so it does not pin the body", big, big[:499], string(big[:499]), false},
		{"reused buffer: copied", nil, big, string(big), false},
		{"invalid UTF-8: replaced", nil, []byte("a\xffb\xfe\xfdc"), "a\uFFFDb\uFFFDc", false},
		{"invalid UTF-8 in an owned body: replaced", []byte("a\xffb"), []byte("a\xffb"), "a\uFFFDb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := plog.NewLogRecordSlice()
			var res Result
			Unparseable(out, Options{ForwardUnparsed: true, Owned: tt.owned}, &res, tt.raw, Problem{Error: "bad"})
			require.Equal(t, 1, out.Len())
			body := out.At(0).Body().Str()
			assert.Equal(t, tt.want, body)
			assert.Equal(t, tt.aliased, shares(body, tt.raw))
			assert.Equal(t, 1, res.Flagged)
		})
	}
}

// With Flush set, ParseEvents hands the records on every FlushAt events
// and at the end, each piece with the bytes of its events, and stops at a
// refusal.
func TestParseEventsHandsRecordsOnInPieces(t *testing.T) {
	var body bytes.Buffer
	for i := range 25 {
		if i == 12 {
			body.WriteString("{broken\n")
			continue
		}
		fmt.Fprintf(&body, `{"n":%d}`+"\n", i)
	}
	fill := func(plog.LogRecord) FieldProblems { return nil }

	t.Run("all accepted", func(t *testing.T) {
		var pieces, sizes []int
		total := 0
		out := plog.NewLogRecordSlice()
		res := ParseEvents(body.Bytes(), Options{ForwardUnparsed: true, FlushAt: 10, Flush: func(recs plog.LogRecordSlice, size int) bool {
			pieces = append(pieces, recs.Len())
			sizes = append(sizes, size)
			total += recs.Len()
			recs.RemoveIf(func(plog.LogRecord) bool { return true })
			return true
		}}, out, fill)
		assert.Equal(t, []int{10, 10, 5}, pieces)
		assert.Equal(t, 25, total)
		assert.Equal(t, 24, res.Parsed)
		assert.Equal(t, 1, res.Flagged)
		assert.Zero(t, out.Len(), "everything was handed on")
		sum := 0
		for _, s := range sizes {
			sum += s
		}
		assert.Equal(t, len(bytes.ReplaceAll(body.Bytes(), []byte("\n"), nil)), sum, "the pieces' sizes add up to the events' bytes")
	})

	t.Run("refused", func(t *testing.T) {
		calls := 0
		out := plog.NewLogRecordSlice()
		res := ParseEvents(body.Bytes(), Options{ForwardUnparsed: true, FlushAt: 10, Flush: func(plog.LogRecordSlice, int) bool {
			calls++
			return false
		}}, out, fill)
		assert.Equal(t, 1, calls, "nothing is handed on after a refusal")
		assert.Equal(t, 10, res.Parsed, "the rest is not counted")
		assert.Equal(t, 10, out.Len(), "the refused records stay where they were")
	})

	t.Run("without Flush, every record stays in out", func(t *testing.T) {
		out := plog.NewLogRecordSlice()
		res := ParseEvents(body.Bytes(), Options{ForwardUnparsed: true}, out, fill)
		assert.Equal(t, 25, out.Len())
		assert.Equal(t, 24, res.Parsed)
		v, ok := out.At(12).Attributes().Get(auditrecord.AttrParseError)
		require.True(t, ok)
		assert.Contains(t, v.Str(), "line 13")
	})
}
