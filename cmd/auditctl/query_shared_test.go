package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/pgindex"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
)

// query --db answers from the index two collectors share, each row naming
// its collector, the same rows as each archive read alone.
func TestQuerySharedIndex(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	dirs := map[string]string{"east": mixedArchive(t, 300), "west": mixedArchive(t, 200)}
	want := 0
	for name, dir := range dirs {
		db, err := pgindex.New(pgindex.Options{DSN: pg.DSN()})
		require.NoError(t, err)
		ix, err := auditquery.OpenDisk(ctx, filepath.Join(dir, "audit.jsonl"), db, auditquery.DiskOptions{Collector: name})
		require.NoError(t, err)
		require.NoError(t, ix.Refresh(ctx))
		want += len(engine(t, dir, nil))
		require.NoError(t, ix.Close())
	}

	code, out, errOut := runCLI("query", "--db", pg.DSN(), "--limit", "0", "--format", "csv")
	require.Equal(t, exitOK, code, errOut)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, want+1)
	fileCol := -1
	for i, h := range recs[0] {
		if h == "file" {
			fileCol = i
		}
	}
	require.GreaterOrEqual(t, fileCol, 0)
	per := map[string]int{}
	for _, r := range recs[1:] {
		per[strings.SplitN(r[fileCol], "/", 2)[0]]++
	}
	assert.Equal(t, map[string]int{"east": len(engine(t, dirs["east"], nil)), "west": len(engine(t, dirs["west"], nil))}, per)

	code, out, errOut = runCLI("query", "--db", pg.DSN(), "--limit", "5", "--format", "json", "--source", "sippy")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5)
	for _, l := range lines {
		var r auditquery.Row
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		assert.Equal(t, "sippy", r.Source)
		assert.Contains(t, []string{"east", "west"}, r.Collector)
		assert.Equal(t, filepath.Join(dirs[r.Collector], "audit.jsonl"), r.Archive)
	}

	code, _, errOut = runCLI("query", "--db", pg.DSN(), dirs["east"])
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "give no PATH")
	code, _, errOut = runCLI("query", "--db", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "the shared index")
}
