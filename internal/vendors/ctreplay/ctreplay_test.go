package ctreplay

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonmap"
)

// The two lines of seed 001's example, the second cut off as in the seed.
const (
	seedLine      = `{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}`
	seedTruncated = `{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`
)

func entries(m pcommon.Map) []string {
	var out []string
	for k, v := range m.All() {
		out = append(out, k+"="+v.AsString())
	}
	return out
}

func TestParseSeedLine(t *testing.T) {
	attrs := pcommon.NewMap()
	ev, err := Parse([]byte(seedLine), attrs, Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"ts=08/01/2021 - 12:44:30.479", "domain=SAASFCL", "userID=admin", "ipAddress=::1",
		"action=GET ALL Profile", "params=", "level=info",
	}, entries(attrs), "the vendor's order")
	assert.Equal(t, time.Date(2021, time.January, 8, 12, 44, 30, 479e6, time.UTC), ev.Time, "day first, UTC")
	assert.Equal(t, "GET ALL Profile", ev.Action)
	assert.Equal(t, "GET ALL Profile", ev.Body(), "no params: the body is the action alone")
	assert.Equal(t, "info", ev.Level)
}

func TestToRecord(t *testing.T) {
	r := plog.NewLogRecord()
	line := `{"ts":"31/12/2023 - 23:59:59.5","domain":"D","userID":"bob","ipAddress":"10.0.0.1","action":"DELETE Recording","params":"id=42","level":"warn"}`
	require.NoError(t, toRecord([]byte(line), r, Options{}))
	assert.Equal(t, "DELETE Recording", r.EventName())
	assert.Equal(t, "DELETE Recording id=42", r.Body().Str())
	assert.Equal(t, time.Date(2023, 12, 31, 23, 59, 59, 5e8, time.UTC), r.Timestamp().AsTime())
	assert.Equal(t, 7, r.Attributes().Len())
}

// TestReadAndApplyMapping is the record mapping of an event already decoded
// (the auditwebhook receiver's path): what lands in EventName, Body and
// Timestamp, and what is flagged.
func TestReadAndApplyMapping(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	tests := []struct {
		name      string
		opts      Options
		event     string
		timestamp time.Time
		eventName string
		body      string
		problems  []string
	}{
		{
			name:      "params appended to the action",
			event:     `{"ts":"08/01/2021 - 12:44:30.479","userID":"u","ipAddress":"::1","action":"DELETE Recording","params":"id=42"}`,
			timestamp: time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), eventName: "DELETE Recording", body: "DELETE Recording id=42",
		},
		{
			name:      "non-string params as JSON",
			event:     `{"ts":"08/01/2021 - 12:44:30","action":"SET tag","params":{"tag":"x"}}`,
			timestamp: time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC), eventName: "SET tag", body: `SET tag {"tag":"x"}`,
		},
		{
			name: "month first", opts: Options{DateOrder: MonthFirst},
			event:     `{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS"}`,
			timestamp: time.Date(2021, 8, 1, 12, 44, 30, 479e6, time.UTC), eventName: "GET USERS", body: "GET USERS",
		},
		{
			name: "time zone", opts: Options{Location: rome},
			event:     `{"ts":"08/07/2021 - 12:44:30.479","action":"GET USERS"}`,
			timestamp: time.Date(2021, 7, 8, 10, 44, 30, 479e6, time.UTC), eventName: "GET USERS", body: "GET USERS",
		},
		{
			name:      "userID and ipAddress are not the record's concern",
			event:     `{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS","userID":null}`,
			timestamp: time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), eventName: "GET USERS", body: "GET USERS",
		},
		{
			name:      "unreadable ts flags the record and keeps it",
			event:     `{"ts":"yesterday","action":"PLAY Recording"}`,
			eventName: "PLAY Recording", body: "PLAY Recording",
			problems: []string{`ts: cannot read "yesterday" as DD/MM/YYYY - hh:mm:ss[.fff] or RFC 3339: bad date`},
		},
		{
			name:      "impossible date",
			event:     `{"ts":"31/02/2021 - 12:00:00","action":"GET USERS"}`,
			eventName: "GET USERS", body: "GET USERS",
			problems: []string{`ts: cannot read "31/02/2021 - 12:00:00" as DD/MM/YYYY - hh:mm:ss[.fff] or RFC 3339: day 31 out of range`},
		},
		{
			name: "impossible month first date", opts: Options{DateOrder: MonthFirst},
			event:     `{"ts":"13/01/2021 - 12:00:00","action":"GET USERS"}`,
			eventName: "GET USERS", body: "GET USERS",
			problems: []string{`ts: cannot read "13/01/2021 - 12:00:00" as MM/DD/YYYY - hh:mm:ss[.fff] or RFC 3339: month 13 out of range`},
		},
		{
			name:     "missing ts and action",
			event:    `{"domain":"SAASFCL"}`,
			problems: []string{"ts: missing", "action: missing"},
		},
		{
			name:     "empty object",
			event:    `{}`,
			problems: []string{"ts: missing", "action: missing"},
		},
		{
			name:     "null ts, empty action, params alone in the body",
			event:    `{"ts":null,"action":"","params":"id=42"}`,
			body:     "id=42",
			problems: []string{"ts: missing", "action: missing"},
		},
		{
			name:      "empty ts",
			event:     `{"ts":"","action":"GET USERS"}`,
			eventName: "GET USERS", body: "GET USERS",
			problems: []string{"ts: missing"},
		},
		{
			name:      "ts of the wrong type",
			event:     `{"ts":1610109870,"action":"GET USERS"}`,
			eventName: "GET USERS", body: "GET USERS",
			problems: []string{"ts: is a number, not a string"},
		},
		{
			name:      "ts an object",
			event:     `{"ts":{"d":"08/01/2021"},"action":"GET USERS"}`,
			eventName: "GET USERS", body: "GET USERS",
			problems: []string{"ts: is an object, not a string"},
		},
		{
			name:      "action of another type is its JSON text",
			event:     `{"ts":"08/01/2021 - 12:44:30","action":42}`,
			timestamp: time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC), eventName: "42", body: "42",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := plog.NewLogRecord()
			require.NoError(t, DecodeObject([]byte(tt.event), r.Attributes()))
			before := r.Attributes().AsRaw()
			ev, err := Read(r.Attributes(), tt.opts)
			ev.Apply(r)
			if tt.timestamp.IsZero() {
				assert.Zero(t, r.Timestamp(), "unset, consumers use ObservedTimestamp")
			} else {
				assert.True(t, tt.timestamp.Equal(r.Timestamp().AsTime()), "got %v", r.Timestamp().AsTime())
			}
			assert.Equal(t, tt.eventName, r.EventName())
			assert.Equal(t, tt.body, r.Body().Str())
			assert.Equal(t, before, r.Attributes().AsRaw(), "the vendor's fields are kept as they were")
			if tt.problems == nil {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "got %v", err)
			assert.Equal(t, tt.problems, fe.Problems)
			assert.EqualError(t, err, "ctreplay: "+strings.Join(tt.problems, "; "))
		})
	}
}

func TestParseTime(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	tests := []struct {
		name string
		ts   string
		opts Options
		want time.Time
	}{
		{"day first is the default", "08/01/2021 - 12:44:30.479", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC)},
		{"month first", "08/01/2021 - 12:44:30.479", Options{DateOrder: MonthFirst}, time.Date(2021, 8, 1, 12, 44, 30, 479e6, time.UTC)},
		{"time zone applied", "08/01/2021 - 12:44:30.479", Options{Location: rome}, time.Date(2021, 1, 8, 11, 44, 30, 479e6, time.UTC)},
		{"single digits", "8/1/2021 - 9:04:05", Options{}, time.Date(2021, 1, 8, 9, 4, 5, 0, time.UTC)},
		{"single-digit hour", "8/1/2021 - 2:04:05", Options{}, time.Date(2021, 1, 8, 2, 4, 5, 0, time.UTC)},
		{"full precision kept", "08/01/2021 - 12:44:30.123456789", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 123456789, time.UTC)},
		{"no dash", "08/01/2021 12:44:30", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC)},
		{"no dash, comma fraction", "08/01/2021 12:44:30,5", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 5e8, time.UTC)},
		{"dash only, comma fraction", "08/01/2021-12:44:30,25", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 25e7, time.UTC)},
		{"dash only, 9 digits", "08/01/2021-12:44:30.123456789", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 123456789, time.UTC)},
		{"tab separator", "08/01/2021\t12:44:30", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC)},
		{"leap day", "29/02/2024 - 00:00:00", Options{}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"RFC 3339 carries its offset", "2021-01-08T12:44:30.479+02:00", Options{Location: rome}, time.Date(2021, 1, 8, 10, 44, 30, 479e6, time.UTC)},
		{"RFC 3339 in UTC", "2021-01-08T12:44:30Z", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC)},
		{"first nanosecond after 1970", "1970-01-01T00:00:00.000000001Z", Options{}, time.Unix(0, 1)},
		{"last time a record holds", "11/04/2262 - 23:47:16.854775807", Options{}, time.Unix(0, math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTime(tt.ts, tt.opts)
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got), "got %v want %v", got, tt.want)
		})
	}
}

func TestParseTimeErrors(t *testing.T) {
	tests := []struct{ ts, why string }{
		{"", "bad date"},
		{"yesterday", "bad date"},
		{"08/01/21 - 12:44:30", "bad date"},
		{"08/01/2021", "no separator between date and time"},
		{"08/01/202112:44:30", "no separator between date and time"},
		{"32/01/2021 - 12:00:00", "day 32 out of range"},
		{"29/02/2023 - 12:00:00", "day 29 out of range"},
		{"13/13/2021 - 12:00:00", "month 13 out of range"},
		{"08/13/2021 - 12:00:00", "month 13 out of range"},
		{"08/01/2021 - 24:00:00", "time of day out of range"},
		{"08/01/2021 - 12:60:00", "time of day out of range"},
		{"08/01/2021 - 12:44", "bad time of day"},
		{"08/01/2021 - 12:44:30.", "bad time of day"},
		{"08/01/2021 - 12:44:30.1234567890", "bad time of day"},
		{"08/01/2021 - 12:44:30 +01:00", "bad time of day"},
		{"08/01/2021 - 12:44:30Z", "bad time of day"},
		{"08/01/2021--12:44:30", "bad time of day"},
		{"08/01/2021 -- 12:44:30", "bad time of day"},
		{"2021-01-08 12:44:30", "bad date"},
	}
	for _, tt := range tests {
		_, err := ParseTime(tt.ts, Options{})
		assert.EqualError(t, err, fmt.Sprintf("cannot read %q as DD/MM/YYYY - hh:mm:ss[.fff] or RFC 3339: %s", tt.ts, tt.why))
	}
	for _, ts := range []string{"01/01/1970 - 00:00:00", "31/12/1969 - 23:59:59", "01/01/0001 - 00:00:00", "01/01/2263 - 00:00:00", "0001-01-01T00:00:00Z"} {
		_, err := ParseTime(ts, Options{})
		assert.EqualError(t, err, fmt.Sprintf("%q is outside the time a log record can hold (after 1970-01-01T00:00:00Z, up to 2262-04-11T23:47:16Z)", ts))
	}
	rome, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	_, err = ParseTime("01/01/1970 - 00:30:00", Options{Location: rome})
	assert.ErrorContains(t, err, "outside the time a log record can hold", "23:30 UTC the day before")
	_, err = ParseTime("13/01/2021 - 12:00:00", Options{DateOrder: MonthFirst})
	assert.EqualError(t, err, `cannot read "13/01/2021 - 12:00:00" as MM/DD/YYYY - hh:mm:ss[.fff] or RFC 3339: month 13 out of range`)
}

func TestParseBadLines(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr string
	}{
		{"truncated (seed 001's second line)", seedTruncated, "line is not a JSON object: column 101: unterminated string"},
		{"not JSON", `GET ALL Profile by admin`, "line is not a JSON object: column 1: expected a value, found 'G'"},
		{"empty", ``, "line is not a JSON object: empty"},
		{"blank", "  \t ", "line is not a JSON object: empty"},
		{"byte order mark alone", "\xef\xbb\xbf", "line is not a JSON object: empty"},
		{"array", `[1,2]`, "column 1: a JSON array, not an object"},
		{"string", ` "x"`, "column 2: a JSON string, not an object"},
		{"huge integer", `123456789012345678901234567890`, "a JSON number, not an object"},
		{"two objects on one line", seedLine + seedLine, "column 143: trailing data after the object"},
		{"garbage after object", seedLine + ` x`, "column 144: trailing data after the object"},
		{"error on a later line", "{\"ts\":\n\"x\",,}", "line 2, column 5: expected a member name in quotes, found ','"},
		{"column counts the byte order mark", "\xef\xbb\xbf{\"a\":}", "column 9: expected a value, found '}'"},
		{"NUL bytes", "\x00\x00", "column 1: expected a value, found byte 0x00"},
		{"raw newline in a string", "{\"a\":\"x\ny\"}", "unterminated string: the line ends inside it"},
		{"control character in a string", "{\"a\":\"x\x01\"}", "control character 0x01 in string (must be escaped)"},
		{"bad escape", `{"a":"\q"}`, `invalid escape '\q' in string`},
		{"hostile nesting", strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100), "nesting deeper than 32 levels"},
		{"hostile width", `{` + manyKeys(jsonmap.DefaultMaxObjectMembers+1) + `}`, "object has more than 256 members"},
		{"hostile string", `{"a":"` + strings.Repeat("x", jsonmap.DefaultMaxStringBytes+1) + `"}`, "string longer than 1048576 bytes"},
		{"hostile number", `{"a":` + strings.Repeat("9", 1025) + `}`, "number literal longer than 1024 bytes"},
		{"duplicated key", `{"userID":"admin","action":"GET USERS","userID":"nobody"}`, `column 40: duplicate key "userID"`},
		{"duplicated nested key", `{"a":{"b":1,"b":2}}`, `duplicate key "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := pcommon.NewMap()
			attrs.PutStr("log.file.name", "ctreplay.log")
			ev, err := Parse([]byte(tt.line), attrs, Options{})
			var syn *SyntaxError
			require.True(t, errors.As(err, &syn), "got %v", err)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "ctreplay: line is not a JSON object: "), err.Error())
			assert.Equal(t, Event{}, ev)
			assert.Equal(t, []string{"log.file.name=ctreplay.log"}, entries(attrs), "attributes untouched")

			r := plog.NewLogRecord()
			r.Body().SetStr(tt.line)
			require.Error(t, toRecord([]byte(tt.line), r, Options{}))
			assert.Equal(t, tt.line, r.Body().Str(), "raw text kept as evidence")
			assert.Empty(t, r.EventName())
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	return b.String()
}

func TestParseFieldErrorsKeepWhatWasRead(t *testing.T) {
	tests := []struct {
		name         string
		line         string
		wantProblems []string
		wantAction   string
	}{
		{"no user, no address: not flagged here", `{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS"}`, nil, "GET USERS"},
		{"empty action", `{"ts":"08/01/2021 - 12:44:30.479","userID":"u","ipAddress":"::1","action":""}`, []string{"action: missing"}, ""},
		{"empty object", `{}`, []string{"ts: missing", "action: missing"}, ""},
		{"unreadable ts", `{"ts":"yesterday","userID":"u","ipAddress":"::1","action":"SET tag"}`,
			[]string{`ts: cannot read "yesterday" as DD/MM/YYYY - hh:mm:ss[.fff] or RFC 3339: bad date`}, "SET tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := pcommon.NewMap()
			ev, err := Parse([]byte(tt.line), attrs, Options{})
			assert.Equal(t, tt.wantAction, ev.Action)
			wantTime := !strings.Contains(strings.Join(tt.wantProblems, ";"), "ts:")
			assert.Equal(t, wantTime, !ev.Time.IsZero(), "time read when ts is valid")

			r := plog.NewLogRecord()
			rerr := toRecord([]byte(tt.line), r, Options{})
			assert.Equal(t, tt.wantAction, r.EventName(), "what could be read is kept")
			if tt.wantProblems == nil {
				require.NoError(t, err)
				require.NoError(t, rerr)
				return
			}
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "got %v", err)
			assert.Equal(t, tt.wantProblems, fe.Problems)
			require.Error(t, rerr)
		})
	}
}

func TestCheckRequired(t *testing.T) {
	tests := []struct {
		event string
		want  []string
	}{
		{seedLine, nil},
		{`{}`, []string{"ts: missing", "action: missing"}},
		{`{"ts":null,"action":""}`, []string{"ts: missing", "action: missing"}},
		{`{"ts":"yesterday","action":"X"}`, nil},
		{`{"ts":1,"action":{}}`, nil},
	}
	for _, tt := range tests {
		m := pcommon.NewMap()
		require.NoError(t, DecodeObject([]byte(tt.event), m))
		assert.Equal(t, tt.want, CheckRequired(m), tt.event)
		if _, err := Read(m, Options{}); err != nil {
			var fe *FieldError
			require.True(t, errors.As(err, &fe))
			assert.Subset(t, fe.Problems, CheckRequired(m), "Read flags missing fields in the same words")
		}
	}
}

func TestEventBody(t *testing.T) {
	assert.Equal(t, "DELETE Recording id=42", Event{Action: "DELETE Recording", Params: "id=42"}.Body())
	assert.Equal(t, "GET USERS", Event{Action: "GET USERS"}.Body())
	assert.Equal(t, "id=42", Event{Params: "id=42"}.Body(), "no leading blank without an action")
	assert.Empty(t, Event{}.Body())
}

func TestDecodeValueTypes(t *testing.T) {
	m := pcommon.NewMap()
	line := "\xef\xbb\xbf" + `{"s":"x","i":42,"f":1.5,"e":1e3,"big":123456789012345678901234,"b":true,"n":null,` +
		`"o":{"k":[1,{"z":"y"}]},"u":"\u00e9\ud83d\ude00","bad":"a` + "\xff" + `b","x":1}` + "\r\n"
	require.NoError(t, DecodeObject([]byte(line), m))
	assert.Equal(t, map[string]any{
		"s": "x", "i": int64(42), "f": 1.5, "e": 1000.0, "big": "123456789012345678901234", "b": true, "n": nil,
		"o": map[string]any{"k": []any{int64(1), map[string]any{"z": "y"}}}, "u": "é😀", "bad": "a\uFFFDb", "x": int64(1),
	}, m.AsRaw())
	var keys []string
	for k := range m.All() {
		keys = append(keys, k)
	}
	assert.Equal(t, []string{"s", "i", "f", "e", "big", "b", "n", "o", "u", "bad", "x"}, keys, "input order")
}

func TestLooks(t *testing.T) {
	assert.True(t, Looks(seedLine))
	assert.True(t, Looks("  "+seedLine+"\n"))
	assert.False(t, Looks(seedTruncated))
	assert.False(t, Looks(`{"msg":"hello"}`))
	assert.False(t, Looks(`<134>Jan  8 12:44:30 host app: hello`))
}

func TestParseDateOrder(t *testing.T) {
	for in, want := range map[string]DateOrder{"": DayFirst, "day_first": DayFirst, "month_first": MonthFirst} {
		got, err := ParseDateOrder(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, want, func() DateOrder { o, _ := ParseDateOrder(got.String()); return o }(), "String round-trips")
	}
	_, err := ParseDateOrder("year_first")
	assert.EqualError(t, err, `unknown date order "year_first": want day_first or month_first`)
}

func TestLimitsAreInclusive(t *testing.T) {
	m := pcommon.NewMap()
	require.NoError(t, DecodeObject([]byte(`{`+manyKeys(jsonmap.DefaultMaxObjectMembers)+`}`), m))
	assert.Equal(t, jsonmap.DefaultMaxObjectMembers, m.Len())
	deep := strings.Repeat(`[`, jsonmap.DefaultMaxDepth-1) + strings.Repeat(`]`, jsonmap.DefaultMaxDepth-1)
	require.NoError(t, DecodeObject([]byte(`{"d":`+deep+`}`), pcommon.NewMap()), "32 levels, the line's own object included")
	deeper := `{"d":[` + deep + `]}`
	assert.ErrorContains(t, DecodeObject([]byte(deeper), pcommon.NewMap()), "nesting deeper than 32 levels")
}

func TestParseAppendsAfterExistingAttributes(t *testing.T) {
	attrs := pcommon.NewMap()
	attrs.PutStr("log.file.name", "ctreplay.log")
	_, err := Parse([]byte(seedLine), attrs, Options{})
	require.NoError(t, err)
	assert.Equal(t, 8, attrs.Len())
	assert.Equal(t, "log.file.name=ctreplay.log", entries(attrs)[0])
}

func TestReadAndApply(t *testing.T) {
	attrs := pcommon.NewMap()
	require.NoError(t, DecodeObject([]byte(seedLine), attrs))
	ev, err := Read(attrs, Options{})
	require.NoError(t, err)
	r := plog.NewLogRecord()
	ev.Apply(r)
	assert.Equal(t, "GET ALL Profile", r.EventName())
	assert.Equal(t, "GET ALL Profile", r.Body().Str())
	assert.Equal(t, time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), r.Timestamp().AsTime())
}

func TestApplyKeepsATimestampWhenTsIsBad(t *testing.T) {
	// The syslog receiver's header time stays when ts cannot be read.
	r := plog.NewLogRecord()
	header := pcommon.NewTimestampFromTime(time.Date(2021, 1, 8, 12, 44, 31, 0, time.UTC))
	r.SetTimestamp(header)
	require.Error(t, toRecord([]byte(`{"ts":"yesterday","action":"X"}`), r, Options{}))
	assert.Equal(t, header, r.Timestamp())
}

func BenchmarkParse(b *testing.B) {
	line := []byte(seedLine)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		m := pcommon.NewMap()
		if _, err := Parse(line, m, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// toRecord parses line into r: attributes (appended), EventName, Body and
// Timestamp. On a *SyntaxError r is left untouched, so the caller can keep the
// raw text as Body and flag it; on a *FieldError r holds what could be read.
func toRecord(line []byte, r plog.LogRecord, opts Options) error {
	ev, err := Parse(line, r.Attributes(), opts)
	var syn *SyntaxError
	if errors.As(err, &syn) {
		return err
	}
	ev.Apply(r)
	return err
}
