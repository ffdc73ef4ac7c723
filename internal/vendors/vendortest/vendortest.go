// Package vendortest checks the invariants every vendor parser keeps, for
// the parsers' tests and fuzz tests.
package vendortest // import "github.com/otelcol-audit/otelcol-audit/internal/vendors/vendortest"

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/jsonmap"
	"github.com/otelcol-audit/otelcol-audit/internal/vendors"
)

// CheckAccounting verifies that res accounts for out: clean and flagged
// counts match the records, nothing unparseable is forwarded when
// forwarding is off and nothing is dropped when it is on, every record has
// the receipt time, and every string is exportable UTF-8.
func CheckAccounting(t *testing.T, forward bool, observed pcommon.Timestamp, out plog.LogRecordSlice, res vendors.Result) {
	t.Helper()
	require.Equal(t, out.Len(), res.Parsed+res.Flagged, "every record is parsed or flagged")
	if forward {
		require.Zero(t, res.Dropped, "nothing dropped while forwarding")
	} else {
		require.Equal(t, res.Unreadable, res.Dropped, "unreadable events dropped when not forwarding")
	}
	require.LessOrEqual(t, res.Unreadable, res.Flagged+res.Dropped)
	require.GreaterOrEqual(t, res.ProblemCount, res.Flagged+res.Dropped, "every problem is reported")
	require.Len(t, res.Problems, min(res.ProblemCount, vendors.MaxProblems))
	flagged := 0
	for i := 0; i < out.Len(); i++ {
		lr := out.At(i)
		require.Equal(t, observed, lr.ObservedTimestamp())
		require.True(t, utf8.ValidString(lr.Body().AsString()), "body is valid UTF-8")
		require.True(t, utf8.ValidString(lr.EventName()))
		if _, ok := lr.Attributes().Get(auditrecord.AttrParseError); ok {
			flagged++
		}
	}
	require.Equal(t, res.Flagged, flagged, "flagged records carry audit.parse_error")
}

// CountEvents returns how many events jsonmap.Walk finds in body.
func CountEvents(body []byte) int {
	n := 0
	jsonmap.Walk(body, jsonmap.Limits{}, func(ev *jsonmap.Event) {
		if ev.Ordinal > 0 {
			n++
		}
	})
	return n
}

// Attr returns attribute key of m as a string, failing the test when it is
// absent.
func Attr(t *testing.T, m pcommon.Map, key string) string {
	t.Helper()
	v, ok := m.Get(key)
	require.True(t, ok, "attribute %q missing", key)
	return v.AsString()
}

// ManyMembers returns n JSON object members ("k0":0,"k1":1,...) without
// the braces, for bodies over the member bound.
func ManyMembers(n int) string {
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return strings.Join(members, ",")
}
