package flatten

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func mapOf(t *testing.T, raw map[string]any) pcommon.Map {
	t.Helper()
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

// keys lists m's keys in order, with their values as strings.
func entries(m pcommon.Map) []string {
	var out []string
	m.Range(func(k string, v pcommon.Value) bool {
		out = append(out, k+"="+v.AsString())
		return true
	})
	return out
}

func TestInPlace(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want []string
	}{
		{"already flat", map[string]any{"a": "x"}, []string{"a=x"}},
		{"nested map", map[string]any{"u": map[string]any{"id": "1"}}, []string{"u_id=1"}},
		{"list by index", map[string]any{"tags": []any{"a", "b"}}, []string{"tags_0=a", "tags_1=b"}},
		{"list of maps", map[string]any{"l": []any{map[string]any{"k": "v"}}}, []string{"l_0_k=v"}},
		{"empty map kept", map[string]any{"e": map[string]any{}}, []string{"e="}},
		{"empty list kept", map[string]any{"e": []any{}}, []string{"e="}},
		{"null kept", map[string]any{"n": nil, "m": map[string]any{"x": nil}}, []string{"n=", "m_x="}},
		{"typed leaves kept", map[string]any{"m": map[string]any{"b": false, "i": int64(3), "d": 1.5}}, []string{"m_b=false", "m_d=1.5", "m_i=3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mapOf(t, tt.in)
			InPlace(m, Options{})
			assert.ElementsMatch(t, tt.want, entries(m))
			assert.True(t, IsFlat(m))
		})
	}
}

// TestCollisionFirstKeepsTheName builds its maps in a fixed order (a Go
// map literal would not): whichever key comes first in the input keeps
// the name, the later one gets a suffix.
func TestCollisionFirstKeepsTheName(t *testing.T) {
	literalFirst := pcommon.NewMap()
	literalFirst.PutStr("a_b", "lit")
	literalFirst.PutEmptyMap("a").PutStr("b", "nested")
	InPlace(literalFirst, Options{})
	assert.Equal(t, []string{"a_b=lit", "a_b_2=nested"}, entries(literalFirst))

	nestedFirst := pcommon.NewMap()
	nestedFirst.PutEmptyMap("a").PutStr("b", "nested")
	nestedFirst.PutStr("a_b", "lit")
	InPlace(nestedFirst, Options{})
	assert.Equal(t, []string{"a_b=nested", "a_b_2=lit"}, entries(nestedFirst))
}

func TestOrderIsInputOrder(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("id", "1")
	u := m.PutEmptyMap("initiatorUser")
	u.PutStr("id", "2")
	u.PutStr("UserName", "x")
	m.PutStr("ipAddress", "1.2.3.4")
	InPlace(m, Options{})
	assert.Equal(t, []string{"id=1", "initiatorUser_id=2", "initiatorUser_UserName=x", "ipAddress=1.2.3.4"}, entries(m))
}

func TestCollisionChainAndSeparator(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("a.b", "1")
	m.PutStr("a.b.2", "2")
	m.PutEmptyMap("a").PutStr("b", "3")
	InPlace(m, Options{Separator: "."})
	assert.Equal(t, []string{"a.b=1", "a.b.2=2", "a.b.3=3"}, entries(m))
}

func TestDeepNestingBounded(t *testing.T) {
	m := pcommon.NewMap()
	cur := m.PutEmptyMap("d")
	for i := 0; i < 1000; i++ {
		cur = cur.PutEmptyMap("x")
	}
	cur.PutStr("leaf", "v")
	InPlace(m, Options{MaxDepth: 4})
	require.Equal(t, 1, m.Len())
	v, ok := m.Get("d_x_x_x")
	require.True(t, ok, "got %v", entries(m))
	assert.True(t, strings.HasPrefix(v.Str(), `{"x":{"x":`), v.Str())
	assert.True(t, strings.Contains(v.Str(), `"leaf":"v"`))
}

func TestManyCollidingKeys(t *testing.T) {
	// Past linearLimit the taken-set path is used; results must match.
	m := pcommon.NewMap()
	for i := 0; i < 100; i++ {
		m.PutStr(fmt.Sprintf("k_%d", i), "lit")
	}
	n := m.PutEmptyMap("k")
	for i := 0; i < 100; i++ {
		n.PutStr(fmt.Sprintf("%d", i), "nested")
	}
	InPlace(m, Options{})
	assert.Equal(t, 200, m.Len())
	v, ok := m.Get("k_5_2")
	require.True(t, ok)
	assert.Equal(t, "nested", v.Str())
}

func TestIntoLeavesSourceAlone(t *testing.T) {
	src := mapOf(t, map[string]any{"a": map[string]any{"b": "c"}})
	dst := pcommon.NewMap()
	Into(dst, src, Options{})
	assert.Equal(t, []string{"a_b=c"}, entries(dst))
	assert.False(t, IsFlat(src))
}

// InPlace moves leaves where Into copies them; the results must be the same
// entries in the same order, with the same types.
func TestInPlaceMatchesInto(t *testing.T) {
	src := pcommon.NewMap()
	src.PutStr("a_b", "lit")
	a := src.PutEmptyMap("a")
	a.PutStr("b", "nested")
	a.PutInt("i", 7)
	a.PutEmptyBytes("raw").FromRaw([]byte{1, 2, 3})
	l := src.PutEmptySlice("l")
	l.AppendEmpty().SetBool(true)
	l.AppendEmpty().SetEmptyMap().PutDouble("d", 2.5)
	src.PutEmpty("null")
	src.PutEmptyMap("empty")
	deep := src.PutEmptyMap("deep")
	for range 20 {
		deep = deep.PutEmptyMap("x")
	}
	deep.PutStr("leaf", "v")

	want := pcommon.NewMap()
	Into(want, src, Options{})
	got := pcommon.NewMap()
	src.CopyTo(got)
	InPlace(got, Options{})
	assert.Equal(t, want.AsRaw(), got.AsRaw())
	assert.Equal(t, entries(want), entries(got))
	for k, v := range want.All() {
		g, _ := got.Get(k)
		assert.Equal(t, v.Type(), g.Type(), k)
	}
}

func BenchmarkInPlaceGlassix(b *testing.B) {
	src := pcommon.NewMap()
	_ = src.FromRaw(map[string]any{
		"id": "8e548273", "dateTime": "2024-01-07T12:23:16.7965229Z", "departmentId": "9200c94a",
		"initiatorUser": map[string]any{"id": "aca76a89", "gender": "Male", "UserName": "a@b", "culture": "en-US", "isAnonymous": false, "uniqueArgument": "", "type": "AGENT"},
		"ipAddress":     "212.199.97.210", "message": "changed chatbot mappings", "type": "ChatbotMappingsChange", "logType": "Informative",
	})
	b.ReportAllocs()
	for b.Loop() {
		m := pcommon.NewMap()
		src.CopyTo(m)
		InPlace(m, Options{})
	}
}

func TestLeavesCountsTheFlatEntries(t *testing.T) {
	deep := map[string]any{"v": 1}
	for range 20 {
		deep = map[string]any{"d": deep}
	}
	for name, raw := range map[string]map[string]any{
		"flat and nested": {"a": 1, "b": map[string]any{"c": "x", "d": []any{1, map[string]any{"e": true}}}},
		"empties":         {"m": map[string]any{}, "s": []any{}, "n": nil},
		"past max depth":  {"deep": deep, "x": "y"},
		"colliding":       {"a_b": 1, "a": map[string]any{"b": 2}},
	} {
		t.Run(name, func(t *testing.T) {
			m := mapOf(t, raw)
			want := leaves(m, DefaultMaxDepth, 1)
			InPlace(m, Options{Spare: 3})
			assert.Equal(t, m.Len(), want)
		})
	}
}
