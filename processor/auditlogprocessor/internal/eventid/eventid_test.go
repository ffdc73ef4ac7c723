package eventid

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func ctreplayRecord(t *testing.T) plog.LogRecord {
	t.Helper()
	r := plog.NewLogRecord()
	r.SetEventName("GET ALL Profile")
	r.Body().SetStr("GET ALL Profile")
	r.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC)))
	a := r.Attributes()
	a.PutStr("ts", "08/01/2021 - 12:44:30.479")
	a.PutStr("userID", "admin")
	a.PutStr("action", "GET ALL Profile")
	return r
}

func TestGlassixUsesLogID(t *testing.T) {
	r := plog.NewLogRecord()
	r.Attributes().PutStr("id", "cb20ff99-25bb-400c-a8cd-9052fc5f6d3f")
	assert.Equal(t, "cb20ff99-25bb-400c-a8cd-9052fc5f6d3f", Of("glassix", r, r.Attributes()))
	assert.True(t, strings.HasPrefix(Of("sippy", r, r.Attributes()), HashPrefix), "only Glassix's id field is an event id")

	r.Attributes().PutStr("id", "")
	assert.True(t, strings.HasPrefix(Of("glassix", r, r.Attributes()), HashPrefix), "an empty id falls back to the hash")
}

func TestExistingEventIDWins(t *testing.T) {
	r := ctreplayRecord(t)
	r.Attributes().PutStr("audit.event_id", "given")
	assert.Equal(t, "given", Of("ctreplay", r, r.Attributes()))
}

func TestHashIsStableAndContentSensitive(t *testing.T) {
	base := ctreplayRecord(t)
	id := Of("ctreplay", base, base.Attributes())
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, id)
	assert.Equal(t, id, Of("ctreplay", ctreplayRecord(t), ctreplayRecord(t).Attributes()), "same content, same id")

	same := ctreplayRecord(t)
	same.Attributes().PutStr("audit.actor", "admin")
	same.Attributes().PutStr("audit.parse_error", "x")
	same.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	same.SetSeverityNumber(plog.SeverityNumberWarn)
	assert.Equal(t, id, Of("ctreplay", same, same.Attributes()), "audit.* fields, observed time and severity are not content")

	changes := map[string]func(r plog.LogRecord){
		"event name":       func(r plog.LogRecord) { r.SetEventName("GET Profile") },
		"timestamp":        func(r plog.LogRecord) { r.SetTimestamp(r.Timestamp() + 1) },
		"body":             func(r plog.LogRecord) { r.Body().SetStr("x") },
		"attribute value":  func(r plog.LogRecord) { r.Attributes().PutStr("userID", "root") },
		"attribute type":   func(r plog.LogRecord) { r.Attributes().PutInt("userID", 0) },
		"added attribute":  func(r plog.LogRecord) { r.Attributes().PutStr("params", "") },
		"nested attribute": func(r plog.LogRecord) { r.Attributes().PutEmptyMap("m").PutStr("k", "v") },
		"attribute order": func(r plog.LogRecord) {
			a := r.Attributes()
			a.Remove("ts")
			a.PutStr("ts", "08/01/2021 - 12:44:30.479")
		},
		"key/value boundary": func(r plog.LogRecord) {
			a := r.Attributes()
			a.Remove("userID")
			a.PutStr("userIDa", "dmin")
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			r := ctreplayRecord(t)
			change(r)
			assert.NotEqual(t, id, Of("ctreplay", r, r.Attributes()))
		})
	}
	assert.NotEqual(t, id, Of("sippy", base, base.Attributes()), "the source is content")
}

func TestHashCoversEveryValueType(t *testing.T) {
	r := plog.NewLogRecord()
	a := r.Attributes()
	require.NoError(t, a.FromRaw(map[string]any{"b": true, "d": 1.5, "y": []byte{1, 2}, "s": []any{"x", int64(1)}, "n": nil}))
	id := Hash("sippy", r, a)
	for _, change := range []func(){
		func() { a.PutBool("b", false) },
		func() { a.PutDouble("d", 2.5) },
		func() { a.PutEmptyBytes("y").FromRaw([]byte{1, 3}) },
		func() { v, _ := a.Get("s"); v.Slice().AppendEmpty() },
		func() { a.PutStr("n", "") },
	} {
		change()
		next := Hash("sippy", r, a)
		assert.NotEqual(t, id, next)
		id = next
	}
}

// goldenRecords are records whose ids were computed before the encoding
// was hashed in pieces: one small, one with values larger than the piece.
func goldenRecords() []plog.LogRecord {
	small := plog.NewLogRecord()
	small.SetEventName("GET ALL Profile")
	small.Body().SetStr("GET ALL Profile")
	small.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2021, 1, 8, 12, 44, 30, 479e6, time.UTC)))
	small.Attributes().PutStr("userID", "admin")
	small.Attributes().PutEmptyMap("m").PutInt("k", 7)

	large := plog.NewLogRecord()
	large.SetEventName("large")
	large.Body().SetStr(strings.Repeat("b", 100_000))
	large.Attributes().PutStr("s", strings.Repeat("s", 40_000))
	large.Attributes().PutEmptyBytes("y").FromRaw([]byte(strings.Repeat("y", 50_000)))
	for i := range 3000 {
		large.Attributes().PutEmptySlice("list").AppendEmpty().SetInt(int64(i))
	}
	sl := large.Attributes().PutEmptySlice("many")
	for i := range 5000 {
		sl.AppendEmpty().SetStr(strings.Repeat("x", i%20))
	}
	return []plog.LogRecord{small, large}
}

// Ids are remembered in persistent dedup windows across upgrades: the same
// record must keep its id. These were computed by the version that hashed
// the whole encoding at once.
func TestIDsDoNotChangeAcrossVersions(t *testing.T) {
	want := []string{
		"sha256:973c23b9da1b1a6d7a1b2d59ea9635dd79ebec781df4c41c07ae03a715256102",
		"sha256:f431eb9e07d189109cc7131c40217e6729bcc82a0886c101723d33a2a5755c55",
	}
	for i, r := range goldenRecords() {
		assert.Equal(t, want[i], Hash("ctreplay", r, r.Attributes()), r.EventName())
	}
}

// A near-limit value (an unreadable 8 MiB body) is hashed where it lies,
// not copied into the encoding buffer.
func TestHashingALargeValueDoesNotCopyIt(t *testing.T) {
	r := plog.NewLogRecord()
	r.Body().SetStr(strings.Repeat("x", 8<<20))
	Hash("ctreplay", r, r.Attributes()) // warm the pool
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	Hash("ctreplay", r, r.Attributes())
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated to hash an 8 MiB body")
}
