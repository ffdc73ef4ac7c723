package jsonmap

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func decode(t *testing.T, in string, lim Limits) (pcommon.Value, error) {
	t.Helper()
	v := pcommon.NewValueEmpty()
	return v, Decode([]byte(in), v, lim)
}

func keys(m pcommon.Map) []string {
	var ks []string
	for k := range m.All() {
		ks = append(ks, k)
	}
	return ks
}

func TestDecodeKeepsMemberOrder(t *testing.T) {
	// The order of seed 000's log object, which the syslog exporter must
	// reproduce; encoding/json into a Go map would sort it.
	in := `{"id":"a","dateTime":"b","departmentId":"c","initiatorUser":{"id":"x","gender":"Male","UserName":"u"},"ipAddress":"d","message":"m","type":"t","logType":"Security"}`
	v, err := decode(t, in, Limits{})
	require.NoError(t, err)
	m := v.Map()
	assert.Equal(t, []string{"id", "dateTime", "departmentId", "initiatorUser", "ipAddress", "message", "type", "logType"}, keys(m))
	user, _ := m.Get("initiatorUser")
	require.Equal(t, pcommon.ValueTypeMap, user.Type(), "nested objects stay maps")
	assert.Equal(t, []string{"id", "gender", "UserName"}, keys(user.Map()))
}

func TestDecodeTypes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func(t *testing.T, v pcommon.Value)
	}{
		{"integer is Int", `42`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, int64(42), v.Int()) }},
		{"negative integer is Int", `-7`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, int64(-7), v.Int()) }},
		{"max int64 is Int", `9223372036854775807`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, int64(math.MaxInt64), v.Int()) }},
		{"integer beyond int64 keeps its digits", `12345678901234567890`, func(t *testing.T, v pcommon.Value) {
			assert.Equal(t, "12345678901234567890", v.Str())
		}},
		{"fraction is Double", `1.5`, func(t *testing.T, v pcommon.Value) { assert.InDelta(t, 1.5, v.Double(), 0) }},
		{"1.0 stays Double", `1.0`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, pcommon.ValueTypeDouble, v.Type()) }},
		{"exponent is Double", `2e3`, func(t *testing.T, v pcommon.Value) { assert.InDelta(t, 2000.0, v.Double(), 0) }},
		{"float overflow keeps its literal", `1e999`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, "1e999", v.Str()) }},
		{"true", `true`, func(t *testing.T, v pcommon.Value) { assert.True(t, v.Bool()) }},
		{"false", `false`, func(t *testing.T, v pcommon.Value) { assert.False(t, v.Bool()) }},
		{"null is empty", `null`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, pcommon.ValueTypeEmpty, v.Type()) }},
		{"array is Slice", `[1,"a",null]`, func(t *testing.T, v pcommon.Value) {
			assert.Equal(t, []any{int64(1), "a", nil}, v.Slice().AsRaw())
		}},
		{"empty object", `{}`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, 0, v.Map().Len()) }},
		{"escapes", `"a\"b\\c\/d\b\f\n\r\t\u00e9"`, func(t *testing.T, v pcommon.Value) {
			assert.Equal(t, "a\"b\\c/d\b\f\n\r\té", v.Str())
		}},
		{"surrogate pair", `"\ud83d\ude00"`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, "😀", v.Str()) }},
		{"lone surrogate becomes U+FFFD", `"\ud800x"`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, "\uFFFDx", v.Str()) }},
		{"invalid UTF-8 becomes U+FFFD", "\"a\xffb\"", func(t *testing.T, v pcommon.Value) { assert.Equal(t, "a\uFFFDb", v.Str()) }},
		{"raw UTF-8 passes through", `"קבוצה"`, func(t *testing.T, v pcommon.Value) { assert.Equal(t, "קבוצה", v.Str()) }},
		{"whitespace around value", " \t\r\n{\"a\" : [ ] }\n", func(t *testing.T, v pcommon.Value) {
			assert.Equal(t, map[string]any{"a": []any{}}, v.Map().AsRaw())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decode(t, tt.in, Limits{})
			require.NoError(t, err)
			tt.want(t, v)
		})
	}
}

func TestTypeName(t *testing.T) {
	for in, want := range map[string]string{
		`"x"`: "string", `1`: "number", `1.5`: "number",
		`true`: "boolean", `null`: "null", `[]`: "array", `{}`: "object",
	} {
		v, err := decode(t, in, Limits{})
		require.NoError(t, err)
		assert.Equal(t, want, TypeName(v.Type()), in)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		lim     Limits
		kind    ErrorKind
		message string
	}{
		{"truncated object (seed 001's second line)", `{"ts":"08/01/2021 - 16:36:30.408","action":"SE`, Limits{}, Syntax, "unterminated string"},
		{"missing comma", `{"a":1 "b":2}`, Limits{}, Syntax, "expected ',' or '}'"},
		{"trailing comma", `{"a":1,}`, Limits{}, Syntax, "expected a member name"},
		{"unquoted key", `{a:1}`, Limits{}, Syntax, "expected a member name"},
		{"single quotes", `{'a':1}`, Limits{}, Syntax, "expected a member name"},
		{"leading zero", `012`, Limits{}, Syntax, "after top-level value"},
		{"bare minus", `-`, Limits{}, Syntax, "expected a digit"},
		{"dot without digits", `1.`, Limits{}, Syntax, "after decimal point"},
		{"bad literal", `tru`, Limits{}, Syntax, `expected "true"`},
		{"raw newline in string", "\"a\nb\"", Limits{}, Syntax, "unterminated string: the line ends inside it"},
		{"raw tab in string", "\"a\tb\"", Limits{}, Syntax, "control character 0x09 in string"},
		{"bad escape", `"\x"`, Limits{}, Syntax, "invalid escape"},
		{"short unicode escape", `"\u12"`, Limits{}, Syntax, `invalid \u escape`},
		{"two values", `{} {}`, Limits{}, Syntax, "after top-level value"},
		{"empty input", ``, Limits{}, Syntax, "expected a value"},
		{"duplicate key", `{"action":"GET","action":"DELETE"}`, Limits{}, DuplicateKey, `duplicate key "action"`},
		{"nesting too deep", strings.Repeat("[", 40) + strings.Repeat("]", 40), Limits{}, Limit, "nesting deeper than 32"},
		{"string too long", `"` + strings.Repeat("a", 100) + `"`, Limits{MaxStringBytes: 10}, Limit, "string longer than 10 bytes"},
		{"escaped string too long", `"` + strings.Repeat(`\n`, 100) + `"`, Limits{MaxStringBytes: 10}, Limit, "string longer than 10 bytes"},
		{"too many members", `{"a":1,"b":2,"c":3}`, Limits{MaxObjectMembers: 2}, Limit, "more than 2 members"},
		{"too many elements", `[1,2,3]`, Limits{MaxArrayElements: 2}, Limit, "more than 2 elements"},
		{"number too long", strings.Repeat("1", 2000), Limits{}, Limit, "number literal longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(t, tt.in, tt.lim)
			var je *Error
			require.True(t, errors.As(err, &je), "want *Error, got %v", err)
			assert.Equal(t, tt.kind, je.Kind)
			assert.Contains(t, je.Error(), tt.message)
		})
	}
}

func TestDecodeHostileNestingIsBounded(t *testing.T) {
	// 1 MiB of '[' would need a million stack frames without the bound.
	in := strings.Repeat("[", 1<<20)
	_, err := decode(t, in, Limits{})
	var je *Error
	require.True(t, errors.As(err, &je))
	assert.Equal(t, Limit, je.Kind)
	assert.Equal(t, DefaultMaxDepth, je.Offset, "stops at the bound, not at the end of the input")
}

func TestSkip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		end  int // offset after the skipped value; -1 for an error
	}{
		{"object with nested strings", `{"a":"}]\"","b":[1,{"c":2}]} tail`, 28},
		{"scalar", `12345,`, 5},
		{"literal", `true]`, 4},
		{"string", `"x\"y" z`, 6},
		{"unterminated", `{"a":[1,2`, -1},
		{"unterminated string", `"abc`, -1},
		{"close without open", `]`, -1},
		{"nothing", `   `, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder([]byte(tt.in), Limits{})
			err := d.Skip()
			if tt.end < 0 {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.end, d.Offset())
		})
	}
}

func BenchmarkDecodeGlassixLog(b *testing.B) {
	in := []byte(`{"id":"cb20ff99-25bb-400c-a8cd-9052fc5f6d3f","dateTime":"2024-01-11T09:18:32.7452358Z","departmentId":"9200c94a-13d7-4397-a52c-1728fc6bb670","initiatorUser":{"id":"aca76a89-8950-4424-b727-2f277c24a891","gender":"Male","UserName":"[email protected]","culture":"en-US","isAnonymous":false,"uniqueArgument":"","type":"AGENT"},"ipAddress":"212.199.97.210","message":"[email protected] removed by [email protected]","type":"UserRemoved","logType":"Security"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		v := pcommon.NewValueEmpty()
		if err := Decode(in, v, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
