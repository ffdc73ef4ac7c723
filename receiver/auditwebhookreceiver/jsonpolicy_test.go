package auditwebhookreceiver

import (
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/hostilejson"
)

// TestJSONPolicy feeds the project's table of hostile JSON to the webhook
// paths (the handler, jsonmap and the vendor parsers) and checks that they
// apply internal/jsonpolicy's rule for vendor input: a repeated name, a
// limit or a syntax error makes the event unreadable (flagged, raw text
// kept, neighbours parsed); invalid UTF-8 is replaced and the event,
// otherwise parsed, flagged; a leading byte order mark is skipped.
func TestJSONPolicy(t *testing.T) {
	sink := new(consumertest.LogsSink)
	s := startReceiver(t, nil, sink)
	paths := []struct {
		path, name string
		body       func(c hostilejson.Case) string
		good       string // the value of name in the good neighbour
	}{
		{"/ctreplay", "action", func(c hostilejson.Case) string {
			return c.Prefix + `{"ts":"08/01/2021 - 12:44:30.479",` + c.Members("action") + `}` + c.Suffix +
				"\n" + `{"ts":"08/01/2021 - 12:44:31.000","action":"GET USERS"}`
		}, "GET USERS"},
		{"/glassix", "message", func(c hostilejson.Case) string {
			log := `"dateTime":"2024-01-15T11:19:07.7935597Z","type":"T",`
			return c.Prefix + `{"key":"k","changes":[{"_event":"AUDIT_LOGS","log":{` + log + c.Members("message") + `}},` +
				`{"_event":"AUDIT_LOGS","log":{` + log + `"message":"good"}}]}` + c.Suffix
		}, "good"},
	}
	for _, p := range paths {
		for _, c := range hostilejson.Cases {
			t.Run(p.path+"/"+c.Name, func(t *testing.T) {
				sink.Reset()
				r := s.post(t, p.path, []byte(p.body(c)))
				require.Equal(t, http.StatusOK, r.status, r.raw)
				for _, ld := range sink.AllLogs() {
					_, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
					require.NoError(t, err, "what is forwarded survives OTLP's UTF-8 rule")
				}
				recs := records(t, sink, p.path[1:])
				flagged := func() []plog.LogRecord {
					var out []plog.LogRecord
					for _, lr := range recs {
						if _, ok := lr.Attributes().Get(auditrecord.AttrParseError); ok {
							out = append(out, lr)
						}
					}
					return out
				}
				switch {
				case c.Want == hostilejson.OK || c.LeadingBOM():
					assert.Equal(t, 2, r.body.Parsed, "%+v", r.body)
					assert.Zero(t, r.body.Flagged, "%+v", r.body)
					require.Len(t, recs, 2)
					if c.Value != "" {
						assert.Equal(t, c.Value, attr(t, recs[0].Attributes(), p.name), "the exact name, not one differing in case")
					}
				case c.Want == hostilejson.InvalidUTF8:
					assert.Equal(t, 1, r.body.Parsed, "%+v", r.body)
					assert.Equal(t, 1, r.body.Flagged, "%+v", r.body)
					require.Len(t, flagged(), 1)
					lr := flagged()[0]
					assert.Contains(t, attr(t, lr.Attributes(), auditrecord.AttrParseError), "replaced by U+FFFD")
					if c.Value != "" {
						assert.Equal(t, c.Value, attr(t, lr.Attributes(), p.name), "kept, with U+FFFD")
					}
					for k, v := range lr.Attributes().All() {
						assert.True(t, utf8.ValidString(k) && utf8.ValidString(v.AsString()), "%q", k)
					}
				default:
					require.NotEmpty(t, r.body.Errors)
					assert.GreaterOrEqual(t, r.body.Flagged, 1, "%+v", r.body)
					want := map[hostilejson.Outcome]string{hostilejson.DuplicateKey: "duplicate key", hostilejson.Limit: "nesting deeper than 32 levels"}[c.Want]
					assert.Contains(t, r.body.Errors[0].Error, want)
					if c.Want != hostilejson.Syntax || p.path == "/ctreplay" {
						assert.GreaterOrEqual(t, r.body.Parsed, 1, "the neighbour is kept: %+v", r.body)
					}
					for _, lr := range recs {
						if _, bad := lr.Attributes().Get(auditrecord.AttrParseError); bad {
							assert.Equal(t, "", lr.EventName(), "an unreadable event has no fields")
							continue
						}
						v, _ := lr.Attributes().Get(p.name)
						if v.AsString() != p.good {
							// Only the trailing-garbage event itself is whole.
							assert.Equal(t, hostilejson.Syntax, c.Want)
							assert.Equal(t, "v", v.AsString())
						}
					}
					require.NotEmpty(t, flagged())
					assert.NotEmpty(t, flagged()[0].Body().Str(), "the raw text is kept")
				}
			})
		}
	}
}
