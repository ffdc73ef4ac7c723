package format

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/siemformat"
)

// hostile holds the characters each format must escape or survive: the
// separators of both formats, escapes, the RFC 5424 SD closers, line
// breaks, header-shaped text and non-ASCII.
const hostile = `a|b=c\d]e"f ^g` + "\n<13>1 2024-01-01T00:00:00Z forged - - - x\r\n" + `k=v ü€😀 \n \=`

// siemRecord is a normalized Glassix record whose every field is hostile.
func siemRecord(t *testing.T, source string) (pcommon.Resource, plog.LogRecord) {
	t.Helper()
	res := pcommon.NewResource()
	res.Attributes().PutStr(auditrecord.AttrSource, source)
	rec := plog.NewLogRecord()
	ts := time.Date(2024, 1, 15, 11, 19, 7, 793_559_700, time.UTC)
	rec.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	rec.SetEventName("User|Removed=" + hostile)
	rec.SetSeverityNumber(plog.SeverityNumberWarn)
	rec.Body().SetStr("body " + hostile)
	a := rec.Attributes()
	a.PutStr("id", "ad681bbc")
	a.PutStr("log_message", hostile)
	a.PutStr("a.b", "dotted")
	a.PutStr("a_b", "underscored") // derives the same custom key as a.b
	a.PutInt("count", 42)
	a.PutStr(auditrecord.AttrActor, "actor "+hostile)
	a.PutStr(auditrecord.AttrActorID, "42")
	a.PutStr(auditrecord.AttrTarget, "target "+hostile)
	a.PutStr(auditrecord.AttrClientAddress, "2001:db8::1")
	a.PutStr(auditrecord.AttrOutcome, "failure")
	a.PutStr(auditrecord.AttrCategory, "security")
	a.PutStr(auditrecord.AttrEventID, "ad681bbc")
	a.PutStr(auditrecord.AttrParseError, "ts: "+hostile)
	a.PutInt(auditrecord.AttrParseLine, 3)
	return res, rec
}

// msgOf strictly parses the syslog message and returns its MSG.
func msgOf(t *testing.T, line []byte) string {
	t.Helper()
	sm := strictParse(t, line)
	assert.Nil(t, sm.StructuredData, "CEF and LEEF carry no structured data")
	require.NotNil(t, sm.Message)
	return *sm.Message
}

func TestCEFCarriesEveryFieldExactly(t *testing.T) {
	f := newFormatter(t, Options{Payload: PayloadCEF, DeviceVersion: "2.5", EscapeNewlines: true})
	res, rec := siemRecord(t, auditrecord.SourceGlassix)
	line, cut, err := f.Format(res, rec)
	require.NoError(t, err)
	assert.Zero(t, cut)
	assert.NotContains(t, string(line), "\n", "no line break reaches the wire")
	msg := msgOf(t, line)

	c, err := siemformat.ParseCEF(msg)
	require.NoError(t, err, msg)
	assert.Equal(t, "Glassix", c.Vendor)
	assert.Equal(t, "Glassix", c.Product)
	assert.Equal(t, "2.5", c.DeviceVersion)
	flat := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(rec.EventName())
	assert.Equal(t, flat, c.Signature, "header: line breaks become spaces")
	assert.Equal(t, flat, c.Name)
	assert.Equal(t, "6", c.Severity, "warning")
	ms := strconv.FormatInt(rec.Timestamp().AsTime().UnixMilli(), 10)
	assert.Equal(t, map[string]string{
		"rt": ms, "act": rec.EventName(), "suser": "actor " + hostile, "suid": "42",
		"duser": "target " + hostile, "src": "2001:db8::1", "outcome": "failure", "cat": "security",
		"externalId": "ad681bbc", "cs1Label": "auditSource", "cs1": "glassix",
		"cs2Label": "parseError", "cs2": "ts: " + hostile,
		"glassixId": "ad681bbc", "glassixLogMessage": hostile, "glassixAB": "dotted", "glassixAB2": "underscored",
		"glassixCount": "42", "glassixAuditParseLine": "3",
		"msg": "body " + hostile,
	}, c.Extension)
	assert.Equal(t, "msg", c.Keys[len(c.Keys)-1], "the body comes last")
}

func TestCEFTargetOfOtherVendorsAndNonIPAddress(t *testing.T) {
	f := newFormatter(t, Options{Payload: PayloadCEF})
	res, rec := siemRecord(t, auditrecord.SourceSippy)
	rec.Attributes().PutStr(auditrecord.AttrClientAddress, "node-7")
	line, _, err := f.Format(res, rec)
	require.NoError(t, err)
	c, err := siemformat.ParseCEF(msgOf(t, line))
	require.NoError(t, err)
	assert.Equal(t, "Sippy Software", c.Vendor)
	assert.Equal(t, "Sippy Softswitch", c.Product)
	assert.NotContains(t, c.Extension, "duser", "a Sippy target is a resource, not a user")
	assert.Equal(t, "target", c.Extension["cs3Label"])
	assert.Equal(t, "target "+hostile, c.Extension["cs3"])
	assert.NotContains(t, c.Extension, "src", "src must be an IP address")
	assert.Equal(t, "node-7", c.Extension["shost"])
	assert.Equal(t, "ad681bbc", c.Extension["sippyId"], "custom keys named by the source")
}

func TestLEEFCarriesEveryFieldExactly(t *testing.T) {
	for _, delim := range []byte{'^', '\t', '|'} {
		if delim == '|' {
			_, err := New(Options{SDID: "d", Payload: PayloadLEEF, LEEFDelimiter: delim})
			require.Error(t, err, "| cannot be the delimiter")
			continue
		}
		f := newFormatter(t, Options{Payload: PayloadLEEF, LEEFDelimiter: delim, EscapeNewlines: true})
		res, rec := siemRecord(t, auditrecord.SourceCTReplay)
		line, _, err := f.Format(res, rec)
		require.NoError(t, err)
		msg := msgOf(t, line)
		l, err := siemformat.ParseLEEF(msg)
		require.NoError(t, err, msg)
		assert.Equal(t, delim, l.Delimiter)
		assert.Equal(t, "CTReplay", l.Vendor)
		assert.Equal(t, DefaultDeviceVersion, l.ProductVersion)
		assert.Equal(t, strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(rec.EventName()), l.EventID)
		assert.Equal(t, map[string]string{
			"devTime": "2024-01-15T11:19:07.793+0000", "devTimeFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
			"sev": "6", "cat": "security", "usrName": "actor " + hostile, "src": "2001:db8::1",
			"action": rec.EventName(), "actorId": "42", "target": "target " + hostile, "outcome": "failure",
			"eventId": "ad681bbc", "auditSource": "ctreplay", "parseError": "ts: " + hostile,
			"ctreplayId": "ad681bbc", "ctreplayLogMessage": hostile, "ctreplayAB": "dotted", "ctreplayAB2": "underscored",
			"ctreplayCount": "42", "ctreplayAuditParseLine": "3",
			"msg": "body " + hostile,
		}, l.Attributes, "delimiter %q", delim)
	}
}

// A message over the size limit is cut inside msg only, never inside an
// escape, and what remains still parses.
func TestSIEMFormatsCutOnlyTheBody(t *testing.T) {
	for _, payload := range []string{PayloadCEF, PayloadLEEF} {
		res, rec := siemRecord(t, auditrecord.SourceGlassix)
		rec.Body().SetStr("")
		whole, _, err := newFormatter(t, Options{Payload: payload}).Format(res, rec)
		require.NoError(t, err)
		for size := len(whole); size < len(whole)+60; size++ {
			f := newFormatter(t, Options{Payload: payload, MaxSize: size})
			rec.Body().SetStr(strings.Repeat(`\=^`, 400))
			line, cut, err := f.Format(res, rec)
			require.NoError(t, err)
			require.LessOrEqual(t, len(line), size)
			require.Positive(t, cut)
			msg := msgOf(t, line)
			if payload == PayloadCEF {
				c, err := siemformat.ParseCEF(msg)
				require.NoError(t, err, "size %d: %s", size, msg)
				assert.True(t, strings.HasPrefix(rec.Body().Str(), c.Extension["msg"]))
			} else {
				l, err := siemformat.ParseLEEF(msg)
				require.NoError(t, err, "size %d: %s", size, msg)
				assert.True(t, strings.HasPrefix(rec.Body().Str(), l.Attributes["msg"]))
			}
		}
		f := newFormatter(t, Options{Payload: payload, MaxSize: len(whole) - 1})
		_, _, err = f.Format(res, rec)
		require.ErrorIs(t, err, ErrTooLarge, "fields before msg are never cut")
	}
}

func TestSIEMSeverities(t *testing.T) {
	for n, want := range map[plog.SeverityNumber][2]string{
		plog.SeverityNumberFatal4: {"10", "10"}, plog.SeverityNumberError: {"7", "7"},
		plog.SeverityNumberWarn: {"6", "6"}, plog.SeverityNumberInfo2: {"4", "4"},
		plog.SeverityNumberInfo: {"3", "3"}, plog.SeverityNumberDebug: {"1", "1"},
	} {
		res, rec := siemRecord(t, auditrecord.SourceSippy)
		rec.SetSeverityNumber(n)
		line, _, err := newFormatter(t, Options{Payload: PayloadCEF}).Format(res, rec)
		require.NoError(t, err)
		c, err := siemformat.ParseCEF(msgOf(t, line))
		require.NoError(t, err)
		line, _, err = newFormatter(t, Options{Payload: PayloadLEEF}).Format(res, rec)
		require.NoError(t, err)
		l, err := siemformat.ParseLEEF(msgOf(t, line))
		require.NoError(t, err)
		assert.Equal(t, want, [2]string{c.Severity, l.Attributes["sev"]}, n.String())
	}
}
