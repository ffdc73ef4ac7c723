package dedup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a settable time source.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2024, 1, 15, 11, 19, 7, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func key(i int) Key { return KeyOf("glassix", fmt.Sprintf("event-%d", i)) }

// deliver runs an event through Begin and Commit, reporting whether it was
// new.
func deliver(t *testing.T, w *Window, keys ...Key) []bool {
	t.Helper()
	var fresh []Key
	out := make([]bool, len(keys))
	for i, k := range keys {
		if out[i] = w.Begin(k); out[i] {
			fresh = append(fresh, k)
		}
	}
	w.Commit(fresh)
	require.NoError(t, w.Save(context.Background()))
	return out
}

func TestKeyOfSeparatesSources(t *testing.T) {
	assert.Equal(t, KeyOf("glassix", "x"), KeyOf("glassix", "x"))
	assert.NotEqual(t, KeyOf("glassix", "x"), KeyOf("sippy", "x"))
	assert.NotEqual(t, KeyOf("ab", "c"), KeyOf("a", "bc"))
}

func TestBeginCommitAbort(t *testing.T) {
	w := New(Config{Window: time.Hour, MaxEntries: 10}, newClock().now)
	k := key(1)
	require.True(t, w.Begin(k), "first sight")
	w.Abort([]Key{k})
	assert.Zero(t, w.InFlight(k))
	require.True(t, w.Begin(k), "after the next consumer refused, the sender's retry goes through")
	w.Commit([]Key{k})
	assert.Zero(t, w.InFlight(k))
	assert.False(t, w.Begin(k), "delivered: a repeat is a duplicate")
	assert.Equal(t, 1, w.Len())
}

// A copy arriving while another is being delivered passes: if the first
// delivery is refused and never retried, the copy is the event.
func TestACopyWhileAnotherIsInFlightPasses(t *testing.T) {
	for _, tt := range []struct {
		name          string
		first, second func(w *Window, keys []Key)
		delivered     bool
	}{
		{"first refused, copy delivered", (*Window).Abort, (*Window).Commit, true},
		{"first delivered, copy refused", (*Window).Commit, (*Window).Abort, true},
		{"both delivered (the window's price: a duplicate)", (*Window).Commit, (*Window).Commit, true},
		{"both refused", (*Window).Abort, (*Window).Abort, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := New(Config{Window: time.Hour, MaxEntries: 10}, newClock().now)
			k := key(1)
			require.True(t, w.Begin(k), "first copy")
			require.True(t, w.Begin(k), "second copy, while the first is in flight")
			assert.Equal(t, 2, w.InFlight(k))
			tt.first(w, []Key{k})
			assert.Equal(t, 1, w.InFlight(k), "the second copy's claim holds")
			tt.second(w, []Key{k})
			assert.Zero(t, w.InFlight(k))
			assert.Equal(t, !tt.delivered, w.Begin(k), "a later copy passes only if no copy was delivered")
			if tt.delivered {
				assert.Equal(t, 1, w.Len(), "remembered once")
			}
		})
	}
}

func TestWindowExpiresByTime(t *testing.T) {
	c := newClock()
	w := New(Config{Window: 72 * time.Hour, MaxEntries: 10}, c.now)
	deliver(t, w, key(1))
	c.advance(72*time.Hour - time.Nanosecond)
	assert.False(t, w.Begin(key(1)), "still within the window")
	c.advance(time.Nanosecond)
	assert.True(t, w.Begin(key(1)), "window passed: forgotten")
	assert.Equal(t, 0, w.Len())
}

func TestWindowBoundedByCount(t *testing.T) {
	w := New(Config{Window: time.Hour, MaxEntries: 3}, newClock().now)
	assert.Equal(t, []bool{true, true, true, true}, deliver(t, w, key(1), key(2), key(3), key(4)))
	assert.Equal(t, 3, w.Len())
	assert.Equal(t, []bool{false, false, false}, deliver(t, w, key(2), key(3), key(4)))
	assert.Equal(t, []bool{true}, deliver(t, w, key(1)), "the oldest was forgotten to stay within max_entries")
}

func TestLongRunStaysBoundedAndCorrect(t *testing.T) {
	// Far more events than max_entries, so the ring wraps many times.
	c := newClock()
	w := New(Config{Window: time.Hour, MaxEntries: 1500}, c.now)
	for i := 0; i < 20000; i++ {
		require.True(t, w.Begin(key(i)), i)
		w.Commit([]Key{key(i)})
		c.advance(time.Millisecond)
	}
	assert.Equal(t, 1500, w.Len())
	assert.Len(t, w.ring, 1500, "the ring never holds more than max_entries")
	assert.False(t, w.Begin(key(19999)))
	assert.False(t, w.Begin(key(18500)))
	assert.True(t, w.Begin(key(18499)))
}

// Concurrent copies all pass while none is delivered; once one is, later
// copies are duplicates, and every claim is accounted for.
func TestConcurrentCopies(t *testing.T) {
	w := New(Config{Window: time.Hour, MaxEntries: 100}, nil)
	k := key(7)
	var passed atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if !w.Begin(k) {
				return
			}
			passed.Add(1)
			if i%2 == 0 {
				w.Abort([]Key{k})
			} else {
				w.Commit([]Key{k})
			}
		})
	}
	wg.Wait()
	assert.Positive(t, passed.Load())
	assert.Zero(t, w.InFlight(k))
	assert.Equal(t, 1, w.Len(), "delivered once or more, remembered once")
	assert.False(t, w.Begin(k))
}

func openClient(t *testing.T, ext storage.Extension) storage.Client {
	t.Helper()
	c, err := ext.GetClient(context.Background(), component.KindProcessor, component.MustNewID("auditlog"), "dedup")
	require.NoError(t, err)
	return c
}

// restart closes the client and the extension and opens both again on the
// same directory, as a collector restart does.
func restart(t *testing.T, dir string, client storage.Client, stop func()) (storage.Client, func()) {
	t.Helper()
	require.NoError(t, client.Close(context.Background()))
	stop()
	ext, stop2 := testutil.StartFileStorage(t, dir)
	c := openClient(t, ext)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, stop2
}

func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ext, stop := testutil.StartFileStorage(t, dir)
	client := openClient(t, ext)
	c := newClock()
	cfg := Config{Window: 72 * time.Hour, MaxEntries: 10000}

	w, err := Load(context.Background(), cfg, c.now, client)
	require.NoError(t, err, "first start: empty storage is not an error")
	// 700 events over many commits: several chunks, the newest partly full.
	for i := 0; i < 700; i += 7 {
		var keys []Key
		for j := i; j < i+7; j++ {
			keys = append(keys, key(j))
		}
		assert.Equal(t, []bool{true, true, true, true, true, true, true}, deliver(t, w, keys...))
	}

	client, _ = restart(t, dir, client, stop)
	w, err = Load(context.Background(), cfg, c.now, client)
	require.NoError(t, err)
	assert.Equal(t, 700, w.Len())
	for _, i := range []int{0, 1, 255, 256, 511, 512, 699} {
		assert.False(t, w.Begin(key(i)), "event %d delivered before the restart is a duplicate after it", i)
	}
	assert.True(t, w.Begin(key(700)))
}

func TestReloadAppliesCurrentBounds(t *testing.T) {
	dir := t.TempDir()
	ext, stop := testutil.StartFileStorage(t, dir)
	client := openClient(t, ext)
	c := newClock()
	w, err := Load(context.Background(), Config{Window: time.Hour, MaxEntries: 1000}, c.now, client)
	require.NoError(t, err)
	for i := 0; i < 300; i++ {
		deliver(t, w, key(i))
		if i == 99 {
			c.advance(30 * time.Minute)
		}
	}

	client, stop = restart(t, dir, client, stop)
	w, err = Load(context.Background(), Config{Window: time.Hour, MaxEntries: 50}, c.now, client)
	require.NoError(t, err)
	assert.Equal(t, 50, w.Len(), "a smaller max_entries keeps the newest")
	assert.False(t, w.Begin(key(299)))
	assert.True(t, w.Begin(key(249)))

	client, _ = restart(t, dir, client, stop)
	c.advance(31 * time.Minute) // the first 100 are now older than the window
	w, err = Load(context.Background(), Config{Window: time.Hour, MaxEntries: 1000}, c.now, client)
	require.NoError(t, err)
	assert.Equal(t, 200, w.Len(), "expired entries are not loaded")
	assert.True(t, w.Begin(key(99)))
	assert.False(t, w.Begin(key(100)))
}

func TestExpiredChunksAreDeleted(t *testing.T) {
	ext, _ := testutil.StartFileStorage(t, t.TempDir())
	client := openClient(t, ext)
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	c := newClock()
	w, err := Load(context.Background(), Config{Window: time.Hour, MaxEntries: 100000}, c.now, client)
	require.NoError(t, err)
	for i := 0; i < 3*chunkEntries; i++ {
		deliver(t, w, key(i))
	}
	for ch := uint64(0); ch < 3; ch++ {
		v, err := client.Get(context.Background(), chunkKey(ch))
		require.NoError(t, err)
		assert.Len(t, v, 8+chunkEntries*entrySize)
	}
	c.advance(2 * time.Hour)
	deliver(t, w, key(-1))
	assert.Equal(t, 1, w.Len())
	for ch := uint64(0); ch < 3; ch++ {
		v, err := client.Get(context.Background(), chunkKey(ch))
		require.NoError(t, err)
		assert.Nil(t, v, "chunk %d fell out of the window and was deleted", ch)
	}
	v, err := client.Get(context.Background(), chunkKey(3))
	require.NoError(t, err)
	assert.Len(t, v, 8+entrySize)
}

func TestCorruptStorageLosesOnlyWhatItMust(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ext, stop := testutil.StartFileStorage(t, dir)
	client := openClient(t, ext)
	c := newClock()
	cfg := Config{Window: time.Hour, MaxEntries: 10000}
	w, err := Load(ctx, cfg, c.now, client)
	require.NoError(t, err)
	for i := 0; i < 3*chunkEntries; i++ {
		deliver(t, w, key(i))
	}
	require.NoError(t, client.Set(ctx, chunkKey(1), []byte("garbage")))

	client, stop = restart(t, dir, client, stop)
	w, err = Load(ctx, cfg, c.now, client)
	require.ErrorContains(t, err, fmt.Sprintf("dedup chunk %s is missing or malformed (7 bytes): forgetting %d older event ids", chunkKey(1), chunkEntries))
	assert.Equal(t, chunkEntries, w.Len(), "the newest chunk is kept")
	assert.False(t, w.Begin(key(3*chunkEntries-1)))
	assert.True(t, w.Begin(key(0)))

	require.NoError(t, client.Set(ctx, metaKey, []byte{}))
	client, _ = restart(t, dir, client, stop)
	w, err = Load(ctx, cfg, c.now, client)
	require.ErrorContains(t, err, "unknown format")
	assert.Equal(t, 0, w.Len())
	assert.True(t, deliver(t, w, key(1))[0], "an unreadable window starts empty and works")
}

// countingClient counts the storage batches and can fail the next ones.
type countingClient struct {
	storage.Client
	batches atomic.Int32
	fail    atomic.Int32 // batches still to fail
}

func (c *countingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if c.fail.Load() > 0 {
		c.fail.Add(-1)
		return errors.New("disk full")
	}
	c.batches.Add(1)
	return c.Client.Batch(ctx, ops...)
}

// Commits change memory only; one Save writes all of them in one batch,
// and a Save with nothing new writes nothing.
func TestSaveWritesEveryCommitSinceTheLastOne(t *testing.T) {
	dir := t.TempDir()
	ext, stop := testutil.StartFileStorage(t, dir)
	client := &countingClient{Client: openClient(t, ext)}
	c := newClock()
	cfg := Config{Window: time.Hour, MaxEntries: 10000}
	w, err := Load(context.Background(), cfg, c.now, client)
	require.NoError(t, err)

	for i := range 600 { // commits spanning three chunks
		require.True(t, w.Begin(key(i)))
		w.Commit([]Key{key(i)})
	}
	assert.Zero(t, client.batches.Load(), "Commit does not write")
	require.NoError(t, w.Save(context.Background()))
	assert.Equal(t, int32(1), client.batches.Load())
	require.NoError(t, w.Save(context.Background()))
	assert.Equal(t, int32(1), client.batches.Load(), "nothing new, nothing written")

	reopened, _ := restart(t, dir, client.Client, stop)
	w, err = Load(context.Background(), cfg, c.now, reopened)
	require.NoError(t, err)
	assert.Equal(t, 600, w.Len())
	assert.False(t, w.Begin(key(0)))
	assert.False(t, w.Begin(key(599)))
}

// A failed Save loses nothing: the next one writes what it would have.
func TestSaveAfterAFailedSave(t *testing.T) {
	dir := t.TempDir()
	ext, stop := testutil.StartFileStorage(t, dir)
	client := &countingClient{Client: openClient(t, ext)}
	c := newClock()
	cfg := Config{Window: time.Hour, MaxEntries: 10000}
	w, err := Load(context.Background(), cfg, c.now, client)
	require.NoError(t, err)

	deliver(t, w, key(0), key(1)) // saved
	require.True(t, w.Begin(key(2)))
	w.Commit([]Key{key(2)})
	client.fail.Store(1)
	require.ErrorContains(t, w.Save(context.Background()), "saving the dedup window: disk full")
	require.True(t, w.Begin(key(3)))
	w.Commit([]Key{key(3)})
	require.NoError(t, w.Save(context.Background()))

	reopened, _ := restart(t, dir, client.Client, stop)
	w, err = Load(context.Background(), cfg, c.now, reopened)
	require.NoError(t, err)
	assert.Equal(t, 4, w.Len())
	for i := range 4 {
		assert.False(t, w.Begin(key(i)), "event %d", i)
	}
}

// Without storage, Save is a no-op.
func TestSaveInMemoryOnly(t *testing.T) {
	w := New(Config{Window: time.Hour, MaxEntries: 10}, nil)
	deliver(t, w, key(1))
	assert.NoError(t, w.Save(context.Background()))
	assert.Equal(t, 1, w.Len())
}

// The ring wraps around many times between saves and restarts; what is
// saved and read back is the newest max_entries ids, whatever the slots.
func TestPersistsAWrappedRing(t *testing.T) {
	dir := t.TempDir()
	ext, stop := testutil.StartFileStorage(t, dir)
	client := openClient(t, ext)
	c := newClock()
	cfg := Config{Window: time.Hour, MaxEntries: 1000}
	w, err := Load(context.Background(), cfg, c.now, client)
	require.NoError(t, err)
	for i := range 3700 {
		require.True(t, w.Begin(key(i)))
		w.Commit([]Key{key(i)})
		if i%450 == 0 {
			require.NoError(t, w.Save(context.Background()))
		}
	}
	require.NoError(t, w.Save(context.Background()))

	client, _ = restart(t, dir, client, stop)
	w, err = Load(context.Background(), cfg, c.now, client)
	require.NoError(t, err)
	assert.Equal(t, 1000, w.Len())
	for _, i := range []int{2700, 2701, 3000, 3699} {
		assert.False(t, w.Begin(key(i)), "event %d is among the newest 1000", i)
	}
	assert.True(t, w.Begin(key(2699)), "older than max_entries")
}

// A window saved by format 1 (256 entries a chunk, under dedup/chunk/) is
// read back whole, and the next save rewrites it in the current format and
// deletes the old chunks.
func TestFormat1IsReadAndRewritten(t *testing.T) {
	ctx := context.Background()
	ext, _ := testutil.StartFileStorage(t, t.TempDir())
	client := openClient(t, ext)
	t.Cleanup(func() { _ = client.Close(ctx) })
	c := newClock()
	const n = v1ChunkEntries + 10 // two format-1 chunks
	seen := c.now().UnixNano()
	for ch := uint64(0); ch < 2; ch++ {
		lo, hi := ch*v1ChunkEntries, min((ch+1)*v1ChunkEntries, n)
		buf := binary.BigEndian.AppendUint64(nil, lo)
		for s := lo; s < hi; s++ {
			k := key(int(s))
			buf = append(buf, k[:]...)
			buf = binary.BigEndian.AppendUint64(buf, uint64(seen))
		}
		require.NoError(t, client.Set(ctx, v1ChunkKey(ch), buf))
	}
	meta := []byte{v1Version}
	meta = binary.BigEndian.AppendUint64(meta, 0)
	meta = binary.BigEndian.AppendUint64(meta, n)
	require.NoError(t, client.Set(ctx, metaKey, meta))

	w, err := Load(ctx, Config{Window: time.Hour, MaxEntries: 100000}, c.now, client)
	require.NoError(t, err)
	assert.Equal(t, n, w.Len())
	assert.False(t, w.Begin(key(0)), "format-1 ids are remembered")
	assert.False(t, w.Begin(key(n-1)))

	require.NoError(t, w.Save(ctx))
	for ch := uint64(0); ch < 2; ch++ {
		v, err := client.Get(ctx, v1ChunkKey(ch))
		require.NoError(t, err)
		assert.Nil(t, v, "format-1 chunk %d deleted", ch)
	}
	meta, err = client.Get(ctx, metaKey)
	require.NoError(t, err)
	assert.Equal(t, byte(formatVersion), meta[0])
	w, err = Load(ctx, Config{Window: time.Hour, MaxEntries: 100000}, c.now, client)
	require.NoError(t, err)
	assert.Equal(t, n, w.Len())
	assert.False(t, w.Begin(key(n-1)), "rewritten ids are remembered")
}
