package format

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc5424"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
)

// strictParse parses msg with go-syslog's RFC 5424 parser in its strict
// mode (no best effort, RFC-compliant MSG) and fails the test on any error.
func strictParse(t testing.TB, msg []byte) *rfc5424.SyslogMessage {
	t.Helper()
	p := rfc5424.NewParser(rfc5424.WithCompliantMsg())
	m, err := p.Parse(msg)
	require.NoError(t, err, "strict RFC 5424 parser rejected %q", msg)
	sm := m.(*rfc5424.SyslogMessage)
	require.True(t, sm.Valid())
	return sm
}

func newFormatter(t testing.TB, opts Options) *Formatter {
	t.Helper()
	if opts.SDID == "" {
		opts.SDID = "data"
	}
	if opts.Facility == 0 {
		opts.Facility = 20 // local4
	}
	f, err := New(opts)
	require.NoError(t, err)
	return f
}

// glassixRecord is the event of seed 000's documented syslog example, as
// the auditwebhook receiver hands it over (nested, not yet flattened).
func glassixRecord(t testing.TB) (pcommon.Resource, plog.LogRecord) {
	t.Helper()
	res := pcommon.NewResource()
	res.Attributes().PutStr(auditrecord.AttrSource, auditrecord.SourceGlassix)
	rec := plog.NewLogRecord()
	ts, err := time.Parse(time.RFC3339Nano, "2024-01-15T11:19:07.7935597Z")
	require.NoError(t, err)
	rec.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	rec.SetEventName("RoleRemoved")
	rec.SetSeverityNumber(plog.SeverityNumberInfo)
	rec.Body().SetStr("[email protected] removed role SystemUser from [email protected]")
	a := rec.Attributes()
	a.PutStr("id", "ad681bbc-9608-4a2a-a283-717011f35c35")
	a.PutStr("dateTime", "2024-01-15T11:19:07.7935597Z")
	a.PutStr("departmentId", "95b4ae47-a872-4dd5-920d-7b01d64288ad")
	user := func(name, id, anon string) {
		u := a.PutEmptyMap(name)
		u.PutStr("id", id)
		u.PutStr("gender", "Undefined")
		u.PutStr("UserName", "[email protected]")
		u.PutStr("culture", "en-US")
		u.PutBool("isAnonymous", anon == "true")
		u.PutStr("uniqueArgument", "")
		u.PutStr("type", "AGENT")
	}
	user("initiatorUser", "f4d56da7-f39f-4741-8c84-4b5b34e40ad3", "false")
	user("targetUser", "2563e94e-f68e-4cf8-b13b-17cfc95c437d", "true")
	a.PutStr("ipAddress", "212.199.97.210")
	a.PutStr("message", "[email protected] removed role SystemUser from [email protected]")
	a.PutStr("type", "RoleRemoved")
	a.PutStr("logType", "Security")
	return res, rec
}

// The vendor's documented example, with the two deviations the task
// decided on: MSGID is the event name (the vendor's 36-character UUID is
// longer than RFC 5424 allows), the time keeps 6 digits, not 2, and ']' in
// values is escaped (the vendor's example leaves it bare, which RFC 5424
// section 6.3.3 forbids and strict parsers reject).
const seedExample = `<166>1 2024-01-15T11:19:07.793559Z glassix.com glassix - RoleRemoved ` +
	`[data id="ad681bbc-9608-4a2a-a283-717011f35c35" dateTime="2024-01-15T11:19:07.7935597Z" departmentId="95b4ae47-a872-4dd5-920d-7b01d64288ad" ` +
	`initiatorUser_id="f4d56da7-f39f-4741-8c84-4b5b34e40ad3" initiatorUser_gender="Undefined" initiatorUser_UserName="[email protected\]" initiatorUser_culture="en-US" initiatorUser_isAnonymous="false" initiatorUser_uniqueArgument="" initiatorUser_type="AGENT" ` +
	`targetUser_id="2563e94e-f68e-4cf8-b13b-17cfc95c437d" targetUser_gender="Undefined" targetUser_UserName="[email protected\]" targetUser_culture="en-US" targetUser_isAnonymous="true" targetUser_uniqueArgument="" targetUser_type="AGENT" ` +
	`ipAddress="212.199.97.210" message="[email protected\] removed role SystemUser from [email protected\]" type="RoleRemoved" logType="Security"] ` +
	`RoleRemoved: [email protected] removed role SystemUser from [email protected]`

func TestSeedExample(t *testing.T) {
	f := newFormatter(t, Options{Hostname: "glassix.com"})
	res, rec := glassixRecord(t)
	got, cut, err := f.Format(res, rec)
	require.NoError(t, err)
	assert.Zero(t, cut)
	assert.Equal(t, seedExample, string(got))

	m := strictParse(t, got)
	assert.Equal(t, "local4", *m.FacilityLevel())
	assert.Equal(t, "informational", *m.SeverityLevel())
	assert.Equal(t, "RoleRemoved", *m.MsgID)
	assert.Equal(t, "glassix", *m.Appname)
	assert.Equal(t, "Security", (*m.StructuredData)["data"]["logType"])
	assert.Equal(t, 2024, m.Timestamp.Year())
	assert.Equal(t, 793559000, m.Timestamp.Nanosecond())
}

func TestHeader(t *testing.T) {
	at := func(s string) pcommon.Timestamp {
		ts, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return pcommon.NewTimestampFromTime(ts)
	}
	fixedNow := time.Date(2030, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600))
	tests := []struct {
		name   string
		opts   Options
		source string
		setup  func(plog.LogRecord)
		want   string // the message up to and including MSGID
	}{
		{
			name:  "fraction truncated, never rounded into the next second",
			setup: func(r plog.LogRecord) { r.SetTimestamp(at("2024-12-31T23:59:59.9999999Z")) },
			want:  "<166>1 2024-12-31T23:59:59.999999Z - - - -",
		},
		{
			name:  "time converted to UTC",
			setup: func(r plog.LogRecord) { r.SetTimestamp(at("2024-01-01T01:00:00.5+02:00")) },
			want:  "<166>1 2023-12-31T23:00:00.500000Z - - - -",
		},
		{
			name:  "observed timestamp when the event time is missing",
			setup: func(r plog.LogRecord) { r.SetObservedTimestamp(at("2024-05-05T05:05:05Z")) },
			want:  "<166>1 2024-05-05T05:05:05.000000Z - - - -",
		},
		{
			name: "clock when both timestamps are missing",
			want: "<166>1 2030-01-02T02:04:05.678901Z - - - -",
		},
		{
			name:  "severity error under facility local0",
			opts:  Options{Facility: 16},
			setup: func(r plog.LogRecord) { r.SetSeverityNumber(plog.SeverityNumberError) },
			want:  "<131>1 2030-01-02T02:04:05.678901Z - - - -",
		},
		{
			name:  "emerg under kern is PRI 0",
			opts:  Options{Facility: -1},
			setup: func(r plog.LogRecord) { r.SetSeverityNumber(plog.SeverityNumberFatal4) },
			want:  "<0>1 2030-01-02T02:04:05.678901Z - - - -",
		},
		{
			name:   "app name from audit.source, msgid from the event name",
			source: "sippy",
			setup:  func(r plog.LogRecord) { r.SetEventName("LOGIN") },
			want:   "<166>1 2030-01-02T02:04:05.678901Z - sippy - LOGIN",
		},
		{
			name:   "configured app name and msgid win",
			opts:   Options{AppName: "siem-feed", MsgID: "AUDIT", Hostname: "collector-1"},
			source: "sippy",
			setup:  func(r plog.LogRecord) { r.SetEventName("LOGIN") },
			want:   "<166>1 2030-01-02T02:04:05.678901Z collector-1 siem-feed - AUDIT",
		},
		{
			name:  "uuid msgid cut to 32 characters",
			setup: func(r plog.LogRecord) { r.SetEventName("ad681bbc-9608-4a2a-a283-717011f35c35") },
			want:  "<166>1 2030-01-02T02:04:05.678901Z - - - ad681bbc-9608-4a2a-a283-717011f3",
		},
		{
			name:   "spaces, controls and non-ASCII in header fields become _",
			opts:   Options{Hostname: "my host\n"},
			source: "ctré play",
			setup:  func(r plog.LogRecord) { r.SetEventName("user login\r\n") },
			want:   "<166>1 2030-01-02T02:04:05.678901Z my_host_ ctr_\u005fplay - user_login__",
		},
		{
			name:   "app name cut to 48",
			source: strings.Repeat("a", 60),
			want:   "<166>1 2030-01-02T02:04:05.678901Z - " + strings.Repeat("a", 48) + " - -",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			switch opts.Facility {
			case 0:
				opts.Facility = 20
			case -1:
				opts.Facility = 0
			}
			opts.Now = func() time.Time { return fixedNow }
			opts.SDID = "data"
			opts.Template = "{body}"
			f, err := New(opts)
			require.NoError(t, err)
			res := pcommon.NewResource()
			if tt.source != "" {
				res.Attributes().PutStr(auditrecord.AttrSource, tt.source)
			}
			rec := plog.NewLogRecord()
			if tt.setup != nil {
				tt.setup(rec)
			}
			got, _, err := f.Format(res, rec)
			require.NoError(t, err)
			assert.Equal(t, tt.want+" -", string(got))
			strictParse(t, got)
		})
	}
}

func TestServiceNameFallback(t *testing.T) {
	f := newFormatter(t, Options{})
	res := pcommon.NewResource()
	res.Attributes().PutStr(auditrecord.AttrServiceName, "ctreplay")
	got, _, err := f.Format(res, plog.NewLogRecord())
	require.NoError(t, err)
	assert.Equal(t, "ctreplay", *strictParse(t, got).Appname)
}

func TestStructuredData(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]any
		want  string // the SD part
	}{
		{"no attributes is NILVALUE", nil, "-"},
		{"values escaped", map[string]any{"q": `say "hi" \o/ [x]`}, `[data q="say \"hi\" \\o/ [x\]"]`},
		{"typed values as text", map[string]any{"i": int64(-3), "b": true, "d": 1.5}, `[data b="true" d="1.5" i="-3"]`},
		{"bytes as base64", map[string]any{"raw": []byte{0xff, 0x00}}, `[data raw="/wA="]`},
		{"invalid name characters replaced", map[string]any{`a b=c]d"e`: "v"}, `[data a_b_c_d_e="v"]`},
		{"non-ASCII name, one _ per character", map[string]any{"prénom": "v"}, `[data pr_nom="v"]`},
		{"empty name", map[string]any{"": "v"}, `[data _="v"]`},
		{"long name cut to 32", map[string]any{strings.Repeat("n", 40): "v"}, `[data ` + strings.Repeat("n", 32) + `="v"]`},
		{
			"repaired names never collide",
			map[string]any{"a b": "1", "a=b": "2", "a_b": "3"},
			`[data a_b="1" a_b_2="2" a_b_3="3"]`,
		},
		{
			"collision suffix keeps 32 characters",
			map[string]any{strings.Repeat("x", 33): "1", strings.Repeat("x", 34): "2"},
			`[data ` + strings.Repeat("x", 32) + `="1" ` + strings.Repeat("x", 30) + `_2="2"]`,
		},
		{"invalid UTF-8 value becomes U+FFFD", map[string]any{"v": "a\xffb"}, "[data v=\"a\uFFFDb\"]"},
		{"nested attributes flattened", map[string]any{"u": map[string]any{"id": "1"}, "l": []any{"x"}}, `[data l_0="x" u_id="1"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFormatter(t, Options{Now: func() time.Time { return time.Unix(0, 0) }})
			rec := plog.NewLogRecord()
			// In sorted key order: a Go map's order is random.
			for _, k := range slices.Sorted(maps.Keys(tt.attrs)) {
				require.NoError(t, rec.Attributes().PutEmpty(k).FromRaw(tt.attrs[k]))
			}
			got, _, err := f.Format(pcommon.NewResource(), rec)
			require.NoError(t, err)
			assert.Equal(t, "<166>1 1970-01-01T00:00:00.000000Z - - - - "+tt.want, string(got))
			strictParse(t, got)
		})
	}
}

func TestAttributeOrderIsKept(t *testing.T) {
	f := newFormatter(t, Options{})
	rec := plog.NewLogRecord()
	for _, k := range []string{"zeta", "alpha", "mu"} {
		rec.Attributes().PutStr(k, k)
	}
	got, _, err := f.Format(pcommon.NewResource(), rec)
	require.NoError(t, err)
	assert.Contains(t, string(got), `[data zeta="zeta" alpha="alpha" mu="mu"]`)
}

func TestResourceElement(t *testing.T) {
	f := newFormatter(t, Options{ResourceSDID: "resource"})
	res := pcommon.NewResource()
	res.Attributes().PutStr("audit.source", "glassix")
	res.Attributes().PutStr("host.name", "web]1")
	rec := plog.NewLogRecord()
	rec.Attributes().PutStr("k", "v")
	got, _, err := f.Format(res, rec)
	require.NoError(t, err)
	assert.Contains(t, string(got), ` [data k="v"][resource audit.source="glassix" host.name="web\]1"]`)
	m := strictParse(t, got)
	assert.Equal(t, "web]1", (*m.StructuredData)["resource"]["host.name"])
}

func TestNewlinesPerFraming(t *testing.T) {
	rec := plog.NewLogRecord()
	rec.SetEventName("E")
	rec.Body().SetStr("line1\nline2\r\n\x00end")
	rec.Attributes().PutStr("v", "a\nb\\n")

	transparent := newFormatter(t, Options{})
	got, _, err := transparent.Format(pcommon.NewResource(), rec)
	require.NoError(t, err)
	m := strictParse(t, got)
	assert.Equal(t, "a\nb\\n", (*m.StructuredData)["data"]["v"], "octet counting carries values exactly")
	assert.Equal(t, "E: line1\nline2\r\n\x00end", *m.Message)

	escaped := newFormatter(t, Options{EscapeNewlines: true})
	got, _, err = escaped.Format(pcommon.NewResource(), rec)
	require.NoError(t, err)
	assert.NotContains(t, string(got), "\n")
	assert.NotContains(t, string(got), "\r")
	assert.NotContains(t, string(got), "\x00")
	m = strictParse(t, got)
	assert.Equal(t, `a\nb\n`, (*m.StructuredData)["data"]["v"])
	assert.Equal(t, `E: line1\nline2\r\n\0end`, *m.Message)
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		name, tmpl, event string
		body              any
		want              string
	}{
		{"default", "", "Login", "ok", "Login: ok"},
		{"no event name, no dangling separator", "", "", "ok", "ok"},
		{"body only", "{body}", "Login", "ok", "ok"},
		{"map body as JSON", "{body}", "", map[string]any{"a": "b"}, `{"a":"b"}`},
		{"all placeholders", "[{source}/{severity}] {event_name} - {body}", "Login", "ok", "[glassix/warning] Login - ok"},
		{"leading and trailing literals kept", "<{event_name} - {body}>", "", "ok", "<ok>"},
		{"no body, no dangling separator", "", "Login", nil, "Login"},
		{"separator needs both sides", "{source}: {event_name}: {body}", "", "ok", "glassix: ok"},
		{"literal braces kept", "{Body} {body}", "", "ok", "{Body} ok"},
		{"nothing at all drops the SP", "{event_name}{body}", "", nil, ""},
		{"body repeating the event name says it once", "", "GET ALL Profile", "GET ALL Profile", "GET ALL Profile"},
		{"body with params after the event name", "", "DELETE Recording", "DELETE Recording id=7", "DELETE Recording id=7"},
		{"prefix that is not a whole word is kept", "", "GET", "GETALL x", "GET: GETALL x"},
		{"repeat check only when body follows", "{event_name} [{source}] {body}", "Login", "Login ok", "Login [glassix] Login ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFormatter(t, Options{Template: tt.tmpl})
			res := pcommon.NewResource()
			res.Attributes().PutStr(auditrecord.AttrSource, "glassix")
			rec := plog.NewLogRecord()
			rec.SetEventName(tt.event)
			rec.SetSeverityNumber(plog.SeverityNumberWarn)
			if tt.body != nil {
				require.NoError(t, rec.Body().FromRaw(tt.body))
			}
			got, _, err := f.Format(res, rec)
			require.NoError(t, err)
			m := strictParse(t, got)
			if tt.want == "" {
				assert.Nil(t, m.Message)
				assert.True(t, strings.HasSuffix(string(got), " -"), string(got))
				return
			}
			require.NotNil(t, m.Message)
			assert.Equal(t, tt.want, *m.Message)
		})
	}
}

func TestOptionsRejected(t *testing.T) {
	_, err := New(Options{Facility: 24, SDID: "bad id", ResourceSDID: "bad id", Template: "{nope}", MaxSize: -1})
	require.Error(t, err)
	for _, want := range []string{"facility 24", "sd_id:", "resource_sd_id:", "unknown placeholder {nope}", "negative"} {
		assert.ErrorContains(t, err, want)
	}
	_, err = New(Options{SDID: "data", ResourceSDID: "data"})
	assert.ErrorContains(t, err, "resource_sd_id must differ")
}

func TestMaxSize(t *testing.T) {
	now := func() time.Time { return time.Unix(0, 0) }
	header := "<166>1 1970-01-01T00:00:00.000000Z - - - - "
	rec := plog.NewLogRecord()
	rec.Attributes().PutStr("k", "v")
	sd := `[data k="v"]`
	rec.Body().SetStr("héllo wörld")
	full := header + sd + " héllo wörld"

	tests := []struct {
		name    string
		max     int
		want    string
		wantCut int
		wantErr bool
	}{
		{"fits exactly", len(full), full, 0, false},
		{"cut on a UTF-8 boundary", len(header+sd+" héllo w") + 1, header + sd + " héllo w", len("örld"), false},
		{"cut inside the first character", len(header+sd+" h") + 1, header + sd + " h", len("éllo wörld"), false},
		{"nothing of MSG fits", len(header + sd + " "), header + sd, len("héllo wörld"), false},
		{"structured data does not fit", len(header+sd) - 1, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFormatter(t, Options{MaxSize: tt.max, Now: now, Template: "{body}"})
			prefix := []byte("keep")
			got, cut, err := f.Append(prefix, pcommon.NewResource(), rec)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrTooLarge)
				assert.Equal(t, "keep", string(got))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got[4:]))
			assert.LessOrEqual(t, len(got)-4, tt.max)
			assert.Equal(t, tt.wantCut, cut)
			assert.True(t, utf8.Valid(got))
			strictParse(t, got[4:])
		})
	}
}

// FuzzFormat feeds arbitrary attribute names and values, bodies and event
// names through both framings and a size limit: every message must pass the
// strict parser, values must round-trip, and escaped messages must hold no
// line breaks.
func FuzzFormat(f *testing.F) {
	f.Add("k", "v", "body", "Event", 0)
	f.Add(`a"b]c\`, "x\"y]z\\\n\r\x00", "multi\nline", "with space", 300)
	f.Add("\xff\xfe", "\xc3", "\xef\xbb\xbfbom", "", 100)
	f.Add("", "中文 عربى 🚀", "]]]", "ad681bbc-9608-4a2a-a283-717011f35c35", 64)
	f.Fuzz(func(t *testing.T, key, value, body, event string, maxSize int) {
		if key == "nested" {
			return // the nested map would replace it
		}
		if maxSize < 0 {
			maxSize = -maxSize
		}
		maxSize %= 4096
		for _, escape := range []bool{false, true} {
			fm, err := New(Options{Facility: 20, SDID: "data", EscapeNewlines: escape, MaxSize: maxSize, Hostname: event})
			require.NoError(t, err)
			rec := plog.NewLogRecord()
			rec.SetEventName(event)
			rec.Body().SetStr(body)
			rec.Attributes().PutStr(key, value)
			rec.Attributes().PutEmptyMap("nested").PutStr(key, value)
			got, cut, err := fm.Format(pcommon.NewResource(), rec)
			if err != nil {
				require.ErrorIs(t, err, ErrTooLarge)
				require.NotZero(t, maxSize)
				continue
			}
			if maxSize > 0 {
				require.LessOrEqual(t, len(got), maxSize)
			}
			m := strictParse(t, got)
			if escape {
				require.NotContains(t, string(got), "\n")
				require.NotContains(t, string(got), "\r")
				require.NotContains(t, string(got), "\x00")
			} else {
				wantValue := perByteValid(value)
				require.Equal(t, wantValue, (*m.StructuredData)["data"][sanitizeName(key)])
				if cut == 0 && body != "" {
					require.NotNil(t, m.Message)
					require.True(t, strings.HasSuffix(*m.Message, perByteValid(body)))
				}
			}
		}
	})
}

// perByteValid replaces each invalid UTF-8 octet with U+FFFD, as the
// formatter does (strings.ToValidUTF8 merges runs of them).
func perByteValid(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

var _ syslog.Message = (*rfc5424.SyslogMessage)(nil)
