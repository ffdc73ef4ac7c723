package auditquery

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/hostilejson"
)

// TestIndexJSONPolicy feeds the project's table of hostile JSON, as a line
// the writer sealed between two good events, to the index the viewer and
// `auditctl query` share, and checks internal/jsonpolicy's rule for archive
// lines: a line that breaks it is shown malformed, with its raw text and no
// column taken from it; a line that follows it shows the values of the
// exact names.
func TestIndexJSONPolicy(t *testing.T) {
	for _, c := range hostilejson.Cases {
		t.Run(c.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			w, err := archive.OpenWriter(archive.WriterOptions{Path: path})
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, w.Write(ctx, archive.EncodeLogs(archivetest.GlassixLogs(1, 1))))
			require.NoError(t, w.Write(ctx, [][]byte{hostilejson.ArchiveBody(c)}))
			require.NoError(t, w.Write(ctx, archive.EncodeLogs(archivetest.GlassixLogs(2, 1))))
			require.NoError(t, w.Close())
			lines := readLines(t, path)
			require.Len(t, lines, 3)
			lines[1] = c.Prefix + lines[1] + c.Suffix
			require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

			_, sn := openIndex(t, path)
			q, _ := mustQuery(t, "")
			var row *Row
			for _, r := range all(sn, q) {
				if r.Line == 2 {
					row = &r
				}
			}
			require.NotNil(t, row)
			if c.Want == hostilejson.OK {
				want := c.Value
				if want == "" {
					want = "v"
				}
				assert.Equal(t, "ok", row.Integrity, row.IntegrityError)
				assert.Equal(t, "event", row.Kind)
				assert.Equal(t, want, row.Source, "the exact name, not one differing in case")
				assert.Equal(t, want, row.Actor)
				return
			}
			assert.Equal(t, "malformed", row.Integrity)
			assert.Contains(t, row.IntegrityError, "not an archive line")
			assert.Equal(t, "broken", row.Kind)
			assert.NotEmpty(t, row.Message)
			assert.True(t, strings.HasPrefix(lines[1], row.Message), "shown as it is (cut to MaxFieldBytes)")
			assert.Empty(t, row.Source, "no value taken from a line that breaks the rule")
			assert.Empty(t, row.Actor)
			assert.Empty(t, row.Action)
		})
	}
}
