package selfaudit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Records wait for a subscriber, in order; a full buffer refuses new ones
// without blocking; one subscriber per stream, and another after it left.
func TestHandOff(t *testing.T) {
	const stream = "test-handoff"
	for i := range BufferSize {
		require.True(t, Publish(stream, Record{Event: "e", Attributes: map[string]any{"i": int64(i)}}))
	}
	assert.False(t, Publish(stream, Record{Event: "overflow"}), "a full buffer refuses, never blocks")
	assert.False(t, Subscribed(stream))

	records, cancel, err := Subscribe(stream)
	require.NoError(t, err)
	assert.True(t, Subscribed(stream))
	_, _, err = Subscribe(stream)
	assert.ErrorContains(t, err, `stream "test-handoff" already has a receiver`)
	for i := range BufferSize {
		r := <-records
		require.Equal(t, int64(i), r.Attributes["i"])
	}
	cancel()
	cancel() // harmless
	assert.False(t, Subscribed(stream))
	_, cancel, err = Subscribe(stream)
	require.NoError(t, err)
	cancel()
}

func TestAppendToFollowsTheRecordContract(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 5, time.UTC)
	ld := plog.NewLogs()
	AppendTo(ld, []Record{{Time: at, Event: "archive.checkpoint", Severity: plog.SeverityNumberInfo, SeverityText: "INFO", Body: "ckpt1.x.y",
		Attributes: map[string]any{"s": "v", "n": int64(-1), "u": uint64(7), "i": 3, "b": true, "other": 1.5}}})
	rl := ld.ResourceLogs().At(0)
	assert.Equal(t, map[string]any{"audit.source": Source, "service.name": Source}, rl.Resource().Attributes().AsRaw())
	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, at, lr.Timestamp().AsTime())
	assert.Equal(t, at, lr.ObservedTimestamp().AsTime())
	assert.Equal(t, "archive.checkpoint", lr.EventName())
	assert.Equal(t, "ckpt1.x.y", lr.Body().Str())
	attrs := lr.Attributes().AsRaw()
	id, _ := attrs["audit.event_id"].(string)
	assert.Regexp(t, `^otelcol-audit:[0-9a-f]{32}$`, id, "an id of its own, for the journal")
	delete(attrs, "audit.event_id")
	assert.Equal(t, map[string]any{"s": "v", "n": int64(-1), "u": int64(7), "i": int64(3), "b": true, "other": "1.5"}, attrs)

	// Every record gets a different id; one the producer set is kept.
	AppendTo(ld, []Record{{Time: at}, {Time: at, Attributes: map[string]any{"audit.event_id": "mine"}}})
	lrs := ld.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords()
	other, _ := lrs.At(0).Attributes().Get("audit.event_id")
	assert.NotEqual(t, id, other.Str())
	mine, _ := lrs.At(1).Attributes().Get("audit.event_id")
	assert.Equal(t, "mine", mine.Str())
}
