package severity

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestRoundTrip(t *testing.T) {
	for l := Emerg; l <= Debug; l++ {
		assert.Equal(t, l, FromOTel(l.OTel()), l.String())
		got, err := Parse(l.String())
		require.NoError(t, err)
		assert.Equal(t, l, got)
	}
}

func TestFromOTelRanges(t *testing.T) {
	want := map[plog.SeverityNumber]Level{
		0: Info, 1: Debug, 8: Debug, 9: Info, 10: Notice, 12: Notice, 13: Warning, 16: Warning,
		17: Err, 20: Err, 21: Crit, 22: Crit, 23: Alert, 24: Emerg,
	}
	for n, l := range want {
		assert.Equal(t, l, FromOTel(n), "severity number %d", n)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Level{"WARN": Warning, "error": Err, " Info ": Info, "silly": Debug, "3": Err, "fatal": Crit} {
		got, err := Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := Parse("loud")
	assert.ErrorContains(t, err, `unknown severity "loud"`)
}

func TestSet(t *testing.T) {
	r := plog.NewLogRecord()
	Set(r, Notice)
	assert.Equal(t, plog.SeverityNumberInfo2, r.SeverityNumber())
	assert.Equal(t, "notice", r.SeverityText())
}
