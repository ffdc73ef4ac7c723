package auditquery

import (
	"context"
	"math"
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
	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

// A line the writer in this process hands over carries what its encoder
// knew (archive.IndexHint): the index's fields from it are exactly those a
// scan of the line finds, for every vendor's events and for hostile ones;
// where the line would read back otherwise (text that is not valid UTF-8,
// an attribute the index reads that is not a string, a reduced event),
// there is no hint and the line is scanned.
func TestHintFieldsMatchTheLine(t *testing.T) {
	ld := auditquerytest.NewGenerator(21, time.Second).Next(600)
	auditquerytest.Unparsed(20, auditquerytest.Start).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())

	// Records by hand, in a resource without audit.source (the record's
	// own names it), each: does it get a hint?
	rl := ld.ResourceLogs().AppendEmpty()
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	hostile := []struct {
		name   string
		hinted bool
		fill   func(plog.LogRecord)
	}{
		{"escapes in every text", true, func(r plog.LogRecord) {
			r.Body().SetStr("quote \" backslash \\ newline \n tab \t nul \x00 line sep \u2028 emoji \U0001F600")
			r.SetEventName("Login \"x\"\n")
			r.Attributes().PutStr(auditrecord.AttrActor, "a\\b\"c\u2029")
			r.Attributes().PutStr("resource", "</script>\x01")
		}},
		{"a map as the body", true, func(r plog.LogRecord) {
			r.Body().SetEmptyMap().PutStr("k", "v")
		}},
		{"a nested audit.actor beside the flat one", true, func(r plog.LogRecord) {
			r.Attributes().PutStr(auditrecord.AttrActor, "flat")
			r.Attributes().PutEmptyMap("audit").PutStr("actor", "nested")
			r.Attributes().PutEmptyMap("resource").PutStr("id", "nested resource")
		}},
		{"no times, severity out of range", true, func(r plog.LogRecord) {
			r.SetSeverityNumber(plog.SeverityNumber(300))
		}},
		{"observed time only", true, func(r plog.LogRecord) {
			r.SetObservedTimestamp(1)
		}},
		{"the largest times", true, func(r plog.LogRecord) {
			r.SetTimestamp(math.MaxInt64)
			r.SetObservedTimestamp(math.MaxUint64)
			r.SetSeverityNumber(plog.SeverityNumber(-3))
		}},
		{"a name with a bad byte that becomes audit.target's", true, func(r plog.LogRecord) {
			r.Attributes().PutStr("audit.target", "good")
			r.Attributes().PutStr("audit.target\xff", "renamed")
		}},
		{"actor not valid UTF-8", false, func(r plog.LogRecord) {
			r.Attributes().PutStr(auditrecord.AttrActor, "bad \xff byte")
		}},
		{"actor a number", false, func(r plog.LogRecord) {
			r.Attributes().PutInt(auditrecord.AttrActor, 42)
		}},
		{"resource empty", false, func(r plog.LogRecord) {
			r.Attributes().PutEmpty("resource")
		}},
		{"parse error a list (flattened: audit.parse_error.0)", true, func(r plog.LogRecord) {
			r.Attributes().PutEmptySlice(auditrecord.AttrParseError).AppendEmpty().SetStr("x")
		}},
		{"event name not valid UTF-8", false, func(r plog.LogRecord) {
			r.SetEventName("Login\xc3")
		}},
		{"message not valid UTF-8", false, func(r plog.LogRecord) {
			r.Body().SetStr("\xed\xa0\x80 surrogate")
		}},
		{"too large for a line: reduced", false, func(r plog.LogRecord) {
			r.Body().SetStr(strings.Repeat("m", archive.MaxLineSize))
		}},
	}
	for _, h := range hostile {
		r := lrs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(auditquerytest.Start))
		r.Attributes().PutStr(auditrecord.AttrSource, "hand-made")
		r.Attributes().PutStr("case", h.name)
		h.fill(r)
	}

	path := filepath.Join(t.TempDir(), "audit.jsonl")
	tap := archive.SubscribeTap(path, archive.TapOptions{MaxBytes: 64 << 20})
	defer tap.Close()
	w, err := archive.OpenWriter(archive.WriterOptions{Path: path})
	require.NoError(t, err)
	var enc archive.Encoder
	require.NoError(t, w.WriteHinted(context.Background(), enc.Encode(ld), enc.Hints()))
	require.NoError(t, w.Close())

	info, err := os.Stat(path)
	require.NoError(t, err)
	dev, ino := fileID(info)
	run, _ := tap.Take(dev, ino, 0, info.Size(), true)
	n, hinted := 0, 0
	for e := range run.Entries("audit.jsonl", 0, nil) {
		n++
		require.Equal(t, archive.StatusOK, e.Status, "line %d", e.Line)
		caseName := ""
		if e.Hint == nil || e.Hint.Source == "hand-made" {
			ev, err := e.Decode()
			require.NoError(t, err)
			caseName, _ = ev.Attributes["case"].(string)
			if _, reduced := ev.Attributes[archive.AttrTruncated]; reduced {
				caseName = "too large for a line: reduced"
			}
		}
		for _, h := range hostile {
			if h.name == caseName {
				assert.Equal(t, h.hinted, e.Hint != nil, "%s: hinted", h.name)
			}
		}
		if e.Hint == nil {
			assert.NotEmpty(t, caseName, "line %d: only the hostile cases go without a hint", e.Line)
			continue
		}
		hinted++
		assert.Equal(t, extract(e.Raw, true), hintFields(e.Hint), "line %d (%s)", e.Line, caseName)
	}
	assert.Equal(t, ld.LogRecordCount(), n)
	assert.Equal(t, 600+20+8, hinted)
}
