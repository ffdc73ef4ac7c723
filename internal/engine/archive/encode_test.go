package archive

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// The documented schema, byte for byte: field order, nanosecond times,
// flattened and sorted attributes.
func TestEncodeSchema(t *testing.T) {
	bodies := EncodeLogs(archivetest.GlassixLogs(5, 1))
	require.Len(t, bodies, 1)
	want := `"time":"2024-01-11T09:18:37.745235812Z","observed":"2024-01-11T09:18:37.895235812Z",` +
		`"source":"glassix","event":"UserRemoved","severity_number":13,"severity_text":"warning",` +
		`"message":"user-5 removed by admin",` +
		`"attributes":{"audit.outcome":"success","audit.parse_line":5,"id":"cb20ff99-00000005",` +
		`"initiatorUser_UserName":"admin@example.com","initiatorUser_isAnonymous":false,` +
		`"ipAddress":"212.199.97.210","logType":"Security","tags_0":"security","tags_1":"users"},` +
		`"resource":{"audit.source":"glassix","service.name":"glassix"}`
	assert.Equal(t, want, string(bodies[0]))
}

func oneRecord(set func(lr plog.LogRecord)) []byte {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	set(lr)
	return EncodeLogs(ld)[0]
}

func TestEncodeValues(t *testing.T) {
	tests := []struct {
		name string
		set  func(a pcommon.Map)
		want string // the attributes object
	}{
		{"quote, backslash and newline are escaped", func(a pcommon.Map) { a.PutStr("k", "a\"b\\c\nd\re\tf") }, `{"k":"a\"b\\c\nd\re\tf"}`},
		{"control characters are escaped", func(a pcommon.Map) { a.PutStr("k", "\x00\x1f\x7f") }, `{"k":"\u0000\u001f` + "\x7f" + `"}`},
		{"invalid UTF-8 becomes U+FFFD", func(a pcommon.Map) { a.PutStr("k", "ok\xff\xfeok") }, `{"k":"ok\ufffd\ufffdok"}`},
		{"line and paragraph separators are escaped", func(a pcommon.Map) { a.PutStr("k", "a\u2028b\u2029") }, `{"k":"a\u2028b\u2029"}`},
		{"non-ASCII text stays as is", func(a pcommon.Map) { a.PutStr("k", "azione dispositiva è già") }, `{"k":"azione dispositiva è già"}`},
		{"integers", func(a pcommon.Map) { a.PutInt("k", math.MinInt64) }, `{"k":-9223372036854775808}`},
		{"doubles", func(a pcommon.Map) { a.PutDouble("k", 1.5e300) }, `{"k":1.5e+300}`},
		{"NaN and infinity become strings", func(a pcommon.Map) {
			a.PutDouble("a", math.NaN())
			a.PutDouble("b", math.Inf(-1))
		}, `{"a":"NaN","b":"-Inf"}`},
		{"booleans", func(a pcommon.Map) { a.PutBool("k", true) }, `{"k":true}`},
		{"bytes become base64", func(a pcommon.Map) { a.PutEmptyBytes("k").FromRaw([]byte{0, 1, 254}) }, `{"k":"AAH+"}`},
		{"empty values become null", func(a pcommon.Map) { a.PutEmpty("k") }, `{"k":null}`},
		{"keys are sorted", func(a pcommon.Map) {
			a.PutStr("b", "2")
			a.PutStr("a", "1")
			a.PutStr("C", "0")
		}, `{"C":"0","a":"1","b":"2"}`},
		{"nested maps and lists are flattened", func(a pcommon.Map) {
			m := a.PutEmptyMap("user")
			m.PutStr("id", "u1")
			m.PutEmptySlice("roles").AppendEmpty().SetStr("admin")
			a.PutEmptyMap("empty")
		}, `{"empty":"","user_id":"u1","user_roles_0":"admin"}`},
		{"a hostile key is escaped like a value", func(a pcommon.Map) { a.PutStr(`k","hash":"x`, "v") }, `{"k\",\"hash\":\"x":"v"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := oneRecord(func(lr plog.LogRecord) { tt.set(lr.Attributes()) })
			_, attrs, ok := strings.Cut(string(body), `"attributes":`)
			require.True(t, ok)
			attrs, _, ok = strings.Cut(attrs, `,"resource":`)
			require.True(t, ok)
			assert.Equal(t, tt.want, attrs)
			assert.True(t, json.Valid([]byte("{"+string(body)+"}")), "body is not valid JSON: %s", body)
		})
	}
}

func TestEncodeRecordFields(t *testing.T) {
	tests := []struct {
		name string
		set  func(lr plog.LogRecord)
		want string // a fragment of the body
	}{
		{"unset times are null", func(plog.LogRecord) {}, `"time":null,"observed":null`},
		{"times keep all nine fractional digits, in UTC", func(lr plog.LogRecord) {
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2021, 1, 8, 12, 44, 30, 479000000, time.FixedZone("CET", 3600))))
		}, `"time":"2021-01-08T11:44:30.479000000Z"`},
		{"a map body is written as its JSON text", func(lr plog.LogRecord) {
			lr.Body().SetEmptyMap().PutStr("action", "GET ALL Profile")
		}, `"message":"{\"action\":\"GET ALL Profile\"}"`},
		{"source comes from the resource, else from the record", func(lr plog.LogRecord) {
			lr.Attributes().PutStr("audit.source", "sippy")
		}, `"source":"sippy"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Contains(t, string(oneRecord(tt.set)), tt.want)
		})
	}
}

// Events of one batch with other keys, the same keys in another order, a
// repeated key layout after a different one, and several resources each
// encode exactly as they do alone: the order remembered from one event
// never leaks into another.
func TestEncodeBatchMatchesEventsAlone(t *testing.T) {
	layouts := [][]string{ // keys in map order; each key's value is its upper case
		{"x", "y"},
		{"y", "x"},
		{"x", "y", "a"},
		{"x", "y"},
		{"b", "B", "a_b", "audit.actor"},
	}
	add := func(ld plog.Logs, i int, keys []string) {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("audit.source", "glassix")
		rl.Resource().Attributes().PutInt("n", int64(i))
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName("e")
		for _, k := range keys {
			lr.Attributes().PutStr(k, strings.ToUpper(k))
		}
	}
	ld := plog.NewLogs()
	for i, keys := range layouts {
		add(ld, i, keys)
	}
	bodies := EncodeLogs(ld)
	require.Len(t, bodies, len(layouts))
	for i, keys := range layouts {
		one := plog.NewLogs()
		add(one, i, keys)
		assert.Equal(t, string(EncodeLogs(one)[0]), string(bodies[i]), "event %d", i)
	}
	assert.Contains(t, string(bodies[1]), `"attributes":{"x":"X","y":"Y"}`)
	assert.Contains(t, string(bodies[4]), `"attributes":{"B":"B","a_b":"A_B","audit.actor":"AUDIT.ACTOR","b":"B"},"resource":{"audit.source":"glassix","n":4}`)
}

// An event too large for one line is kept in a reduced form that says how
// large it was, instead of being lost; the events beside it are untouched.
func TestEncodeOversizedEventIsReduced(t *testing.T) {
	ld := archivetest.GlassixLogs(1, 3)
	huge := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1)
	huge.Attributes().PutStr("blob", strings.Repeat("x", MaxLineSize))
	huge.Body().SetStr(strings.Repeat("é", MaxLineSize/2))

	bodies := EncodeLogs(ld)
	require.Len(t, bodies, 3)
	assert.Equal(t, EncodeLogs(archivetest.GlassixLogs(1, 1))[0], bodies[0])
	assert.Less(t, len(bodies[1]), maxReducedMessage+1024)
	ev, err := DecodeEvent([]byte("{" + string(bodies[1]) + "}"))
	require.NoError(t, err)
	assert.Greater(t, ev.Attributes[AttrTruncated], int64(MaxLineSize))
	assert.Equal(t, "UserRemoved", ev.Name)
	assert.True(t, strings.HasPrefix(ev.Message, "ééé"))
	assert.NotContains(t, ev.Message, "\ufffd", "the message was cut inside a character")
}

func TestDecodeEventRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{HMACKey: []byte("0123456789abcdef")})
	writeEvents(t, w, 7, 1, 1)
	require.NoError(t, w.Close())

	a, err := Open(dir)
	require.NoError(t, err)
	var events []Event
	for e, err := range a.Entries() {
		require.NoError(t, err)
		ev, err := e.Decode()
		require.NoError(t, err)
		events = append(events, ev)
	}
	require.Len(t, events, 1)
	ev := events[0]
	assert.Equal(t, uint64(1), ev.Seq)
	assert.Equal(t, GenesisPrev, ev.Prev)
	assert.Len(t, ev.Hash, 64)
	assert.Len(t, ev.HMAC, 64)
	assert.Equal(t, archivetest.Base.Add(7*time.Second), ev.Time)
	assert.Equal(t, archivetest.Base.Add(7*time.Second+150*time.Millisecond), ev.Observed)
	assert.Equal(t, "glassix", ev.Source)
	assert.Equal(t, "UserRemoved", ev.Name)
	assert.Equal(t, 13, ev.SeverityNumber)
	assert.Equal(t, "warning", ev.SeverityText)
	assert.Equal(t, "user-7 removed by admin", ev.Message)
	assert.Equal(t, map[string]any{
		"audit.outcome": "success", "audit.parse_line": int64(7), "id": "cb20ff99-00000007",
		"initiatorUser_UserName": "admin@example.com", "initiatorUser_isAnonymous": false,
		"ipAddress": "212.199.97.210", "logType": "Security", "tags_0": "security", "tags_1": "users",
	}, ev.Attributes)
	assert.Equal(t, map[string]any{"audit.source": "glassix", "service.name": "glassix"}, ev.Resource)
	assert.False(t, ev.IsMarker())
}

func TestEncoderReusedMatchesEncodeLogs(t *testing.T) {
	var e Encoder
	for _, ld := range []plog.Logs{archivetest.GlassixLogs(0, 40), archivetest.GlassixLogs(40, 3), archivetest.GlassixLogs(43, 1), archivetest.GlassixLogs(44, 100)} {
		want := EncodeLogs(ld)
		got := e.Encode(ld)
		require.Len(t, got, len(want))
		for i := range want {
			assert.Equal(t, string(want[i]), string(got[i]), "event %d", i)
		}
	}
	assert.Empty(t, e.Encode(plog.NewLogs()))
}
