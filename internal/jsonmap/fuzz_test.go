package jsonmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// FuzzDecode checks the decoder against encoding/json: it accepts exactly
// the valid documents (except for its documented refusals: limits and
// duplicate keys) and yields the same values.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`,
		`"\ud83d\ude00\u00e9\n"`, `-0.5e+10`, `12345678901234567890`, `1e999`,
		`{"a":"x","a":"y"}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		"\"\xff\xfe\"", `{"a":`, ``, ` `, `nul`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := pcommon.NewValueEmpty()
		err := Decode(data, v, Limits{})
		valid := json.Valid(data)
		if err != nil {
			var je *Error
			require.True(t, errors.As(err, &je), "error is not *Error: %v", err)
			if je.Kind == Syntax {
				require.False(t, valid, "valid JSON refused: %v", err)
			}
			require.LessOrEqual(t, je.Offset, len(data))
			return
		}
		require.True(t, valid, "invalid JSON accepted")
		var want any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&want))
		requireSame(t, want, v)
	})
}

// requireSame compares an encoding/json value (decoded with UseNumber) with
// ours.
func requireSame(t *testing.T, want any, got pcommon.Value) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		require.Equal(t, pcommon.ValueTypeEmpty, got.Type())
	case bool:
		require.Equal(t, pcommon.ValueTypeBool, got.Type())
		require.Equal(t, w, got.Bool())
	case string:
		require.Equal(t, pcommon.ValueTypeStr, got.Type())
		require.Equal(t, w, got.Str())
	case json.Number:
		switch got.Type() {
		case pcommon.ValueTypeInt:
			n, err := w.Int64()
			require.NoError(t, err)
			require.Equal(t, n, got.Int())
		case pcommon.ValueTypeDouble:
			x, err := w.Float64()
			require.NoError(t, err)
			require.Equal(t, x, got.Double())
		case pcommon.ValueTypeStr:
			require.Equal(t, w.String(), got.Str(), "out-of-range number keeps its literal")
		default:
			require.Failf(t, "number decoded as", "%v", got.Type())
		}
	case []any:
		require.Equal(t, pcommon.ValueTypeSlice, got.Type())
		require.Equal(t, len(w), got.Slice().Len())
		for i := range w {
			requireSame(t, w[i], got.Slice().At(i))
		}
	case map[string]any:
		require.Equal(t, pcommon.ValueTypeMap, got.Type())
		require.Equal(t, len(w), got.Map().Len())
		for k, wv := range w {
			gv, ok := got.Map().Get(k)
			require.True(t, ok, "missing key %q", k)
			requireSame(t, wv, gv)
		}
	default:
		require.Failf(t, "unexpected type", "%T", want)
	}
}

// FuzzWalk checks Walk's promise that nothing is lost: every byte of the
// body is inside some event's text, or is whitespace or a top-level
// array's punctuation; and every good event's text decodes to its
// attributes.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{
		"{\"ts\":\"08/01/2021 - 12:44:30.479\",\"action\":\"GET ALL Profile\"}\n{\"ts\":\"08/01/2021 - 16:36:30.408\",\"action\":\"SE",
		`[{"a":1},{"b":2}]`, "[{\"a\":1},\n{\"b\":}]\n{\"c\":3}", "{\"a\":1,\"a\":2}\n{}", "x\n{\"a\":\n{\"b\":1}",
		"]]]\n[[[", `"s" 1 true null`, "{\n  \"a\": 1\n  \"b\": 2\n}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		covered := make([]bool, len(body))
		last := -1
		Walk(body, Limits{MaxDepth: 8}, func(ev *Event) {
			if ev.Ordinal != 0 {
				require.Greater(t, ev.Ordinal, last, "ordinals increase")
				last = ev.Ordinal
			}
			if len(ev.Raw) > 0 {
				off := cap(body) - cap(ev.Raw)
				require.True(t, off >= 0 && off+len(ev.Raw) <= len(body), "raw text is a slice of the body")
				require.Equal(t, ev.Line, 1+bytes.Count(body[:off], []byte{'\n'}), "line of the event's start")
				for i := off; i < off+len(ev.Raw); i++ {
					covered[i] = true
				}
			}
			if ev.Err == nil {
				v := pcommon.NewValueEmpty()
				require.NoError(t, Decode(ev.Raw, v, Limits{MaxDepth: 8}))
				require.True(t, v.Map().Equal(ev.Attrs), "event text decodes to its attributes")
			}
		})
		for i, c := range body {
			if !covered[i] {
				require.Contains(t, " \t\r\n[,]", string(c), "byte %d (%q) of %q belongs to no event", i, c, body)
			}
		}
	})
}
