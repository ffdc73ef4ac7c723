package sippy

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

// Records built from seed 002's columns and its own examples of actions,
// resources and action_by values.
const (
	update   = `{"resource":"accounts:i_account=5:balance=10","action":"U","action_by":"u:1:3726:main_admin","date":"09:57:29.000 GMT Wed Nov 18 2009","user_ip":"192.0.2.10"}`
	authFail = `{"resource":"customer:username=alice","action":"AUTH_FAIL","action_by":"c:1:0:000123","date":"2009-11-18T09:58:00.250+02:00","user_ip":"node-7"}`
)

var observed = pcommon.NewTimestampFromTime(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))

func parse(t *testing.T, p Parser, body string, forward bool) (plog.LogRecordSlice, vendors.Result) {
	t.Helper()
	out := plog.NewLogRecordSlice()
	res := p.Parse([]byte(body), vendors.Options{Observed: observed, ForwardUnparsed: forward}, out)
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

func TestParseRecords(t *testing.T) {
	out, res := parse(t, Parser{}, update+"\n"+authFail+"\n", true)
	require.Equal(t, 2, out.Len())
	assert.Equal(t, 2, res.Parsed)

	u := out.At(0)
	assert.Equal(t, time.Date(2009, 11, 18, 9, 57, 29, 0, time.UTC), u.Timestamp().AsTime().UTC())
	assert.Equal(t, observed, u.ObservedTimestamp())
	assert.Equal(t, "U", u.EventName())
	assert.Equal(t, "U accounts:i_account=5:balance=10", u.Body().Str())
	assert.Equal(t, []string{"resource", "action", "action_by", "date", "user_ip"}, keys(u.Attributes()))
	date, _ := u.Attributes().Get("date")
	assert.Equal(t, "09:57:29.000 GMT Wed Nov 18 2009", date.Str(), "the vendor's string is kept")

	a := out.At(1)
	assert.Equal(t, time.Date(2009, 11, 18, 7, 58, 0, 250e6, time.UTC), a.Timestamp().AsTime().UTC())
	assert.Equal(t, "AUTH_FAIL", a.EventName())
	assert.Equal(t, "AUTH_FAIL customer:username=alice", a.Body().Str())
	ip, _ := a.Attributes().Get("user_ip")
	assert.Equal(t, "node-7", ip.Str(), "a node id where an address would be")
}

func TestParseBodyForms(t *testing.T) {
	for name, body := range map[string]string{
		"one object":                update,
		"array":                     "[" + update + "," + authFail + "]",
		"json lines with a bad one": update + "\n{\"action\":\"D\",\n" + authFail,
	} {
		t.Run(name, func(t *testing.T) {
			out, _ := parse(t, Parser{}, body, false)
			require.GreaterOrEqual(t, out.Len(), 1)
			assert.Equal(t, "U", out.At(0).EventName())
			if out.Len() > 1 {
				assert.Equal(t, "AUTH_FAIL", out.At(out.Len()-1).EventName())
			}
		})
	}
}

func TestParseFlagsBadFields(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		parseErr string
		bodyText string
	}{
		{"unknown zone", `{"action":"D","resource":"tariffs:i_tariff=3","date":"09:57:29.000 CST Wed Nov 18 2009"}`,
			`date: cannot read "09:57:29.000 CST Wed Nov 18 2009": unknown time zone "CST" (use GMT, UTC or a numeric offset)`, "D tariffs:i_tariff=3"},
		{"no date", `{"action":"BRUN","resource":"i_account=1"}`, "date: missing", "BRUN i_account=1"},
		{"date is a number", `{"action":"BRUN","date":1258538249}`, "date: is a number, not a string", "BRUN"},
		{"no action", `{"resource":"i_account=1","date":"2009-11-18T09:57:29Z"}`, "action: missing", "i_account=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res := parse(t, Parser{}, tt.body, true)
			require.Equal(t, 1, out.Len())
			assert.Equal(t, 1, res.Flagged)
			perr, ok := out.At(0).Attributes().Get(auditrecord.AttrParseError)
			require.True(t, ok)
			assert.Equal(t, tt.parseErr, perr.Str())
			assert.Equal(t, tt.bodyText, out.At(0).Body().Str())
		})
	}
}

func TestParseDate(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	tests := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"09:57:29.000 GMT Wed Nov 18 2009", nil, time.Date(2009, 11, 18, 9, 57, 29, 0, time.UTC)},
		{"09:57:29 UTC Wed Nov 18 2009", nil, time.Date(2009, 11, 18, 9, 57, 29, 0, time.UTC)},
		{"09:57:29.5 +0200 Wed Nov 18 2009", nil, time.Date(2009, 11, 18, 7, 57, 29, 5e8, time.UTC)},
		{"09:57:29.000 GMT-05:00 Wed Nov 18 2009", nil, time.Date(2009, 11, 18, 14, 57, 29, 0, time.UTC)},
		{"23:30:00.000 -07 Sun Feb 1 2009", nil, time.Date(2009, 2, 2, 6, 30, 0, 0, time.UTC)},
		{"2009-11-18T09:57:29.123456789Z", nil, time.Date(2009, 11, 18, 9, 57, 29, 123456789, time.UTC)},
		{"2009-11-18T09:57:29+01:00", nil, time.Date(2009, 11, 18, 8, 57, 29, 0, time.UTC)},
		{"2009-11-18 09:57:29", nil, time.Date(2009, 11, 18, 9, 57, 29, 0, time.UTC)},
		{"2009-11-18 09:57:29.250", newYork, time.Date(2009, 11, 18, 14, 57, 29, 250e6, time.UTC)},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in, tt.loc)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got.UTC(), tt.in)
	}
	for _, bad := range []string{
		"", "yesterday", "09:57:29.000 EST Wed Nov 18 2009", "09:57:29.000 GMT Wed Nov 31 2009",
		"09:57:29.000 GMT+2 Wed Nov 18 2009", "09:57:29.000 +2500 Wed Nov 18 2009", "25:57:29.000 GMT Wed Nov 18 2009",
		"09:57:29.000 GMT Xyz Nov 18 2009", "2009-11-18T09:57:29",
	} {
		_, err := ParseDate(bad, nil)
		assert.Error(t, err, bad)
	}
}

// FuzzParseSippy checks the parser's accounting on any body.
func FuzzParseSippy(f *testing.F) {
	f.Add([]byte(update+"\n"+authFail), true)
	f.Add([]byte(`[{"action":"D","date":"09:57:29.000 GMT+99:99 Wed Nov 18 2009"},{"date":null}]`), false)
	f.Add([]byte("{\"resource\":\"\xfe\",\"action\":\"U\",\"action\":\"D\"}\n[1,2"), true)
	f.Fuzz(func(t *testing.T, body []byte, forward bool) {
		out := plog.NewLogRecordSlice()
		res := Parser{}.Parse(body, vendors.Options{Observed: observed, ForwardUnparsed: forward}, out)
		vendortest.CheckAccounting(t, forward, observed, out, res)
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
