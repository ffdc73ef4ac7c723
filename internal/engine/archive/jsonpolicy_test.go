package archive

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/jsonmap"
	"github.com/otelcol-audit/otelcol-audit/internal/jsonpolicy"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/hostilejson"
)

// writeHostileArchive writes a good event, a line sealed by the writer
// whose body carries case c (as a forger who re-hashes, or an older writer,
// would leave it), and another good event. It returns the archive's path.
func writeHostileArchive(t *testing.T, c hostilejson.Case) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := OpenWriter(WriterOptions{Path: path})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, w.Write(ctx, EncodeLogs(glassix(1, 1))))
	require.NoError(t, w.Write(ctx, [][]byte{hostilejson.ArchiveBody(c)}))
	require.NoError(t, w.Write(ctx, EncodeLogs(glassix(2, 1))))
	require.NoError(t, w.Close())
	if c.Prefix != "" || c.Suffix != "" {
		lines := bytes.SplitAfter(readData(t, path), []byte("\n"))
		lines[1] = []byte(c.Prefix + strings.TrimSuffix(string(lines[1]), "\n") + c.Suffix + "\n")
		writeData(t, path, bytes.Join(lines, nil))
	}
	return path
}

// wantMalformed is what the reader's error says for each break of the rule.
var wantMalformed = map[hostilejson.Outcome]string{
	hostilejson.DuplicateKey: "not an archive line: duplicate key",
	hostilejson.InvalidUTF8:  "not an archive line: ",
	hostilejson.Limit:        "not an archive line: nesting deeper than 32 levels",
	hostilejson.Syntax:       "not an archive line",
}

// TestReaderJSONPolicy feeds the project's table of hostile JSON to the
// archive reader (Entries, Verify, DecodeEvent) and checks
// internal/jsonpolicy's rule for archive lines: a line that breaks it is
// malformed, and no value is read from it.
func TestReaderJSONPolicy(t *testing.T) {
	for _, c := range hostilejson.Cases {
		t.Run(c.Name, func(t *testing.T) {
			path := writeHostileArchive(t, c)
			a, err := Open(path)
			require.NoError(t, err)
			var hostile Entry
			for e, err := range a.Entries() {
				require.NoError(t, err)
				if e.Line == 2 {
					hostile = e
				}
			}
			require.Equal(t, 2, hostile.Line)
			ev, decodeErr := DecodeEvent(hostile.Raw)
			r, err := Verify(path, VerifyOptions{})
			require.NoError(t, err)
			if c.Want == hostilejson.OK {
				assert.Equal(t, StatusOK, hostile.Status, "%v", hostile.Err)
				assert.Empty(t, r.Problems)
				require.NoError(t, decodeErr)
				want := c.Value
				if want == "" {
					want = "v"
				}
				assert.Equal(t, want, ev.Source, "the exact name, not one differing in case")
				assert.Equal(t, want, ev.Attributes["audit.actor"])
				return
			}
			assert.Equal(t, StatusMalformed, hostile.Status)
			require.Error(t, hostile.Err)
			assert.Contains(t, hostile.Err.Error(), wantMalformed[c.Want])
			if c.Want == hostilejson.InvalidUTF8 {
				assert.Regexp(t, `invalid UTF-8|lone surrogate`, hostile.Err.Error())
			}
			require.NotEmpty(t, r.Problems)
			assert.Equal(t, KindMalformed, r.Problems[0].Kind)
			assert.Equal(t, 2, r.Problems[0].Line)
			require.Error(t, decodeErr, "DecodeEvent takes no value from a line that breaks the rule")
			assert.Empty(t, ev.Source)
		})
	}
}

// TestEncoderJSONPolicy: events read from the table's vendor-side
// outcomes (kept as is, or with U+FFFD) encode to lines that follow the
// rule and read back with the same values.
func TestEncoderJSONPolicy(t *testing.T) {
	for _, c := range hostilejson.Cases {
		if c.Want != hostilejson.OK && c.Want != hostilejson.InvalidUTF8 {
			continue // refused on the vendor side: never a record's fields
		}
		t.Run(c.Name, func(t *testing.T) {
			ld := plog.NewLogs()
			lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			v := pcommon.NewValueEmpty()
			require.NoError(t, jsonmap.Decode([]byte("{"+c.Members("audit.actor")+"}"), v, jsonmap.Limits{}))
			v.Map().MoveTo(lr.Attributes())
			body := EncodeLogs(ld)[0]
			line, _ := newSealer(nil).seal(nil, 1, [32]byte{}, body)
			require.NoError(t, jsonpolicy.Check(line, jsonpolicy.MaxDepth), "%s", line)
			ev, err := DecodeEvent(line)
			require.NoError(t, err)
			if c.Value != "" {
				assert.Equal(t, c.Value, ev.Attributes["audit.actor"])
			}
		})
	}
}

// TestEncoderNeverRepeatsAName builds records whose attributes repeat a
// name: OTLP data carries repeats (pdata keeps them), flattening makes
// names that collide with literal ones, and names that differ only in
// invalid bytes become one name once those are replaced. No line repeats
// a name; every value is kept, under flatten's collision suffix.
func TestEncoderNeverRepeatsAName(t *testing.T) {
	const otlp = `{"resourceLogs":[{"resource":{"attributes":[
		{"key":"r","value":{"stringValue":"1"}},{"key":"r","value":{"stringValue":"2"}}]},
	  "scopeLogs":[{"logRecords":[
		{"attributes":[{"key":"a","value":{"stringValue":"first"}},{"key":"a","value":{"stringValue":"second"}},
			{"key":"a_2","value":{"intValue":"3"}}]},
		{"attributes":[{"key":"a","value":{"stringValue":"first"}},{"key":"a","value":{"stringValue":"second"}},
			{"key":"a_2","value":{"intValue":"3"}},
			{"key":"n","value":{"kvlistValue":{"values":[{"key":"b","value":{"stringValue":"x"}}]}}},
			{"key":"n_b","value":{"stringValue":"y"}}]}
	  ]}]}]}`
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs([]byte(otlp))
	require.NoError(t, err)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	require.Equal(t, 3, lrs.At(0).Attributes().Len(), "pdata keeps the repeat")
	bad := lrs.AppendEmpty().Attributes()
	bad.PutStr("k\xff", "1")
	bad.PutStr("k\xfe", "2")
	bad.PutStr("k\uFFFD", "3")

	want := []map[string]any{
		{"a": "first", "a_2": "second", "a_2_2": int64(3)},
		{"a": "first", "a_2": "second", "a_2_2": int64(3), "n_b": "x", "n_b_2": "y"},
		{"k\uFFFD": "1", "k\uFFFD_2": "2", "k\uFFFD_3": "3"},
	}
	var e Encoder
	for round := range 2 { // the second time from the encoder's remembered order
		bodies := e.Encode(ld)
		require.Len(t, bodies, len(want))
		for i, body := range bodies {
			line, _ := newSealer(nil).seal(nil, 1, [32]byte{}, body)
			require.NoError(t, jsonpolicy.Check(line, jsonpolicy.MaxDepth), "round %d, record %d: %s", round, i, line)
			ev, err := DecodeEvent(line)
			require.NoError(t, err)
			assert.Equal(t, want[i], ev.Attributes, "round %d, record %d", round, i)
			assert.Equal(t, map[string]any{"r": "1", "r_2": "2"}, ev.Resource)
		}
	}
}
