package walstorageextension

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/otelcol-audit/otelcol-audit/extension/walstorageextension/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/lossyfs"
)

// start creates and starts the extension on dir and stops it at the end
// of the test (or earlier, through the returned func).
func start(t *testing.T, dir string, change ...func(*Config)) (*walStorage, func()) {
	t.Helper()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Directory = dir
	for _, c := range change {
		c(cfg)
	}
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			require.NoError(t, ext.Shutdown(context.Background()))
		}
	}
	t.Cleanup(stop)
	return ext.(*walStorage), stop
}

func newClient(t *testing.T, s *walStorage, kind component.Kind, id, name string) storage.Client {
	t.Helper()
	c, err := s.GetClient(context.Background(), kind, component.MustNewID(id), name)
	require.NoError(t, err)
	return c
}

func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		s, stop := start(t, dir)
		c := newClient(t, s, component.KindExporter, "rfc5424", "logs")
		require.NoError(t, c.Set(context.Background(), "k", []byte("v")))
		require.NoError(t, c.Close(context.Background()))
		stop()
	}
}

func TestStartNeedsTheDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "a", "b")
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Directory = missing
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = ext.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "create_directory: true")
	require.NoError(t, ext.Shutdown(context.Background()))

	s, _ := start(t, missing, func(c *Config) { c.CreateDirectory = true })
	fi, err := os.Stat(missing)
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	assert.NotNil(t, s.db)
}

func TestClientOperations(t *testing.T) {
	ctx := context.Background()
	s, _ := start(t, t.TempDir())
	c := newClient(t, s, component.KindExporter, "rfc5424", "logs")
	v, err := c.Get(ctx, "missing")
	require.NoError(t, err)
	assert.Nil(t, v, "a missing key reads as nil, as the storage API asks")

	require.NoError(t, c.Set(ctx, "a", []byte("1")))
	v, err = c.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, []byte("1"), v)
	require.NoError(t, c.Delete(ctx, "a"))
	v, err = c.Get(ctx, "a")
	require.NoError(t, err)
	assert.Nil(t, v)

	// In order, in one batch: a Get sees the writes before it.
	get1, get2, get3 := storage.GetOperation("x"), storage.GetOperation("x"), storage.GetOperation("y")
	require.NoError(t, c.Batch(ctx,
		storage.SetOperation("x", []byte("first")), get1,
		storage.DeleteOperation("x"), get2,
		storage.SetOperation("y", []byte("why")), get3))
	assert.Equal(t, []byte("first"), get1.Value)
	assert.Nil(t, get2.Value)
	assert.Equal(t, []byte("why"), get3.Value)

	// The persistent queue's read step: set the metadata, get an item.
	require.NoError(t, c.Set(ctx, "7", []byte("item")))
	item := storage.GetOperation("7")
	require.NoError(t, c.Batch(ctx, storage.SetOperation("qmv0", []byte("meta")), item))
	assert.Equal(t, []byte("item"), item.Value)

	require.NoError(t, c.Close(ctx))
	assert.ErrorIs(t, c.Set(ctx, "a", nil), errClientClosed)
}

func TestClientsAreIsolated(t *testing.T) {
	ctx := context.Background()
	s, _ := start(t, t.TempDir())
	a := newClient(t, s, component.KindExporter, "rfc5424", "logs")
	b := newClient(t, s, component.KindExporter, "auditfile", "logs")
	p := newClient(t, s, component.KindProcessor, "rfc5424", "logs")
	require.NoError(t, a.Set(ctx, "0", []byte("a")))
	require.NoError(t, b.Set(ctx, "0", []byte("b")))
	for _, tt := range []struct {
		c    storage.Client
		want []byte
	}{{a, []byte("a")}, {b, []byte("b")}, {p, nil}} {
		v, err := tt.c.Get(ctx, "0")
		require.NoError(t, err)
		assert.Equal(t, tt.want, v)
	}
}

func TestDataSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, stop := start(t, dir)
	c := newClient(t, s, component.KindExporter, "auditfile", "logs")
	for i := range 1000 {
		require.NoError(t, c.Set(ctx, fmt.Sprint(i), []byte(fmt.Sprint("item ", i))))
	}
	require.NoError(t, c.Delete(ctx, "3"))
	stop()

	s, _ = start(t, dir)
	c = newClient(t, s, component.KindExporter, "auditfile", "logs")
	v, err := c.Get(ctx, "999")
	require.NoError(t, err)
	assert.Equal(t, []byte("item 999"), v)
	v, err = c.Get(ctx, "3")
	require.NoError(t, err)
	assert.Nil(t, v)
}

// Which writes wait for an fsync: the guarantee the shipped configuration
// rests on (the e2e suite observes the fsync itself with strace).
func TestSyncPolicy(t *testing.T) {
	s, _ := start(t, t.TempDir())
	c := newClient(t, s, component.KindExporter, "rfc5424", "logs").(*client)
	unsynced, _ := start(t, t.TempDir(), func(c *Config) { c.Sync = false })
	cu := newClient(t, unsynced, component.KindExporter, "rfc5424", "logs").(*client)

	ctx := context.Background()
	assert.Equal(t, pebble.Sync, c.syncFor(ctx, 0, 0), "a write that adds data, no ticket: synced in the call")
	assert.Equal(t, pebble.NoSync, c.syncFor(ctx, 1, 0), "the queue's read step: progress only")
	assert.Equal(t, pebble.NoSync, c.syncFor(ctx, 0, 1), "the queue's done step: progress only")
	assert.Equal(t, pebble.NoSync, cu.syncFor(ctx, 0, 0), "sync: false")

	tctx, ticket := durable.WithTicket(ctx)
	assert.Equal(t, pebble.NoSync, c.syncFor(tctx, 0, 0), "with a ticket the sync is left to its holder")
	assert.Equal(t, pebble.NoSync, c.syncFor(tctx, 0, 1))
	assert.Equal(t, 1, ticket.Pending(), "the database is recorded once however often it is written")
	require.NoError(t, ticket.Wait())
	assert.Equal(t, 0, ticket.Pending())

	tctx, ticket = durable.WithTicket(ctx)
	assert.Equal(t, pebble.NoSync, cu.syncFor(tctx, 0, 0))
	assert.Equal(t, 0, ticket.Pending(), "sync: false records nothing to sync")
}

// A ticket's write through two clients (the two exporters' queues) is
// readable at once and synced by one Wait.
func TestTicketCoversEveryClient(t *testing.T) {
	dir := t.TempDir()
	s, stop := start(t, dir)
	a := newClient(t, s, component.KindExporter, "rfc5424", "logs")
	b := newClient(t, s, component.KindExporter, "auditfile", "logs")
	ctx, ticket := durable.WithTicket(context.Background())
	require.NoError(t, a.Batch(ctx, storage.SetOperation("qmv0", []byte("m")), storage.SetOperation("0", []byte("a"))))
	require.NoError(t, b.Batch(ctx, storage.SetOperation("qmv0", []byte("m")), storage.SetOperation("0", []byte("b"))))
	assert.Equal(t, 1, ticket.Pending())
	require.NoError(t, ticket.Wait())
	stop()
	assert.ErrorIs(t, s.Sync(), errClosed)

	s, _ = start(t, dir)
	v, err := newClient(t, s, component.KindExporter, "auditfile", "logs").Get(context.Background(), "0")
	require.NoError(t, err)
	assert.Equal(t, []byte("b"), v)
}

// What a write was acknowledged for survives a power cut right after it:
// a synced Set, and a ticket's writes once Wait returned. The directory
// is created on the first start (create_directory), so its own name must
// be durable too. lossyfs keeps only what was fsynced.
func TestAcknowledgedWritesSurviveAPowerCut(t *testing.T) {
	ctx := context.Background()
	disk, mnt := lossyfs.MountT(t)
	s, _ := start(t, filepath.Join(mnt, "var", "lib", "walstorage"), func(c *Config) { c.CreateDirectory = true })
	c := newClient(t, s, component.KindProcessor, "auditlog", "journal")
	require.NoError(t, c.Set(ctx, "synced", []byte("in the call")))
	tctx, ticket := durable.WithTicket(ctx)
	require.NoError(t, c.Batch(tctx, storage.SetOperation("ticket", []byte("after Wait"))))
	require.NoError(t, ticket.Wait())

	after := t.TempDir()
	st, err := disk.Image(after)
	require.NoError(t, err)
	t.Logf("the cut kept %d files, %d bytes; lost %d bytes", st.Files, st.KeptBytes, st.LostBytes)
	s2, _ := start(t, filepath.Join(after, "var", "lib", "walstorage"))
	c2 := newClient(t, s2, component.KindProcessor, "auditlog", "journal")
	for key, want := range map[string]string{"synced": "in the call", "ticket": "after Wait"} {
		v, err := c2.Get(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, want, string(v), key)
	}
}
