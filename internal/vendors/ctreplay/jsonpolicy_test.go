package ctreplay

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/hostilejson"
)

// TestParseJSONPolicy feeds the project's table of hostile JSON to Parse,
// the path of CTReplay's log file and syslog lines (the auditlog
// processor), and checks internal/jsonpolicy's rule for vendor input: a
// repeated name, a limit or a syntax error is a *SyntaxError (the caller
// keeps the raw text, flagged); invalid UTF-8 is replaced and the event,
// otherwise read, flagged; a leading byte order mark is skipped.
func TestParseJSONPolicy(t *testing.T) {
	for _, c := range hostilejson.Cases {
		t.Run(c.Name, func(t *testing.T) {
			line := c.Prefix + `{"ts":"08/01/2021 - 12:44:30.479",` + c.Members(FieldAction) + `}` + c.Suffix
			attrs := pcommon.NewMap()
			ev, err := Parse([]byte(line), attrs, Options{})
			var syn *SyntaxError
			var fe *FieldError
			switch {
			case c.Want == hostilejson.OK || c.LeadingBOM():
				require.NoError(t, err)
				if c.Value != "" {
					assert.Equal(t, c.Value, ev.Action, "the exact name, not one differing in case")
				}
			case c.Want == hostilejson.InvalidUTF8:
				require.True(t, errors.As(err, &fe), "%v", err)
				require.Len(t, fe.Problems, 1)
				assert.Contains(t, fe.Problems[0], "replaced by U+FFFD")
				if c.Value != "" {
					assert.Equal(t, c.Value, ev.Action, "kept, with U+FFFD")
				}
				assert.NotZero(t, attrs.Len(), "the fields are kept")
			default:
				require.True(t, errors.As(err, &syn), "%v", err)
				assert.Zero(t, attrs.Len(), "no field is taken from an unreadable line")
				assert.Empty(t, ev.Action)
				if c.Want == hostilejson.DuplicateKey {
					assert.Contains(t, err.Error(), "duplicate key")
				}
			}
		})
	}
}
