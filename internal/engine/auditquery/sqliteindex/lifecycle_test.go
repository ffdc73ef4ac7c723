package sqliteindex_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
)

// A restarted index reads nothing it read before: the files' states are
// in the database. New lines written meanwhile are all it reads.
func TestRestartReadsOnlyWhatIsNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	opts := archive.WriterOptions{Path: path, MaxSize: 96 << 10, Compress: true}
	p, err := auditquerytest.NewPipeline(opts)
	require.NoError(t, err)
	g := auditquerytest.NewGenerator(5, time.Second)
	ctx := context.Background()
	require.NoError(t, p.Write(ctx, g.Next(1200)))

	indexPath := filepath.Join(t.TempDir(), "index")
	first := openDisk(t, path, indexPath, nil)
	assert.Equal(t, 1200, first.Stats().LinesRead)
	require.NoError(t, first.Close())

	again := openDisk(t, path, indexPath, nil)
	assert.Equal(t, 0, again.Stats().LinesRead, "nothing read again after a restart")
	assert.Equal(t, 1200, again.Stats().Lines)
	assertParityOf(t, memory(t, path, nil), again, quickQueries)
	require.NoError(t, again.Close())

	// Written while the index was closed: rotated (gzipped) and new lines.
	require.NoError(t, p.Write(ctx, g.Next(700)))
	require.NoError(t, p.Close())
	third := openDisk(t, path, indexPath, nil)
	assert.Equal(t, 700, third.Stats().LinesRead, "only the new lines")
	assertParityOf(t, memory(t, path, nil), third, quickQueries)
}

// The index is a cache: deleted, or damaged anywhere, it is built again
// from the archive, and answers as before.
func TestDamagedOrDeletedIndexIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	path := genArchive(t, dir, 1200, 96<<10, true)
	mem := memory(t, path, nil)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, indexPath string)
	}{
		{"deleted", func(t *testing.T, p string) { require.NoError(t, os.Remove(p)) }},
		{"header overwritten", func(t *testing.T, p string) { overwrite(t, p, 0, 100) }},
		{"pages overwritten", func(t *testing.T, p string) {
			info, err := os.Stat(p)
			require.NoError(t, err)
			overwrite(t, p, info.Size()/3, int(info.Size()/3))
		}},
		{"truncated", func(t *testing.T, p string) {
			info, err := os.Stat(p)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(p, info.Size()/2))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			indexPath := filepath.Join(t.TempDir(), "index")
			ix := openDisk(t, path, indexPath, nil)
			require.NoError(t, ix.Close())
			tc.damage(t, indexPath)

			ctx := context.Background()
			ix, err := auditquery.OpenDisk(ctx, path, newDB(indexPath), auditquery.DiskOptions{})
			require.NoError(t, err, "a damaged index is no reason not to open")
			defer ix.Close()
			// A query may be the first to meet the damage: it says so and
			// the next refresh rebuilds.
			for attempt := 0; ; attempt++ {
				require.Less(t, attempt, 3, "still damaged")
				if err := ix.Refresh(ctx); err != nil {
					t.Logf("refresh: %v", err)
					continue
				}
				if errs := probe(ctx, ix); errs == nil {
					break
				} else {
					t.Logf("query: %v", errs)
				}
			}
			assert.Equal(t, mem.Stats().Lines, ix.Stats().LinesRead, "rebuilt: every line read again")
			assertParityOf(t, mem, ix, quickQueries)
		})
	}
}

// probe runs queries that touch every table and index.
func probe(ctx context.Context, ix *auditquery.DiskIndex) error {
	for _, q := range []auditquery.Query{{}, {Text: "recording"}, {Actions: []string{"AUTH_FAIL"}}, {Resource: "accounts"}} {
		if _, err := ix.Search(ctx, q, auditquery.PageRequest{Limit: 100000, Page: 1}); err != nil {
			return err
		}
		if _, err := ix.Count(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func overwrite(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	_, err = f.WriteAt(junk, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// While the writer appends, rotates, gzips and (with retention) removes
// files, the index follows: no line is ever seen twice or marked damaged,
// a restart in the middle reads only what is new, and in the end it
// answers as the in-memory engine built from nothing.
func TestFollowsALiveArchive(t *testing.T) {
	t.Run("keep every file", func(t *testing.T) { testFollow(t, 0) })
	t.Run("retention removes old files meanwhile", func(t *testing.T) { testFollow(t, 4) })
}

func testFollow(t *testing.T, maxBackups int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path, MaxSize: 24 << 10, Compress: true, MaxBackups: maxBackups})
	require.NoError(t, err)
	g := auditquerytest.NewGenerator(9, time.Second)
	ctx := context.Background()
	require.NoError(t, p.Write(ctx, g.Next(10)))
	indexPath := filepath.Join(t.TempDir(), "index")
	ix := openDisk(t, path, indexPath, nil)

	done := make(chan error, 1)
	go func() {
		for range 30 {
			if err := p.Write(ctx, g.Next(20)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	seen, restarts := 0, 0
	for running := true; running; {
		select {
		case err := <-done:
			require.NoError(t, err)
			running = false
		default:
		}
		require.NoError(t, ix.Refresh(ctx))
		pg, err := ix.Search(ctx, auditquery.Query{}, auditquery.PageRequest{Limit: 100000, Page: 1})
		require.NoError(t, err)
		assert.Zero(t, pg.Archive.Problems, "no sound line is marked")
		seqs := map[uint64]bool{}
		for _, r := range pg.Rows {
			require.False(t, seqs[r.Seq], "seq %d twice", r.Seq)
			seqs[r.Seq] = true
		}
		assert.Equal(t, pg.Archive.Lines, len(pg.Rows))
		if maxBackups == 0 {
			assert.GreaterOrEqual(t, len(pg.Rows), seen, "the archive only grows")
			seen = len(pg.Rows)
		}
		if restarts == 0 && len(pg.Rows) > 250 {
			// A restart while the writer goes on.
			require.NoError(t, ix.Close())
			ix = openDisk(t, path, indexPath, nil)
			restarts++
		}
	}
	require.NoError(t, p.Close())
	require.NoError(t, ix.Refresh(ctx))
	mem := memory(t, path, nil)
	assert.Greater(t, mem.Stats().Files, 3, "rotated meanwhile")
	if maxBackups == 0 {
		assert.Equal(t, 10+30*20, ix.Stats().Lines)
	} else {
		assert.Less(t, ix.Stats().Lines, 10+30*20, "retention removed files")
	}
	assertParityOf(t, mem, ix, quickQueries)
	require.NoError(t, ix.Close())

	// The text index holds exactly the lines' text: rows replaced (a file
	// gzipped) and removed (retention) left it with their lines.
	db, err := sql.Open("sqlite", "file:"+indexPath)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`INSERT INTO lines_text (lines_text, rank) VALUES ('integrity-check', 1)`)
	require.NoError(t, err)
	for _, gram := range []string{"ing", "acc", "log"} {
		var fts, lines int
		require.NoError(t, db.QueryRow(`SELECT (SELECT count(*) FROM lines_text WHERE lines_text MATCH ?), (SELECT count(*) FROM lines WHERE instr(lower(resource || coalesce(char(10) || message, '')), ?) > 0)`,
			`"`+gram+`"`, gram).Scan(&fts, &lines))
		assert.Positive(t, lines, gram)
		assert.Equal(t, lines, fts, "the text index finds exactly the lines holding %q", gram)
	}
}

// The index holds audit data: its files are the collector user's only.
func TestIndexFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	path := genArchive(t, dir, 50, 0, false)
	indexPath := filepath.Join(t.TempDir(), "index")
	ix := openDisk(t, path, indexPath, nil)
	for _, p := range []string{indexPath, indexPath + "-wal", indexPath + "-shm"} {
		info, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), p)
	}
	require.NoError(t, ix.Close())
}

// The same archive named another way (its directory, a relative path) is
// the same index: nothing is read again.
func TestSameArchiveNamedOtherwise(t *testing.T) {
	dir := t.TempDir()
	path := genArchive(t, dir, 300, 0, false)
	indexPath := filepath.Join(t.TempDir(), "index")
	first := openDisk(t, path, indexPath, nil)
	require.Equal(t, 300, first.Stats().LinesRead)
	require.NoError(t, first.Close())
	t.Chdir(filepath.Dir(dir))
	for _, name := range []string{dir, filepath.Join(filepath.Base(dir), "audit.jsonl")} {
		again := openDisk(t, name, indexPath, nil)
		assert.Equal(t, 0, again.Stats().LinesRead, name)
		require.NoError(t, again.Close())
	}
	// With an HMAC key the index is another: built again, from an empty
	// file.
	keyed := openDisk(t, path, indexPath, []byte("0123456789abcdef"))
	assert.Equal(t, 300, keyed.Stats().LinesRead)
	assert.Equal(t, 300, keyed.Stats().Lines)
	require.NoError(t, keyed.Close())
}

// An index file of an older layout (written before the tables changed:
// lines with NOT NULL columns, user_version 0) is built again, not kept
// with its old tables, and the file carries the new layout.
func TestOlderLayoutIsRebuilt(t *testing.T) {
	path := genArchive(t, t.TempDir(), 1200, 96<<10, true)
	mem := memory(t, path, nil)
	indexPath := filepath.Join(t.TempDir(), "index")
	ix := openDisk(t, path, indexPath, nil)
	require.NoError(t, ix.Close())
	notNull := func() (int, int) {
		db, err := sql.Open("sqlite", "file:"+indexPath)
		require.NoError(t, err)
		defer db.Close()
		var n, v int
		require.NoError(t, db.QueryRow(`SELECT (SELECT count(*) FROM pragma_table_info('lines') WHERE "notnull"), (SELECT user_version FROM pragma_user_version)`).Scan(&n, &v))
		return n, v
	}
	n, version := notNull()
	require.Zero(t, n, "this layout: no NOT NULL column")
	require.Positive(t, version, "this layout: a version")

	// The older layout, with its rows and meta as the older version left
	// them: only the lines table's definition and the version differ.
	db, err := sql.Open("sqlite", "file:"+indexPath)
	require.NoError(t, err)
	for _, s := range []string{
		`PRAGMA user_version = 0`,
		`CREATE TABLE old_lines AS SELECT * FROM lines`,
		`DROP TABLE lines`,
		`CREATE TABLE lines (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, line INTEGER NOT NULL,
			ts INTEGER NOT NULL, seq INTEGER NOT NULL, sub INTEGER NOT NULL, off INTEGER NOT NULL, size INTEGER NOT NULL, fp INTEGER NOT NULL,
			source_id INTEGER NOT NULL, action_id INTEGER NOT NULL, actor_id INTEGER NOT NULL, address_id INTEGER NOT NULL,
			resource TEXT NOT NULL, message TEXT, sev INTEGER NOT NULL, status INTEGER NOT NULL, kind INTEGER NOT NULL, flags INTEGER NOT NULL, err TEXT, perr TEXT)`,
		`INSERT INTO lines SELECT * FROM old_lines`,
		`DROP TABLE old_lines`,
	} {
		_, err := db.Exec(s)
		require.NoError(t, err, s)
	}
	require.NoError(t, db.Close())
	n, version = notNull()
	require.Positive(t, n)
	require.Zero(t, version)

	again := openDisk(t, path, indexPath, nil)
	assert.Equal(t, mem.Stats().Lines, again.Stats().LinesRead, "rebuilt: every line read again")
	assertParityOf(t, mem, again, quickQueries)
	require.NoError(t, again.Close())
	n, version = notNull()
	assert.Zero(t, n, "the new layout")
	assert.Positive(t, version)

	// The same layout is kept: nothing read again.
	kept := openDisk(t, path, indexPath, nil)
	assert.Equal(t, 0, kept.Stats().LinesRead)
	require.NoError(t, kept.Close())
}
