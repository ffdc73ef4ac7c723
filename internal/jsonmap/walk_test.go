package jsonmap

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seen is what a test keeps of one walked event.
type seen struct {
	Ordinal int
	Line    int
	Raw     string
	Attrs   map[string]any
	Err     string
}

func walk(body string, lim Limits) []seen {
	var out []seen
	Walk([]byte(body), lim, func(ev *Event) {
		s := seen{Ordinal: ev.Ordinal, Line: ev.Line, Raw: string(ev.Raw)}
		if ev.Err != nil {
			s.Err = ev.Err.Error()
		} else {
			s.Attrs = ev.Attrs.AsRaw()
		}
		out = append(out, s)
	})
	return out
}

func TestWalk(t *testing.T) {
	const good1 = `{"ts":"08/01/2021 - 12:44:30.479","action":"GET ALL Profile"}`
	const good2 = `{"ts":"08/01/2021 - 12:45:00.000","action":"DELETE Recording"}`
	tests := []struct {
		name string
		body string
		want []seen
	}{
		{
			name: "one object",
			body: good1,
			want: []seen{{1, 1, good1, map[string]any{"ts": "08/01/2021 - 12:44:30.479", "action": "GET ALL Profile"}, ""}},
		},
		{
			name: "json lines with CRLF and blank lines",
			body: good1 + "\r\n\r\n" + good2 + "\r\n",
			want: []seen{
				{1, 1, good1, map[string]any{"ts": "08/01/2021 - 12:44:30.479", "action": "GET ALL Profile"}, ""},
				{2, 3, good2, map[string]any{"ts": "08/01/2021 - 12:45:00.000", "action": "DELETE Recording"}, ""},
			},
		},
		{
			name: "array of objects",
			body: "[" + good1 + ",\n " + good2 + "]",
			want: []seen{
				{1, 1, good1, map[string]any{"ts": "08/01/2021 - 12:44:30.479", "action": "GET ALL Profile"}, ""},
				{2, 2, good2, map[string]any{"ts": "08/01/2021 - 12:45:00.000", "action": "DELETE Recording"}, ""},
			},
		},
		{
			name: "empty array",
			body: " [ ] ",
			want: nil,
		},
		{
			name: "bad line in the middle keeps both neighbours",
			body: good1 + "\n{\"ts\":\"x\",\"action\":\"SE\n" + good2 + "\n",
			want: []seen{
				{1, 1, good1, map[string]any{"ts": "08/01/2021 - 12:44:30.479", "action": "GET ALL Profile"}, ""},
				{2, 2, `{"ts":"x","action":"SE`, nil, "line 2, column 23: unterminated string: the line ends inside it"},
				{3, 3, good2, map[string]any{"ts": "08/01/2021 - 12:45:00.000", "action": "DELETE Recording"}, ""},
			},
		},
		{
			name: "line cut after a comma does not swallow the next line",
			body: "{\"ts\":\"x\",\n" + good2,
			want: []seen{
				{1, 1, `{"ts":"x",`, nil, "line 2, column 1: expected a member name in quotes, found '{'"},
				{2, 2, good2, map[string]any{"ts": "08/01/2021 - 12:45:00.000", "action": "DELETE Recording"}, ""},
			},
		},
		{
			name: "seed 001 verbatim: the second line is truncated",
			body: `{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}
{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`,
			want: []seen{
				{1, 1, `{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}`,
					map[string]any{"ts": "08/01/2021 - 12:44:30.479", "domain": "SAASFCL", "userID": "admin", "ipAddress": "::1", "action": "GET ALL Profile", "params": "", "level": "info"}, ""},
				{2, 2, `{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`, nil,
					"line 2, column 101: unterminated string"},
			},
		},
		{
			name: "duplicate key keeps the exact event text and continues on the same line",
			body: `{"a":1,"a":2} {"b":3}`,
			want: []seen{
				{1, 1, `{"a":1,"a":2}`, nil, `line 1, column 8: duplicate key "a"`},
				{2, 1, `{"b":3}`, map[string]any{"b": int64(3)}, ""},
			},
		},
		{
			name: "non-object events are reported with their text",
			body: "\"hello\"\n42\n[1]\n",
			want: []seen{
				{1, 1, `"hello"`, nil, "line 1, column 1: event is a JSON string, not an object"},
				{2, 2, `42`, nil, "line 2, column 1: event is a JSON number, not an object"},
				{3, 3, `1`, nil, "line 3, column 2: event is a JSON number, not an object"},
			},
		},
		{
			name: "garbage line between good lines",
			body: good1 + "\nthis is not json\n" + good2,
			want: []seen{
				{1, 1, good1, map[string]any{"ts": "08/01/2021 - 12:44:30.479", "action": "GET ALL Profile"}, ""},
				{2, 2, "this is not json", nil, "line 2, column 1: invalid literal, expected \"true\""},
				{3, 3, good2, map[string]any{"ts": "08/01/2021 - 12:45:00.000", "action": "DELETE Recording"}, ""},
			},
		},
		{
			name: "pretty-printed broken object is one bad event",
			body: "{\n  \"a\": 1\n  \"b\": 2\n}\n",
			want: []seen{
				{1, 1, "{\n  \"a\": 1\n  \"b\": 2\n}", nil, "line 3, column 3: expected ',' or '}' after object member, found '\"'"},
			},
		},
		{
			name: "array missing its closing bracket loses nothing",
			body: "[" + good1,
			want: []seen{
				{1, 1, good1, map[string]any{"ts": "08/01/2021 - 12:44:30.479", "action": "GET ALL Profile"}, ""},
				{0, 1, "", nil, "line 1, column 63: expected ',' or ']' after array element, found end of input"},
			},
		},
		{
			name: "array with a broken element keeps the elements before it",
			body: "[" + good1 + ",{\"a\":}]",
			want: []seen{
				{1, 1, good1, map[string]any{"ts": "08/01/2021 - 12:44:30.479", "action": "GET ALL Profile"}, ""},
				{2, 1, `{"a":}]`, nil, "line 1, column 69: expected a value, found '}'"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, walk(tt.body, Limits{}))
		})
	}
}

func TestWalkOverLimitEventKeepsNeighbours(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 5) + `1` + strings.Repeat(`}`, 5)
	got := walk(`{"x":1}`+"\n"+deep+"\n"+`{"y":2}`, Limits{MaxDepth: 3})
	require.Len(t, got, 3)
	assert.Equal(t, map[string]any{"x": int64(1)}, got[0].Attrs)
	assert.Equal(t, deep, got[1].Raw)
	assert.Contains(t, got[1].Err, "nesting deeper than 3 levels")
	assert.Equal(t, map[string]any{"y": int64(2)}, got[2].Attrs)
}

func TestWalkManyBadLinesIsLinear(t *testing.T) {
	// Each broken line is its own bad event, and locating them all reads
	// the body about once (a fresh line count per event would read it once
	// per event).
	const n = 20_000
	body := strings.Repeat("{\"a\":\"x\n", n/2) + strings.Repeat("{x\n", n/2)
	count := 0
	w := walkBody([]byte(body), Limits{}, func(ev *Event) {
		count++
		require.Equal(t, count, ev.Line)
	})
	assert.Equal(t, n, count)
	assert.LessOrEqual(t, w.lines.scanned, 2*len(body), "bytes scanned for line numbers")
	line, col := w.lines.Locate(len(body) - 2)
	assert.Equal(t, [2]int{n, 2}, [2]int{line, col})
}

func TestLinesLocate(t *testing.T) {
	data := []byte("ab\ncd\n")
	lines := NewLines(data)
	// Out of order on purpose: the index moves both ways.
	for _, tt := range []struct{ off, line, col int }{{5, 2, 3}, {0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {6, 3, 1}, {99, 3, 1}, {1, 1, 2}} {
		line, col := lines.Locate(tt.off)
		assert.Equal(t, []int{tt.line, tt.col}, []int{line, col}, "offset %d", tt.off)
	}
}

// The project's JSON rule for vendor input (internal/jsonpolicy): invalid
// UTF-8 and lone surrogates are replaced and the event says where, so the
// caller flags it; an event without any says nothing.
func TestWalkReportsReplacedText(t *testing.T) {
	body := "{\"a\":\"ok\"}\n{\"a\":\"x\xffy\",\"b\":\"\\ud800\"}\n{\"a\":\"ok\"}"
	var got []string
	var values []string
	Walk([]byte(body), Limits{}, func(ev *Event) {
		require.NoError(t, ev.Err)
		got = append(got, ev.Replaced)
		v, _ := ev.Attrs.Get("a")
		values = append(values, v.Str())
	})
	assert.Equal(t, []string{"", "line 2, column 8: invalid UTF-8 or lone surrogates replaced by U+FFFD (2 places)", ""}, got)
	assert.Equal(t, []string{"ok", "x\uFFFDy", "ok"}, values)
}
