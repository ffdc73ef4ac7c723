package auditsyslogreceiver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors/ctreplay"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/frame"
)

// The same event, posted to the auditwebhook receiver (whose CTReplay path
// is ctreplay.Parser) or sent over syslog, becomes the same record: same
// attributes in the same order, EventName, Body, Timestamp and flags. So
// the auditlog processor gives it the same audit.event_id either way.
func TestSameRecordAsTheWebhookPath(t *testing.T) {
	events := []string{
		seedEvent,
		event(3, `"<13>Dec  6 12:00:00 h a: {\"x\":\"]\"}"`),
		event(4, `{"nested":[1,2,{"a":null}]}`),
		`{"ts":"yesterday","action":"GET USERS","userID":"u"}`,
		`{"userID":"u","ipAddress":"10.0.0.1"}`,
		"{\"ts\":\"08/01/2021 - 12:44:30\",\"action\":\"GET\xff Profile\"}", // invalid UTF-8: replaced, flagged
	}
	r, err := newReceiver(createDefaultConfig().(*Config), receiverSettings(t), consumertest.NewNop())
	require.NoError(t, err)
	for _, ev := range events {
		web := plog.NewLogRecordSlice()
		ctreplay.Parser{Options: r.opts}.Parse([]byte(ev), vendors.Options{ForwardUnparsed: true}, web)
		require.Equal(t, 1, web.Len())

		b := r.newBatch()
		r.add(b, frame.Message{Raw: []byte(bsd(ev))}, 0)
		require.Equal(t, 1, b.lrs.Len())

		want, got := web.At(0), b.lrs.At(0)
		// The line of the event within a JSON-lines request body: a syslog
		// message is one event. (audit.* attributes are not part of the
		// event id.)
		want.Attributes().Remove("audit.parse_line")
		// Where in the body the webhook path found invalid UTF-8 names the
		// line of a JSON-lines body; a syslog message is one line.
		if v, ok := want.Attributes().Get("audit.parse_error"); ok {
			v.SetStr(strings.ReplaceAll(v.Str(), "line 1, column", "column"))
		}
		assert.Equal(t, want.Attributes().AsRaw(), got.Attributes().AsRaw(), ev)
		assert.Equal(t, keys(want), keys(got), "attribute order: %s", ev)
		assert.Equal(t, want.EventName(), got.EventName(), ev)
		assert.Equal(t, want.Body().AsString(), got.Body().AsString(), ev)
		assert.Equal(t, want.Timestamp(), got.Timestamp(), ev)
	}
}

func keys(lr plog.LogRecord) []string {
	var out []string
	for k := range lr.Attributes().All() {
		out = append(out, k)
	}
	return out
}
