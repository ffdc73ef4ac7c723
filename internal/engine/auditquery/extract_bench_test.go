package auditquery

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

// BenchmarkExtract measures reading the index's fields from archive lines
// the collector wrote (mixed Glassix, CTReplay and Sippy events).
func BenchmarkExtract(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	require.NoError(b, auditquerytest.WriteArchive(context.Background(), archive.WriterOptions{Path: path},
		auditquerytest.NewGenerator(3, time.Second), 3000, 100))
	data, err := os.ReadFile(path)
	require.NoError(b, err)
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	b.SetBytes(int64(len(data) / len(lines)))
	for i := 0; b.Loop(); i++ {
		if f := extract(lines[i%len(lines)], true); !f.ok {
			b.Fatal("not read")
		}
	}
}
