package pgindex_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery/sqliteindex"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/auditquerytest"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
)

// The handoff (archive.Tap) must give the index exactly what reading the
// archive gives: these tests build an index that follows a live archive
// with the writer in the same process, then one that reads the same
// archive afresh, and compare every row, its integrity mark and the counts
// — in SQLite and in PostgreSQL.

// childWriterEnv makes the test binary a writer of its own (see TestMain):
// the exporter in another process.
const childWriterEnv = "PGINDEX_TEST_CHILD_WRITER"

// runChildWriter writes "path,events" generated events and exits.
func runChildWriter(spec string) {
	path, n, _ := strings.Cut(spec, ",")
	events, _ := strconv.Atoi(n)
	err := auditquerytest.WriteArchive(context.Background(), archive.WriterOptions{Path: path, MaxSize: 64 << 10},
		auditquerytest.NewGenerator(21, time.Second), events, 100)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// indexKind opens one kind of index on an archive.
type indexKind struct {
	name string
	open func(t *testing.T, path, collector string, opts auditquery.DiskOptions) *auditquery.DiskIndex
}

func indexKinds(t *testing.T) []indexKind {
	pg := pgtest.Start(t)
	return []indexKind{
		{"sqlite", func(t *testing.T, path, _ string, opts auditquery.DiskOptions) *auditquery.DiskIndex {
			ix, err := auditquery.OpenDisk(context.Background(), path, sqliteindex.New(filepath.Join(t.TempDir(), "index"), sqliteindex.Options{}), opts)
			require.NoError(t, err)
			t.Cleanup(func() { ix.Close() })
			return ix
		}},
		{"postgres", func(t *testing.T, path, collector string, opts auditquery.DiskOptions) *auditquery.DiskIndex {
			opts.Collector = collector
			ix, err := auditquery.OpenDisk(context.Background(), path, newPG(t, pg.DSN()), opts)
			require.NoError(t, err)
			t.Cleanup(func() { ix.Close() })
			return ix
		}},
	}
}

// snapshot is what an index shows: every row (as a local index shows it),
// and its counts.
type snapshot struct {
	Rows                            []auditquery.Row
	Files, Lines, Markers, Problems int
	Events                          int
}

func snap(t *testing.T, ix *auditquery.DiskIndex, collector string) snapshot {
	t.Helper()
	rows := every(t, ix, auditquery.Query{})
	if collector != "" {
		rows = filter(rows, collector)
	}
	st := ix.Stats()
	return snapshot{Rows: local(rows), Files: st.Files, Lines: st.Lines, Markers: st.Markers, Problems: st.Problems, Events: st.Events}
}

// fresh is the index built by reading the archive at path, with no handoff.
func fresh(t *testing.T, k indexKind, path string, key []byte) snapshot {
	t.Helper()
	name := fmt.Sprintf("fresh-%d", time.Now().UnixNano())
	ix := k.open(t, path, name, auditquery.DiskOptions{HMACKey: key, BatchRows: 700, HandoffBytes: -1})
	require.NoError(t, ix.Refresh(context.Background()))
	require.Zero(t, ix.HandedOver())
	s := snap(t, ix, map[bool]string{true: name}[k.name == "postgres"])
	require.NoError(t, ix.Close())
	return s
}

func requireSame(t *testing.T, want, got snapshot) {
	t.Helper()
	require.Len(t, got.Rows, len(want.Rows))
	require.Equal(t, want, got)
}

// A collector's life: rotation, compression and retention while the index
// follows, signed checkpoints, a keyed chain; refreshes at random points.
func TestHandoffParity(t *testing.T) {
	for _, k := range indexKinds(t) {
		t.Run(k.name, func(t *testing.T) {
			dir := t.TempDir()
			key := []byte("handoff-key")
			signKey, _, err := archive.LoadOrCreatePrivateKey(filepath.Join(dir, "sign.key"), true)
			require.NoError(t, err)
			path := filepath.Join(dir, "audit.jsonl")
			p, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: path, MaxSize: 64 << 10, Compress: true, MaxBackups: 6,
				HMACKey: key, Signer: archive.NewSigner(signKey), CheckpointLines: 250})
			require.NoError(t, err)
			ctx := context.Background()
			g := auditquerytest.NewGenerator(31, time.Second)
			require.NoError(t, p.Write(ctx, g.Next(50)))
			ix := k.open(t, path, "tap", auditquery.DiskOptions{HMACKey: key, BatchRows: 700})
			require.NoError(t, ix.Refresh(ctx))
			for round := range 40 {
				require.NoError(t, p.Write(ctx, g.Next(20+round*7%90)))
				if round%3 == 0 || round%7 == 0 {
					require.NoError(t, ix.Refresh(ctx))
				}
			}
			require.NoError(t, p.Close())
			require.NoError(t, ix.Refresh(ctx))
			assert.Positive(t, ix.HandedOver(), "lines handed over")
			want := fresh(t, k, path, key)
			assert.Positive(t, want.Markers, "checkpoints and retention markers")
			requireSame(t, want, snap(t, ix, map[bool]string{true: "tap"}[k.name == "postgres"]))
		})
	}
}

// Where the handoff cannot be trusted or is incomplete, the index reads
// the file, and ends as reading it would.
func TestHandoffFallbacks(t *testing.T) {
	kinds := indexKinds(t)
	ctx := context.Background()
	collectorOf := func(k indexKind) string { return map[bool]string{true: "tap"}[k.name == "postgres"] }
	setup := func(t *testing.T, k indexKind, wopts archive.WriterOptions, dopts auditquery.DiskOptions, before int) (*auditquerytest.Pipeline, *auditquery.DiskIndex, *auditquerytest.Generator) {
		t.Helper()
		wopts.Path = filepath.Join(t.TempDir(), "audit.jsonl")
		p, err := auditquerytest.NewPipeline(wopts)
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		g := auditquerytest.NewGenerator(41, time.Second)
		if before > 0 {
			require.NoError(t, p.Write(ctx, g.Next(before)))
		}
		dopts.BatchRows = 700
		return p, k.open(t, wopts.Path, "tap", dopts), g
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Run("opened after the writer wrote", func(t *testing.T) {
				p, ix, g := setup(t, k, archive.WriterOptions{MaxSize: 64 << 10}, auditquery.DiskOptions{}, 400)
				require.NoError(t, p.Write(ctx, g.Next(100)))
				require.NoError(t, ix.Refresh(ctx))
				require.NoError(t, p.Write(ctx, g.Next(100)))
				require.NoError(t, ix.Refresh(ctx))
				assert.Positive(t, ix.HandedOver())
				assert.Less(t, ix.HandedOver(), int64(ix.Stats().Lines), "the first lines were read from the file")
				requireSame(t, fresh(t, k, p.Path(), nil), snap(t, ix, collectorOf(k)))
			})
			t.Run("handoff full", func(t *testing.T) {
				p, ix, g := setup(t, k, archive.WriterOptions{MaxSize: 64 << 10}, auditquery.DiskOptions{HandoffBytes: 16 << 10}, 0)
				for i := range 40 {
					require.NoError(t, p.Write(ctx, g.Next(8)))
					if i%10 == 9 {
						require.NoError(t, ix.Refresh(ctx))
					}
				}
				require.NoError(t, p.Close()) // no compression after this
				require.NoError(t, ix.Refresh(ctx))
				assert.Positive(t, ix.HandedOver(), "what fit")
				assert.Less(t, ix.HandedOver(), int64(ix.Stats().Lines), "what did not fit was read")
				requireSame(t, fresh(t, k, p.Path(), nil), snap(t, ix, collectorOf(k)))
			})
			t.Run("fsync interval: only durable lines", func(t *testing.T) {
				p, ix, g := setup(t, k, archive.WriterOptions{Fsync: archive.FsyncInterval, FsyncInterval: time.Hour}, auditquery.DiskOptions{}, 0)
				require.NoError(t, ix.Refresh(ctx))
				before := ix.Stats().Lines
				require.NoError(t, p.Write(ctx, g.Next(100)))
				require.NoError(t, ix.Refresh(ctx))
				assert.Equal(t, before, ix.Stats().Lines, "lines not yet fsynced are not indexed")
				require.NoError(t, p.Close()) // fsyncs
				require.NoError(t, ix.Refresh(ctx))
				assert.Positive(t, ix.HandedOver())
				requireSame(t, fresh(t, k, p.Path(), nil), snap(t, ix, collectorOf(k)))
			})
			t.Run("tail lost after the handoff", func(t *testing.T) {
				p, ix, g := setup(t, k, archive.WriterOptions{}, auditquery.DiskOptions{}, 0)
				require.NoError(t, p.Write(ctx, g.Next(100)))
				require.NoError(t, ix.Refresh(ctx))
				require.NoError(t, p.Write(ctx, g.Next(100)))
				// Handed over, then lost from the file (as a power loss
				// loses what was not yet on the disk): cut the file back
				// into the first batch's lines, before the index looks.
				info, err := os.Stat(p.Path())
				require.NoError(t, err)
				cutAt := lineStart(t, p.Path(), info.Size()/3)
				require.NoError(t, os.Truncate(p.Path(), cutAt))
				require.NoError(t, ix.Refresh(ctx))
				requireSame(t, fresh(t, k, p.Path(), nil), snap(t, ix, collectorOf(k)))
				// After a restart of both (the writer records the lost tail).
				require.NoError(t, ix.Close())
				require.NoError(t, p.Close())
				p2, err := auditquerytest.NewPipeline(archive.WriterOptions{Path: p.Path()})
				require.NoError(t, err)
				defer p2.Close()
				ix2 := k.open(t, p.Path(), "tap", auditquery.DiskOptions{BatchRows: 700})
				require.NoError(t, p2.Write(ctx, g.Next(50)))
				require.NoError(t, ix2.Refresh(ctx))
				requireSame(t, fresh(t, k, p.Path(), nil), snap(t, ix2, collectorOf(k)))
			})
			t.Run("file rewritten after the handoff", func(t *testing.T) {
				p, ix, g := setup(t, k, archive.WriterOptions{MaxSize: 48 << 10}, auditquery.DiskOptions{RecheckActive: time.Nanosecond}, 0)
				for range 6 {
					require.NoError(t, p.Write(ctx, g.Next(60)))
				}
				require.NoError(t, ix.Refresh(ctx))
				require.Positive(t, ix.HandedOver())
				require.Zero(t, ix.Stats().Problems)
				// A forger changes one event in the active file and one in a
				// rotated file, in place, keeping their lengths (later than
				// the kernel's coarse clock tick: a later mtime).
				time.Sleep(10 * time.Millisecond)
				files, err := filepath.Glob(filepath.Join(filepath.Dir(p.Path()), "audit-*.jsonl"))
				require.NoError(t, err)
				require.NotEmpty(t, files)
				for _, f := range []string{p.Path(), files[0]} {
					data, err := os.ReadFile(f)
					require.NoError(t, err)
					i := strings.Index(string(data), `"glassix"`)
					if i < 0 {
						i = strings.Index(string(data), `"source":"`) + len(`"source":"`)
					}
					require.Positive(t, i)
					data[i+2] ^= 0x20 // a letter's case
					require.NoError(t, os.WriteFile(f, data, 0o600))
				}
				require.NoError(t, ix.Refresh(ctx))
				got := snap(t, ix, collectorOf(k))
				assert.GreaterOrEqual(t, got.Problems, 2, "both changes are marked")
				requireSame(t, fresh(t, k, p.Path(), nil), got)
				// The whole-archive check (the viewer's integrity report)
				// reads the files: it marks them as before.
				rep, err := archive.Verify(p.Path(), archive.VerifyOptions{})
				require.NoError(t, err)
				assert.GreaterOrEqual(t, len(rep.Problems), 2)
			})
			t.Run("rotated file rewritten before the index took it", func(t *testing.T) {
				p, ix, g := setup(t, k, archive.WriterOptions{MaxSize: 48 << 10}, auditquery.DiskOptions{}, 0)
				require.NoError(t, p.Write(ctx, g.Next(30)))
				require.NoError(t, ix.Refresh(ctx))
				for range 4 {
					require.NoError(t, p.Write(ctx, g.Next(60)))
				}
				// Handed over but not yet taken: a forger changes the newest
				// rotated file's last line in place.
				files, err := filepath.Glob(filepath.Join(filepath.Dir(p.Path()), "audit-*.jsonl"))
				require.NoError(t, err)
				require.NotEmpty(t, files)
				f := files[len(files)-1]
				data, err := os.ReadFile(f)
				require.NoError(t, err)
				i := strings.LastIndex(string(data), `"source":"`) + len(`"source":"`)
				data[i] ^= 0x20
				time.Sleep(10 * time.Millisecond) // past the kernel's coarse clock tick: a later mtime
				require.NoError(t, os.WriteFile(f, data, 0o600))
				require.NoError(t, ix.Refresh(ctx))
				got := snap(t, ix, collectorOf(k))
				assert.Positive(t, got.Problems, "the change is marked")
				requireSame(t, fresh(t, k, p.Path(), nil), got)
			})
			t.Run("writer in another process", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "audit.jsonl")
				child := func(events int) {
					cmd := exec.Command(os.Args[0], "-test.run=^$")
					cmd.Env = append(os.Environ(), childWriterEnv+"="+path+","+strconv.Itoa(events))
					out, err := cmd.CombinedOutput()
					require.NoError(t, err, string(out))
				}
				child(300)
				ix := k.open(t, path, "tap", auditquery.DiskOptions{BatchRows: 700})
				require.NoError(t, ix.Refresh(ctx))
				child(300)
				require.NoError(t, ix.Refresh(ctx))
				assert.Zero(t, ix.HandedOver(), "nothing comes from another process")
				assert.Positive(t, ix.Stats().Events)
				requireSame(t, fresh(t, k, path, nil), snap(t, ix, collectorOf(k)))
			})
		})
	}
}

// lineStart is the offset of the line holding offset off.
func lineStart(t *testing.T, path string, off int64) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return int64(strings.LastIndexByte(string(data[:off]), '\n') + 1)
}
