package ctreplay

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzParse checks the parser's promises on any line: a line is either
// refused whole (a *SyntaxError, the attributes untouched, and only for text
// encoding/json also refuses or for jsonmap's documented refusals) or
// decoded whole, with EventName, Body and Timestamp following the record
// contract and every missing or unreadable field named; every string is
// exportable UTF-8.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		seedLine, seedTruncated, "", "\xef\xbb\xbf" + seedLine + "\r\n",
		`{"ts":"31/02/2021 - 12:00:00","action":"GET USERS"}`,
		`{"ts":1610109870,"params":{"x":[1,2]}}`,
		`{"ts":"2021-01-08T12:44:30.479+02:00","action":"X","params":"id=1"}`,
		`{"ts":"8/1/2021 9:04:05,123456789","action":"","params":"p"}`,
		`{"userID":"admin","action":"GET USERS","userID":"nobody"}`,
		"{\"action\":\"\xff\"}", `[{"ts":"x"}]`, `"just a string"`, `{}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		attrs := pcommon.NewMap()
		attrs.PutStr("log.file.name", "ctreplay.log")
		ev, err := Parse(line, attrs, Options{})

		var syn *SyntaxError
		if errors.As(err, &syn) {
			require.Equal(t, Event{}, ev)
			require.Equal(t, 1, attrs.Len(), "attributes untouched by a refused line")
			if json.Valid(bytes.TrimPrefix(line, bom)) && !strings.Contains(syn.Msg, "not an object") {
				// Valid JSON objects are refused only for a bound or a
				// repeated key.
				require.Regexp(t, `deeper than|more than|longer than|duplicate key`, syn.Msg)
			}
			return
		}
		require.True(t, json.Valid(bytes.TrimPrefix(line, bom)), "invalid JSON accepted: %q", line)

		r := plog.NewLogRecord()
		require.Equal(t, err == nil, toRecord(line, r, Options{}) == nil, "toRecord agrees with Parse")
		require.Equal(t, ev.Action, r.EventName())
		require.Equal(t, ev.Body(), r.Body().Str())
		require.True(t, utf8.ValidString(r.Body().Str()), "body is valid UTF-8")
		require.Equal(t, ev.Time.IsZero(), r.Timestamp() == 0)
		for k, v := range r.Attributes().All() {
			require.True(t, utf8.ValidString(k))
			require.True(t, utf8.ValidString(v.AsString()))
		}

		if err == nil {
			require.NotEmpty(t, ev.Action, "a clean event has an action")
			require.False(t, ev.Time.IsZero(), "a clean event has its time")
			return
		}
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "error is neither SyntaxError nor FieldError: %v", err)
		require.NotEmpty(t, fe.Problems)
		for _, p := range fe.Problems {
			require.True(t, strings.HasPrefix(p, FieldTS+": ") || strings.HasPrefix(p, FieldAction+": ") ||
				strings.HasSuffix(p, "replaced by U+FFFD") || strings.Contains(p, "replaced by U+FFFD ("),
				"problem names its field, or says where text was replaced: %q", p)
		}
		require.Subset(t, fe.Problems, CheckRequired(r.Attributes()))
	})
}
