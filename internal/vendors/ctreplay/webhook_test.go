package ctreplay

import (
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

// The tests here cover what the webhook parser adds to Read, whose
// own tests cover the record mapping and ts in detail: splitting a body into
// events, the accounting, forwarding or dropping what cannot be parsed, and
// audit.parse_line.

// ctreplaySeed is seed 001's example verbatim: its second line is truncated.
const ctreplaySeed = `{"ts":"08/01/2021 - 12:44:30.479","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"GET ALL Profile","params":"","level":"info"}
{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`

var ctreplayObserved = pcommon.NewTimestampFromTime(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))

func parseCTReplay(t *testing.T, opts Options, body string, forward bool) (plog.LogRecordSlice, vendors.Result) {
	t.Helper()
	out := plog.NewLogRecordSlice()
	res := Parser{Options: opts}.Parse([]byte(body), vendors.Options{Observed: ctreplayObserved, ForwardUnparsed: forward}, out)
	return out, res
}

func keysOf(m pcommon.Map) []string {
	var ks []string
	for k := range m.All() {
		ks = append(ks, k)
	}
	return ks
}

func TestCTReplayParseSeed(t *testing.T) {
	out, res := parseCTReplay(t, Options{}, ctreplaySeed, true)
	require.Equal(t, 2, out.Len())
	assert.Equal(t, 1, res.Parsed)
	assert.Equal(t, 1, res.Flagged)

	good := out.At(0)
	assert.Equal(t, time.Date(2021, 1, 8, 12, 44, 30, 479_000_000, time.UTC), good.Timestamp().AsTime(), "day first, UTC")
	assert.Equal(t, ctreplayObserved, good.ObservedTimestamp())
	assert.Equal(t, "GET ALL Profile", good.EventName())
	assert.Equal(t, "GET ALL Profile", good.Body().Str(), "empty params: just the action")
	assert.Equal(t, []string{"ts", "domain", "userID", "ipAddress", "action", "params", "level"}, keysOf(good.Attributes()), "vendor's order")
	assert.Equal(t, map[string]any{
		"ts": "08/01/2021 - 12:44:30.479", "domain": "SAASFCL", "userID": "admin", "ipAddress": "::1",
		"action": "GET ALL Profile", "params": "", "level": "info",
	}, good.Attributes().AsRaw())

	bad := out.At(1)
	assert.Equal(t, `{"ts":"08/01/2021 - 16:36:30.408","domain":"SAASFCL","userID":"admin","ipAddress":"::1","action":"SE`, bad.Body().Str(), "raw text kept")
	assert.Zero(t, bad.Timestamp())
	assert.Empty(t, bad.EventName())
	assert.Equal(t, ctreplayObserved, bad.ObservedTimestamp())
	assert.Equal(t, "line 2, column 101: unterminated string", vendortest.Attr(t, bad.Attributes(), auditrecord.AttrParseError))
	line, _ := bad.Attributes().Get(auditrecord.AttrParseLine)
	assert.Equal(t, int64(2), line.Int())
	assert.Equal(t, []vendors.Problem{{Event: 2, Line: 2, Error: "line 2, column 101: unterminated string"}}, res.Problems)
}

func TestCTReplayParseSeedWithoutForwarding(t *testing.T) {
	out, res := parseCTReplay(t, Options{}, ctreplaySeed, false)
	require.Equal(t, 1, out.Len(), "the good line survives, the bad one is dropped")
	assert.Equal(t, 1, res.Parsed)
	assert.Equal(t, 1, res.Dropped)
	assert.Equal(t, 0, res.Flagged)
	require.Len(t, res.Problems, 1)
	assert.Equal(t, 2, res.Problems[0].Line)
}

func TestCTReplayParseMapping(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	tests := []struct {
		name      string
		opts      Options
		body      string
		timestamp time.Time
		eventName string
		bodyText  string
		parseErr  string
	}{
		{
			name:      "params appended to the action",
			body:      `{"ts":"08/01/2021 - 12:44:30.479","action":"DELETE Recording","params":"id=42"}`,
			timestamp: time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC), eventName: "DELETE Recording", bodyText: "DELETE Recording id=42",
		},
		{
			name: "non-string params as JSON", body: `{"ts":"08/01/2021 - 12:44:30","action":"SET tag","params":{"tag":"x"}}`,
			timestamp: time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC), eventName: "SET tag", bodyText: `SET tag {"tag":"x"}`,
		},
		{
			name: "month first", opts: Options{DateOrder: MonthFirst},
			body:      `{"ts":"08/01/2021 - 12:44:30.479","action":"GET USERS"}`,
			timestamp: time.Date(2021, 8, 1, 12, 44, 30, 479e6, time.UTC), eventName: "GET USERS", bodyText: "GET USERS",
		},
		{
			name: "time zone", opts: Options{Location: rome},
			body:      `{"ts":"08/07/2021 - 12:44:30.479","action":"GET USERS"}`,
			timestamp: time.Date(2021, 7, 8, 10, 44, 30, 479e6, time.UTC), eventName: "GET USERS", bodyText: "GET USERS",
		},
		{
			name: "RFC 3339 ts", body: `{"ts":"2021-01-08T12:44:30Z","action":"GET USERS"}`,
			timestamp: time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC), eventName: "GET USERS", bodyText: "GET USERS",
		},
		{
			name: "unreadable ts flags the record and keeps it", body: `{"ts":"yesterday","action":"PLAY Recording"}`,
			eventName: "PLAY Recording", bodyText: "PLAY Recording",
			parseErr: `ts: cannot read "yesterday" as DD/MM/YYYY - hh:mm:ss[.fff] or RFC 3339: bad date`,
		},
		{
			name: "impossible date", body: `{"ts":"31/02/2021 - 12:00:00","action":"GET USERS"}`,
			eventName: "GET USERS", bodyText: "GET USERS",
			parseErr: `ts: cannot read "31/02/2021 - 12:00:00" as DD/MM/YYYY - hh:mm:ss[.fff] or RFC 3339: day 31 out of range`,
		},
		{
			name: "missing ts and action", body: `{"domain":"SAASFCL"}`,
			parseErr: "ts: missing; action: missing",
		},
		{
			name: "ts of the wrong type", body: `{"ts":1610109870,"action":"GET USERS"}`,
			eventName: "GET USERS", bodyText: "GET USERS", parseErr: "ts: is a number, not a string",
		},
		{
			name: "userID and ipAddress may be absent", body: `{"ts":"08/01/2021 - 12:44:30","action":"GET USERS"}`,
			timestamp: time.Date(2021, 1, 8, 12, 44, 30, 0, time.UTC), eventName: "GET USERS", bodyText: "GET USERS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res := parseCTReplay(t, tt.opts, tt.body, true)
			require.Equal(t, 1, out.Len())
			lr := out.At(0)
			if tt.timestamp.IsZero() {
				assert.Zero(t, lr.Timestamp(), "unset, consumers use ObservedTimestamp")
			} else {
				assert.Equal(t, tt.timestamp, lr.Timestamp().AsTime())
			}
			assert.Equal(t, tt.eventName, lr.EventName())
			assert.Equal(t, tt.bodyText, lr.Body().Str())
			perr, flagged := lr.Attributes().Get(auditrecord.AttrParseError)
			if tt.parseErr == "" {
				assert.False(t, flagged)
				assert.Equal(t, 1, res.Parsed)
				return
			}
			require.True(t, flagged)
			assert.Equal(t, tt.parseErr, perr.Str())
			assert.Equal(t, 1, res.Flagged)
			assert.Equal(t, []vendors.Problem{{Event: 1, Line: 1, Error: tt.parseErr}}, res.Problems)
			_, ok := lr.Attributes().Get("domain")
			assert.Equal(t, tt.name == "missing ts and action", ok, "the vendor's fields are all kept")
		})
	}
}

func TestCTReplayParseArrayAndLines(t *testing.T) {
	const a = `{"ts":"01/02/2021 - 10:00:00.000","action":"GET ALL Profile"}`
	const b = `{"ts":"01/02/2021 - 10:00:01.000","action":"SAVE Profile"}`
	for name, body := range map[string]string{
		"array":      "[" + a + "," + b + "]",
		"json lines": a + "\n" + b + "\n",
		"concatenated objects with a bad line between": a + "\nnot json\n" + b,
	} {
		t.Run(name, func(t *testing.T) {
			out, res := parseCTReplay(t, Options{}, body, false)
			require.Equal(t, 2, out.Len())
			assert.Equal(t, "GET ALL Profile", out.At(0).EventName())
			assert.Equal(t, "SAVE Profile", out.At(1).EventName())
			assert.Equal(t, 2, res.Parsed)
		})
	}
}

func TestCTReplayUsesTheSharedBounds(t *testing.T) {
	out, res := parseCTReplay(t, Options{}, `{`+vendortest.ManyMembers(257)+`}`+"\n"+`{"ts":"01/02/2021 - 10:00:00","action":"X"}`, true)
	require.Equal(t, 2, out.Len())
	assert.Equal(t, 1, res.Parsed)
	assert.Contains(t, vendortest.Attr(t, out.At(0).Attributes(), auditrecord.AttrParseError), "object has more than 256 members")
}

// FuzzParseCTReplay checks the receiver's accounting on any body: every
// event is a clean record, a flagged record or a dropped one; flagged
// records carry the parse error; every string is exportable UTF-8.
func FuzzParseCTReplay(f *testing.F) {
	f.Add([]byte(ctreplaySeed), true)
	f.Add([]byte(`[{"ts":"01/02/2021 - 10:00:00","action":"X"},{"ts":1}]`), false)
	f.Add([]byte("{\"action\":\"\xff\"}\n{\"a\":1,\"a\":2}\n\"str\""), true)
	f.Fuzz(func(t *testing.T, body []byte, forward bool) {
		out := plog.NewLogRecordSlice()
		res := Parser{}.Parse(body, vendors.Options{Observed: ctreplayObserved, ForwardUnparsed: forward}, out)
		vendortest.CheckAccounting(t, forward, ctreplayObserved, out, res)
		require.Equal(t, vendortest.CountEvents(body), res.Parsed+res.Flagged+res.Dropped, "every event accounted for")
		for i := 0; i < out.Len(); i++ {
			lr := out.At(i)
			if _, flagged := lr.Attributes().Get(auditrecord.AttrParseError); !flagged {
				require.NotZero(t, lr.Timestamp(), "a clean record has its event time")
				require.NotEmpty(t, lr.EventName())
			}
		}
	})
}
