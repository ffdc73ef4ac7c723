package ctreplay

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// The two lines of seed 001's example, the second cut off as in the seed.
const (
	seedLine      = `{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}`
	seedTruncated = `{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`
)

func entries(m pcommon.Map) []string {
	var out []string
	m.Range(func(k string, v pcommon.Value) bool {
		out = append(out, k+"="+v.AsString())
		return true
	})
	return out
}

func TestParseSeedLine(t *testing.T) {
	attrs := pcommon.NewMap()
	ev, err := Parse([]byte(seedLine), attrs, Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"ts=08/01/2021 - 12:44:30.479", "domain=SAASFCL", "userID=admin", "ipAddress=::1",
		"action=GET ALL Profile", "params=", "level=info",
	}, entries(attrs))
	assert.Equal(t, time.Date(2021, time.January, 8, 12, 44, 30, 479e6, time.UTC), ev.Time)
	assert.Equal(t, "GET ALL Profile", ev.Action)
	assert.Equal(t, "GET ALL Profile", ev.Body(), "no params: the body is the action alone")
	assert.Equal(t, "info", ev.Level)
}

func TestToRecord(t *testing.T) {
	r := plog.NewLogRecord()
	line := `{"ts":"31/12/2023 - 23:59:59.5","domain":"D","userID":"bob","ipAddress":"10.0.0.1","action":"DELETE Recording","params":"id=42","level":"warn"}`
	require.NoError(t, ToRecord([]byte(line), r, Options{}))
	assert.Equal(t, "DELETE Recording", r.EventName())
	assert.Equal(t, "DELETE Recording id=42", r.Body().Str())
	assert.Equal(t, time.Date(2023, 12, 31, 23, 59, 59, 5e8, time.UTC), r.Timestamp().AsTime())
	assert.Equal(t, 7, r.Attributes().Len())
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
		{"full precision kept", "08/01/2021 - 12:44:30.123456789", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 123456789, time.UTC)},
		{"no dash", "08/01/2021 12:44:30", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC)},
		{"dash only, comma fraction", "08/01/2021-12:44:30,25", Options{}, time.Date(2021, 1, 8, 12, 44, 30, 25e7, time.UTC)},
		{"leap day", "29/02/2024 - 00:00:00", Options{}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"RFC 3339 carries its offset", "2021-01-08T12:44:30.479+02:00", Options{Location: rome}, time.Date(2021, 1, 8, 10, 44, 30, 479e6, time.UTC)},
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
		{"32/01/2021 - 12:00:00", "day 32 out of range"},
		{"29/02/2023 - 12:00:00", "day 29 out of range"},
		{"13/13/2021 - 12:00:00", "month 13 out of range"},
		{"08/01/2021 - 24:00:00", "time of day out of range"},
		{"08/01/2021 - 12:44", "bad time of day"},
		{"08/01/2021 - 12:44:30.1234567890", "bad time of day"},
		{"08/01/2021 - 12:44:30 +01:00", "bad time of day"},
		{"08/01/202112:44:30", "no separator between date and time"},
		{"08/01/2021--12:44:30", "bad time of day"},
	}
	for _, tt := range tests {
		_, err := ParseTime(tt.ts, Options{})
		assert.EqualError(t, err, fmt.Sprintf("ts %q: %s; want DD/MM/YYYY - hh:mm:ss[.fff] (day_first) or RFC 3339", tt.ts, tt.why))
	}
	_, err := ParseTime("13/01/2021 - 12:00:00", Options{DateOrder: MonthFirst})
	assert.EqualError(t, err, `ts "13/01/2021 - 12:00:00": month 13 out of range; want MM/DD/YYYY - hh:mm:ss[.fff] (month_first) or RFC 3339`)
}

func TestParseBadLines(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr string
	}{
		{"truncated (seed 001's second line)", seedTruncated, "line is not a JSON object: unexpected EOF"},
		{"not JSON", `GET ALL Profile by admin`, "line is not a JSON object: invalid character 'G'"},
		{"empty", ``, "line is not a JSON object: empty"},
		{"blank", "  \t ", "line is not a JSON object: empty"},
		{"array", `[1,2]`, "starts with '[', want '{'"},
		{"string", `"x"`, "starts with a string, want '{'"},
		{"two objects on one line", seedLine + seedLine, "trailing data after the object"},
		{"garbage after object", seedLine + ` x`, "trailing data after the object"},
		{"hostile nesting", strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100), "nesting deeper than 32 levels"},
		{"hostile width", `{` + manyKeys(MaxObjectMembers+1) + `}`, "more than 1000 members"},
		{"duplicated key", `{"userID":"admin","action":"GET USERS","userID":"nobody"}`, `duplicate key "userID"`},
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
			assert.Equal(t, Event{}, ev)
			assert.Equal(t, []string{"log.file.name=ctreplay.log"}, entries(attrs), "attributes untouched")

			r := plog.NewLogRecord()
			r.Body().SetStr(tt.line)
			require.Error(t, ToRecord([]byte(tt.line), r, Options{}))
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

func TestParseMissingAndInvalidFields(t *testing.T) {
	tests := []struct {
		name        string
		line        string
		wantErr     string
		wantMissing []string
		wantAction  string
	}{
		{"no user, no address", `{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS"}`, "missing field(s) userID, ipAddress", []string{"userID", "ipAddress"}, "GET USERS"},
		{"empty action", `{"ts":"08/01/2021 - 12:44:30.479","userID":"u","ipAddress":"::1","action":""}`, "missing field(s) action", []string{"action"}, ""},
		{"null user", `{"ts":"08/01/2021 - 12:44:30.479","userID":null,"ipAddress":"::1","action":"SET tag"}`, "missing field(s) userID", []string{"userID"}, "SET tag"},
		{"empty object", `{}`, "missing field(s) ts, userID, ipAddress, action", []string{"ts", "userID", "ipAddress", "action"}, ""},
		{"unreadable ts", `{"ts":"yesterday","userID":"u","ipAddress":"::1","action":"SET tag"}`, `ts "yesterday": bad date; want`, nil, "SET tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := pcommon.NewMap()
			ev, err := Parse([]byte(tt.line), attrs, Options{})
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "got %v", err)
			assert.ErrorContains(t, err, tt.wantErr)
			assert.Equal(t, tt.wantMissing, fe.Missing)
			assert.Equal(t, tt.wantAction, ev.Action)
			assert.True(t, ev.Time.IsZero() == strings.Contains(tt.wantErr, "ts"), "time read when ts is valid")

			r := plog.NewLogRecord()
			require.Error(t, ToRecord([]byte(tt.line), r, Options{}))
			assert.Equal(t, tt.wantAction, r.EventName(), "what could be read is kept")
		})
	}
}

func TestDecodeValueTypes(t *testing.T) {
	m := pcommon.NewMap()
	line := "\xef\xbb\xbf" + `{"s":"x","i":42,"f":1.5,"e":1e3,"big":123456789012345678901234,"b":true,"n":null,` +
		`"o":{"k":[1,{"z":"y"}]},"x":1}` + "\r\n"
	require.NoError(t, DecodeObject([]byte(line), m))
	assert.Equal(t, map[string]any{
		"s": "x", "i": int64(42), "f": 1.5, "e": 1000.0, "big": "123456789012345678901234", "b": true, "n": nil,
		"o": map[string]any{"k": []any{int64(1), map[string]any{"z": "y"}}}, "x": int64(1),
	}, m.AsRaw())
	var keys []string
	m.Range(func(k string, _ pcommon.Value) bool { keys = append(keys, k); return true })
	assert.Equal(t, []string{"s", "i", "f", "e", "big", "b", "n", "o", "x"}, keys, "input order")
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
	}
	_, err := ParseDateOrder("year_first")
	assert.EqualError(t, err, `unknown date order "year_first": want day_first or month_first`)
}

func BenchmarkParse(b *testing.B) {
	line := []byte(seedLine)
	b.ReportAllocs()
	for b.Loop() {
		m := pcommon.NewMap()
		if _, err := Parse(line, m, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLimitsAreInclusive(t *testing.T) {
	m := pcommon.NewMap()
	require.NoError(t, DecodeObject([]byte(`{`+manyKeys(MaxObjectMembers)+`}`), m))
	assert.Equal(t, MaxObjectMembers, m.Len())
	deep := strings.Repeat(`[`, MaxDepth-1) + strings.Repeat(`]`, MaxDepth-1)
	require.NoError(t, DecodeObject([]byte(`{"d":`+deep+`}`), pcommon.NewMap()))
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
