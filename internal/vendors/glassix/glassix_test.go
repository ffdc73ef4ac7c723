package glassix

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/vendortest"
)

var observed = pcommon.NewTimestampFromTime(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))

// sample reads one of seed 000's envelopes, kept verbatim in the
// receiver's testdata.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "receiver", "auditwebhookreceiver", "testdata", name))
	require.NoError(t, err)
	return b
}

func parse(t *testing.T, p Parser, body []byte, forward bool) (plog.LogRecordSlice, vendors.Result) {
	t.Helper()
	out := plog.NewLogRecordSlice()
	res := p.Parse(body, vendors.Options{Observed: observed, ForwardUnparsed: forward}, out)
	vendortest.CheckAccounting(t, forward, observed, out, res)
	return out, res
}

func keys(m pcommon.Map) []string {
	var ks []string
	for k := range m.All() {
		ks = append(ks, k)
	}
	return ks
}

func str(t *testing.T, m pcommon.Map, key string) string {
	t.Helper()
	v, ok := m.Get(key)
	require.True(t, ok, "attribute %q", key)
	return v.AsString()
}

func TestParseSeedSamples(t *testing.T) {
	tests := []struct {
		file      string
		timestamp time.Time
		eventName string
		body      string
		keys      []string
		envDate   string
	}{
		{
			file:      "glassix_informative.json",
			timestamp: time.Date(2024, 1, 7, 12, 23, 16, 796522900, time.UTC),
			eventName: "ChatbotMappingsChange",
			body:      "admin@example.com changed chatbot mappings",
			keys:      []string{"id", "dateTime", "departmentId", "initiatorUser", "ipAddress", "message", "type", "logType", AttrKey, AttrEnvelopeDateTime},
			envDate:   "2024-01-07T12:23:16.9159993Z",
		},
		{
			file:      "glassix_security.json",
			timestamp: time.Date(2024, 1, 11, 9, 18, 32, 745235800, time.UTC),
			eventName: "UserRemoved",
			body:      "john@example.com removed by admin@example.com",
			keys:      []string{"id", "dateTime", "departmentId", "initiatorUser", "targetUser", "ipAddress", "message", "type", "logType", AttrKey, AttrEnvelopeDateTime},
			envDate:   "2024-01-11T09:18:32.7608826Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out, res := parse(t, Parser{}, sample(t, tt.file), true)
			require.Equal(t, 1, out.Len())
			assert.Equal(t, 1, res.Parsed)
			lr := out.At(0)
			assert.Equal(t, tt.timestamp, lr.Timestamp().AsTime(), "all 7 fractional digits kept")
			assert.Equal(t, observed, lr.ObservedTimestamp())
			assert.Equal(t, tt.eventName, lr.EventName())
			assert.Equal(t, tt.body, lr.Body().Str())
			attrs := lr.Attributes()
			assert.Equal(t, tt.keys, keys(attrs), "the log's order, then the envelope's")
			assert.Equal(t, "9200c94a-13d7-4397-a52c-1728fc6bb670", str(t, attrs, AttrKey))
			assert.Equal(t, tt.envDate, str(t, attrs, AttrEnvelopeDateTime))
			assert.Equal(t, tt.timestamp.Format("2006-01-02T15:04:05.0000000Z"), str(t, attrs, FieldDateTime), "the vendor's string untouched")
			user, _ := attrs.Get("initiatorUser")
			require.Equal(t, pcommon.ValueTypeMap, user.Type(), "nested objects stay maps")
			assert.Equal(t, []string{"id", "gender", "UserName", "culture", "isAnonymous", "uniqueArgument", "type"}, keys(user.Map()))
			anon, _ := user.Map().Get("isAnonymous")
			assert.Equal(t, pcommon.ValueTypeBool, anon.Type())
		})
	}
}

func TestParseEveryAuditChange(t *testing.T) {
	body := `{"key":"k","dateTime":"2024-01-15T11:19:08Z","changes":[
		{"_event":"AUDIT_LOGS","log":{"id":"1","dateTime":"2024-01-15T11:19:07.1000000Z","type":"A","message":"first"}},
		{"_event":"NEW_TICKET","ticket":{"id":7}},
		{"log":{"id":"2","dateTime":"2024-01-15T11:19:07.2000000Z","type":"B","message":"second"},"_event":"AUDIT_LOGS"},
		{"_event":"AUDIT_LOGS","log":{"id":"3","dateTime":"2024-01-15T11:19:07.3000000Z","type":"C","message":"third"}}
	]}`
	out, res := parse(t, Parser{}, []byte(body), true)
	require.Equal(t, 3, out.Len(), "every AUDIT_LOGS change, not only the first")
	assert.Equal(t, 3, res.Parsed)
	assert.Equal(t, 1, res.Skipped)
	for i, want := range []string{"A", "B", "C"} {
		assert.Equal(t, want, out.At(i).EventName())
		assert.Equal(t, "k", str(t, out.At(i).Attributes(), AttrKey))
	}
}

func TestParseForwardsOtherEvents(t *testing.T) {
	body := `{"key":"k","dateTime":"2024-01-15T11:19:08Z","changes":[{"_event":"NEW_TICKET","ticket":{"id":7}},{"_event":"TICKET_CLOSED","id":8}]}`
	for name, tt := range map[string]struct {
		forward []string
		records int
		skipped int
	}{
		"default skips them":    {nil, 0, 2},
		"named event forwarded": {[]string{"NEW_TICKET"}, 1, 1},
		"star forwards all":     {[]string{ForwardAll}, 2, 0},
	} {
		t.Run(name, func(t *testing.T) {
			out, res := parse(t, Parser{ForwardEvents: tt.forward}, []byte(body), true)
			require.Equal(t, tt.records, out.Len())
			assert.Equal(t, tt.skipped, res.Skipped)
			if out.Len() > 0 {
				lr := out.At(0)
				assert.Equal(t, "NEW_TICKET", lr.EventName())
				assert.Equal(t, time.Date(2024, 1, 15, 11, 19, 8, 0, time.UTC), lr.Timestamp().AsTime(), "timed by the envelope")
				assert.Equal(t, []string{"_event", "ticket", AttrKey, AttrEnvelopeDateTime}, keys(lr.Attributes()))
			}
		})
	}
}

func TestParseBadChangeKeepsTheOthers(t *testing.T) {
	good := `{"_event":"AUDIT_LOGS","log":{"id":"1","dateTime":"2024-01-15T11:19:07Z","type":"A","message":"m"}}`
	tests := []struct {
		name   string
		bad    string
		reason string
	}{
		{"change is a string", `"oops"`, `changes[1]: is a string, not an object`},
		{"change without _event", `{"log":{}}`, `changes[1]: no "_event" string`},
		{"log is not an object", `{"_event":"AUDIT_LOGS","log":"x"}`, `changes[1]: "log" is missing or not an object`},
		{"duplicate key in a change", `{"_event":"AUDIT_LOGS","log":{"type":"A","type":"B"}}`, `changes[1]: line 1, column 164: duplicate key "type"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"key":"k","changes":[` + good + "," + tt.bad + "," + good + `]}`
			out, res := parse(t, Parser{}, []byte(body), true)
			require.Equal(t, 3, out.Len())
			assert.Equal(t, 2, res.Parsed)
			assert.Equal(t, 1, res.Flagged)
			bad := out.At(1)
			assert.Equal(t, tt.bad, bad.Body().Str(), "raw text of the change")
			assert.Equal(t, tt.reason, str(t, bad.Attributes(), auditrecord.AttrParseError))
			assert.Equal(t, "k", str(t, bad.Attributes(), AttrKey))
			assert.Equal(t, []vendors.Problem{{Event: 2, Error: tt.reason}}, res.Problems)

			out, res = parse(t, Parser{}, []byte(body), false)
			assert.Equal(t, 2, out.Len(), "without forwarding only the bad change is dropped")
			assert.Equal(t, 1, res.Dropped)
		})
	}
}

func TestParseBrokenEnvelope(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		reason string
	}{
		{"not json", `hello`, "not a Glassix envelope: line 1, column 1: expected an object, found 'h'"},
		{"array instead of envelope", `[{"_event":"AUDIT_LOGS"}]`, "not a Glassix envelope: line 1, column 1: expected an object, found '['"},
		{"no changes", `{"key":"k","dateTime":"2024-01-15T11:19:08Z"}`, `not a Glassix envelope: no "changes" array`},
		{"changes not an array", `{"changes":{"_event":"AUDIT_LOGS"}}`, `not a Glassix envelope: "changes" is not an array`},
		{"truncated", `{"key":"k","changes":[{"_event":"AUDIT_LOGS","log":{"type":"A"`, "not a Glassix envelope: line 1, column 63: expected ',' or '}' after object member, found end of input"},
		{"two changes arrays", `{"changes":[],"changes":[]}`, `not a Glassix envelope: line 1, column 15: duplicate key "changes"`},
		{"trailing data", `{"changes":[]} {}`, "not a Glassix envelope: unexpected data after the envelope at byte 15"},
		{"too deep", `{"changes":[{"_event":"AUDIT_LOGS","log":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}]}`,
			"changes[0]: line 1, column 71: nesting deeper than 32 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res := parse(t, Parser{}, []byte(tt.body), true)
			require.Equal(t, 1, out.Len())
			lr := out.At(0)
			assert.Equal(t, tt.reason, str(t, lr.Attributes(), auditrecord.AttrParseError))
			_, hasLine := lr.Attributes().Get(auditrecord.AttrParseLine)
			assert.False(t, hasLine, "not JSON lines")
			assert.Equal(t, 1, res.Flagged)
			assert.Equal(t, 1, res.Unreadable)
			if !strings.HasPrefix(tt.reason, "changes[") {
				assert.Equal(t, tt.body, lr.Body().Str(), "the whole body is the evidence")
			}
		})
	}
}

func TestParseFlagsBadLogFields(t *testing.T) {
	body := `{"changes":[{"_event":"AUDIT_LOGS","log":{"id":"1","dateTime":"15/01/2024","message":"m"}}]}`
	out, res := parse(t, Parser{}, []byte(body), true)
	require.Equal(t, 1, out.Len())
	assert.Equal(t, 1, res.Flagged)
	lr := out.At(0)
	assert.Equal(t, `dateTime: cannot read "15/01/2024" as an RFC 3339 date-time; type: missing`, str(t, lr.Attributes(), auditrecord.AttrParseError))
	assert.Zero(t, lr.Timestamp())
	assert.Equal(t, "m", lr.Body().Str())
	assert.Equal(t, "1", str(t, lr.Attributes(), "id"), "fields kept")
}

func TestParseDateTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2024-01-15T11:19:07.7935597Z":        time.Date(2024, 1, 15, 11, 19, 7, 793559700, time.UTC),
		"2024-01-15T11:19:07Z":                time.Date(2024, 1, 15, 11, 19, 7, 0, time.UTC),
		"2024-01-15T13:19:07.123456789+02:00": time.Date(2024, 1, 15, 11, 19, 7, 123456789, time.UTC),
		"2024-01-15T11:19:07.7935597":         time.Date(2024, 1, 15, 11, 19, 7, 793559700, time.UTC),
	} {
		got, err := ParseDateTime(in)
		require.NoError(t, err, in)
		assert.True(t, want.Equal(got), "%s: got %s", in, got)
	}
	for _, bad := range []string{"", "2024-01-15", "15/01/2024 11:19", "2024-13-15T11:19:07Z"} {
		_, err := ParseDateTime(bad)
		assert.Error(t, err, bad)
	}
}

// FuzzParseGlassix checks the parser's accounting on any body, and that a
// body which is not an envelope becomes exactly one unparseable event.
func FuzzParseGlassix(f *testing.F) {
	f.Add(sample(f, "glassix_informative.json"), true)
	f.Add(sample(f, "glassix_security.json"), false)
	f.Add([]byte(`{"key":1,"changes":[{"_event":"AUDIT_LOGS","log":{"dateTime":7}},"x",{"_event":"X"}]}`), true)
	f.Add([]byte(`{"changes":[{"_event":"AUDIT_LOGS","log":{"a":1,"a":2}}]`), true)
	f.Fuzz(func(t *testing.T, body []byte, forward bool) {
		out := plog.NewLogRecordSlice()
		res := Parser{}.Parse(body, vendors.Options{Observed: observed, ForwardUnparsed: forward}, out)
		vendortest.CheckAccounting(t, forward, observed, out, res)
		for i := 0; i < out.Len(); i++ {
			lr := out.At(i)
			if _, flagged := lr.Attributes().Get(auditrecord.AttrParseError); !flagged {
				require.NotZero(t, lr.Timestamp(), "a clean record has its event time")
				require.NotEmpty(t, lr.EventName())
			}
		}
	})
}
