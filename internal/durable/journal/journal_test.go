package journal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// store is a storage.Client on a map shared by the clients of one test,
// standing for a storage extension's database across a restart. Closing a
// client does not lose the map.
type store struct {
	mu     sync.Mutex
	kv     map[string][]byte
	failOn string // a Set of a key with this prefix fails
}

func newStore() *store { return &store{kv: map[string][]byte{}} }

type client struct {
	s      *store
	closed bool
}

func (s *store) client() *client { return &client{s: s} }

func (c *client) Get(ctx context.Context, k string) ([]byte, error) {
	op := storage.GetOperation(k)
	return op.Value, c.Batch(ctx, op)
}
func (c *client) Set(ctx context.Context, k string, v []byte) error {
	return c.Batch(ctx, storage.SetOperation(k, v))
}
func (c *client) Delete(ctx context.Context, k string) error {
	return c.Batch(ctx, storage.DeleteOperation(k))
}
func (c *client) Close(context.Context) error { c.closed = true; return nil }

func (c *client) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.closed {
		return errors.New("closed")
	}
	for _, op := range ops {
		if op.Type == storage.Set && c.s.failOn != "" && strings.HasPrefix(op.Key, c.s.failOn) {
			return errors.New("no space left on device")
		}
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = slices.Clone(c.s.kv[op.Key])
		case storage.Set:
			c.s.kv[op.Key] = slices.Clone(op.Value)
		case storage.Delete:
			delete(c.s.kv, op.Key)
		}
	}
	return nil
}

func (s *store) keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range maps.Keys(s.kv) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// fakeExporter registers under id and records what is replayed to it.
type fakeExporter struct {
	id         component.ID
	mu         sync.Mutex
	replayed   []string // event ids, in order
	fail       error
	unregister func()
}

func newExporter(t *testing.T, name string) *fakeExporter {
	e := &fakeExporter{id: component.MustNewIDWithName("test", name+strings.ReplaceAll(t.Name(), "/", "_"))}
	c, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.fail != nil {
			return e.fail
		}
		e.replayed = append(e.replayed, collectIDs(ld)...)
		return nil
	})
	require.NoError(t, err)
	e.unregister = durable.RegisterExporter(e.id, c)
	t.Cleanup(e.unregister)
	return e
}

func (e *fakeExporter) got() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.replayed)
}

// settle reports ld's records with the given ids as delivered by e.
func (e *fakeExporter) settle(ld plog.Logs, ids ...string) {
	all := collectIDs(ld)
	durable.Settled(e.id, ld, func(o int) bool { return slices.Contains(ids, all[o]) })
}

func logs(ids ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, "glassix")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, id := range ids {
		r := lrs.AppendEmpty()
		r.Body().SetStr("event " + id)
		if id != "" {
			r.Attributes().PutStr(auditrecord.AttrEventID, id)
		}
	}
	return ld
}

func open(t *testing.T, s *store, logger *zap.Logger, exps ...*fakeExporter) *Journal {
	t.Helper()
	var ids []component.ID
	for _, e := range exps {
		ids = append(ids, e.id)
	}
	j, err := Open(context.Background(), Settings{Client: s.client(), Exporters: ids, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close(context.Background()) })
	return j
}

func appendLogs(t *testing.T, j *Journal, ld plog.Logs) uint64 {
	t.Helper()
	_, seq, ok, err := j.Append(context.Background(), ld)
	require.NoError(t, err)
	require.True(t, ok)
	return seq
}

func TestEntryRemovedOnceEveryExporterDelivered(t *testing.T) {
	s := newStore()
	siem, archive := newExporter(t, "siem"), newExporter(t, "archive")
	j := open(t, s, zap.NewNop(), siem, archive)
	ld := logs("a", "b", "c")
	seq := appendLogs(t, j, ld)
	assert.Equal(t, []string{entryKey(seq)}, s.keys("e/"))

	archive.settle(ld, "a", "b", "c")
	assert.Equal(t, []string{entryKey(seq)}, s.keys("e/"), "the SIEM has not delivered it")
	assert.Equal(t, []string{markKey(archive.id.String(), seq)}, s.keys("d/"), "the archive's delivery is marked")

	siem.settle(ld, "a", "b")
	assert.Len(t, s.keys("e/"), 1, "one record still waits for the SIEM")
	siem.settle(ld, "c")
	assert.Empty(t, s.keys("e/"), "delivered everywhere: removed")
	assert.Empty(t, s.keys("d/"), "its marks too")
	st := j.Stats()
	assert.Zero(t, st.Pending)
	assert.Zero(t, st.Tracked)
	assert.Equal(t, seq+1, st.LowBound)

	// A report of records the journal does not hold (the auditself
	// pipelines, or a second report) changes nothing.
	siem.settle(logs("a", "zz"), "a", "zz")
	assert.Zero(t, j.Stats().Pending)
}

func TestReplayAfterReopenGoesOnlyToExportersThatHadNotDelivered(t *testing.T) {
	s := newStore()
	siem, archive := newExporter(t, "siem"), newExporter(t, "archive")
	j := open(t, s, zap.NewNop(), siem, archive)
	e0, e1, e2 := logs("a0", "b0"), logs("a1", "b1", "c1"), logs("a2")
	appendLogs(t, j, e0)
	appendLogs(t, j, e1)
	appendLogs(t, j, e2)
	archive.settle(e0, "a0", "b0")
	archive.settle(e1, "a1", "b1", "c1")
	siem.settle(e0, "a0", "b0")
	siem.settle(e1, "a1") // part of an entry: the entry is replayed whole
	// The collector is killed: nothing else reaches the storage.
	require.NoError(t, j.Close(context.Background()))

	logger, logs := observer.New(zapcore.InfoLevel)
	j2 := open(t, s, zap.New(logger), siem, archive)
	told := logs.FilterMessageSnippet("replaying them").All()
	require.Len(t, told, 1)
	assert.Equal(t, int64(2), told[0].ContextMap()["entries"])
	j2.Replay()
	j2.Stop()
	assert.Equal(t, []string{"a1", "b1", "c1", "a2"}, siem.got())
	assert.Equal(t, []string{"a2"}, archive.got(), "the archive had delivered the first two entries: not again")

	// The replayed records are waited for like new ones.
	assert.Equal(t, 2, j2.Stats().Pending)
	siem.settle(e1, "a1", "b1", "c1")
	siem.settle(e2, "a2")
	archive.settle(e2, "a2")
	assert.Zero(t, j2.Stats().Pending)
	assert.Empty(t, s.keys("e/"))
	assert.Empty(t, s.keys("d/"))
}

func TestAbandonedEntryIsForgotten(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := open(t, s, zap.NewNop(), siem)
	seq := appendLogs(t, j, logs("a"))
	j.Abandon(seq)
	assert.Empty(t, s.keys("e/"))
	assert.Zero(t, j.Stats().Tracked)
	// The sender's retry is a new entry, waited for as usual.
	ld := logs("a")
	seq2 := appendLogs(t, j, ld)
	assert.NotEqual(t, seq, seq2)
	siem.settle(ld, "a")
	assert.Empty(t, s.keys("e/"))
}

func TestFailedWriteRefusesTheCall(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := open(t, s, zap.NewNop(), siem)
	s.failOn = "e/"
	_, _, ok, err := j.Append(context.Background(), logs("a"))
	require.ErrorContains(t, err, "no space left")
	assert.False(t, ok)
	assert.Zero(t, j.Stats().Tracked, "nothing is waited for")
	s.failOn = ""
	appendLogs(t, j, logs("b"))
	assert.Equal(t, 1, j.Stats().Pending)
}

func TestRecordsWithoutEventIDAreNotJournaled(t *testing.T) {
	s := newStore()
	j := open(t, s, zap.NewNop(), newExporter(t, "siem"))
	_, _, ok, err := j.Append(context.Background(), logs("", ""))
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, s.keys("e/"))
}

func TestRepeatedEventIDsAreCountedEachTime(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := open(t, s, zap.NewNop(), siem)
	// Flagged records skip deduplication: two copies may be in flight, in
	// one call and in the next.
	first, second := logs("x", "x"), logs("x")
	appendLogs(t, j, first)
	appendLogs(t, j, second)
	siem.settle(first, "x") // both records of the first call
	assert.Equal(t, 1, j.Stats().Pending, "the oldest entry is settled first")
	assert.Len(t, s.keys("e/"), 1)
	siem.settle(second, "x")
	assert.Zero(t, j.Stats().Pending)
}

func TestUnregisteredExporterIsRefused(t *testing.T) {
	_, err := Open(context.Background(), Settings{
		Client: newStore().client(), Exporters: []component.ID{component.MustNewID("otlphttp")}, Logger: zap.NewNop(),
	})
	require.ErrorContains(t, err, `exporter "otlphttp" does not report what it delivered`)
}

func TestCorruptMiddleEntryIsReportedAndKeptAside(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := open(t, s, zap.NewNop(), siem)
	appendLogs(t, j, logs("a"))
	bad := appendLogs(t, j, logs("b"))
	appendLogs(t, j, logs("c"))
	require.NoError(t, j.Close(context.Background()))
	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02}
	s.kv[entryKey(bad)] = garbage

	core, logs := observer.New(zapcore.InfoLevel)
	j2 := open(t, s, zap.New(core), siem)
	j2.Replay()
	j2.Stop()
	assert.Equal(t, []string{"a", "c"}, siem.got(), "the entries beside it are replayed")
	reported := logs.FilterMessageSnippet("Journal entry unreadable").All()
	require.Len(t, reported, 1, "reported, not skipped silently")
	assert.Equal(t, bad, reported[0].ContextMap()["entry"])
	assert.Equal(t, zapcore.ErrorLevel, reported[0].Level)
	assert.Equal(t, garbage, s.kv[asideKey(bad)], "its bytes are kept")
	assert.NotContains(t, s.kv, entryKey(bad))
	require.NoError(t, j2.Close(context.Background()))

	// Every later start says so again.
	core3, logs3 := observer.New(zapcore.InfoLevel)
	open(t, s, zap.New(core3), siem)
	again := logs3.FilterMessageSnippet("unreadable entries").All()
	require.Len(t, again, 1)
	assert.Equal(t, fmt.Sprint(bad), again[0].ContextMap()["entries"])
}

func TestTruncatedEntryIsReported(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := open(t, s, zap.NewNop(), siem)
	appendLogs(t, j, logs("a"))
	last := appendLogs(t, j, logs("b", "c"))
	require.NoError(t, j.Close(context.Background()))
	v := s.kv[entryKey(last)]
	s.kv[entryKey(last)] = v[:len(v)-3] // cut inside the last record

	core, logs := observer.New(zapcore.InfoLevel)
	j2 := open(t, s, zap.New(core), siem)
	j2.Replay()
	j2.Stop()
	assert.Equal(t, []string{"a"}, siem.got())
	assert.Equal(t, 1, logs.FilterMessageSnippet("Journal entry unreadable").Len())
}

func TestHostileBoundsAreRefused(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	s.kv[keyNext] = []byte{1, 2, 3}
	_, err := Open(context.Background(), Settings{Client: s.client(), Exporters: []component.ID{siem.id}, Logger: zap.NewNop()})
	require.ErrorContains(t, err, `"next" holds 3 bytes`)
	s.kv[keyNext] = encodeSeq(5)
	s.kv[keyLow] = encodeSeq(9)
	_, err = Open(context.Background(), Settings{Client: s.client(), Exporters: []component.ID{siem.id}, Logger: zap.NewNop()})
	require.ErrorContains(t, err, "low 9 is past next 5")
}

func TestReplayStopsWhenAnExporterRefusesAndKeepsTheRest(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := open(t, s, zap.NewNop(), siem)
	appendLogs(t, j, logs("a"))
	appendLogs(t, j, logs("b"))
	require.NoError(t, j.Close(context.Background()))

	siem.fail = errors.New("queue is shutting down")
	j2 := open(t, s, zap.NewNop(), siem)
	j2.Replay()
	j2.Stop()
	require.NoError(t, j2.Close(context.Background()))
	assert.Len(t, s.keys("e/"), 2, "both stay for the next start")

	siem.fail = nil
	j3 := open(t, s, zap.NewNop(), siem)
	j3.Replay()
	j3.Stop()
	assert.Equal(t, []string{"a", "b"}, siem.got())
}

func TestClosesWhenTheLastExporterIsGone(t *testing.T) {
	s := newStore()
	siem, archive := newExporter(t, "siem"), newExporter(t, "archive")
	j := open(t, s, zap.NewNop(), siem, archive)
	ld := logs("a")
	appendLogs(t, j, ld)
	siem.unregister()
	// The archive drains its queue after the SIEM is gone: still counted.
	archive.settle(ld, "a")
	assert.Len(t, s.keys("d/"), 1)
	archive.unregister()
	_, _, _, err := j.Append(context.Background(), logs("b"))
	require.ErrorIs(t, err, ErrClosed)
}

func TestConcurrentAppendsAndSettles(t *testing.T) {
	s := newStore()
	siem, archive := newExporter(t, "siem"), newExporter(t, "archive")
	j := open(t, s, zap.NewNop(), siem, archive)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ld := logs(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("w%d-%d-b", w, i))
				// Not appendLogs: require may not stop the test from a
				// goroutine it spawned.
				if _, _, ok, err := j.Append(context.Background(), ld); err != nil || !ok {
					errs <- fmt.Errorf("append %d/%d: ok %v, %w", w, i, ok, err)
					return
				}
				go siem.settle(ld, collectIDs(ld)...)
				archive.settle(ld, collectIDs(ld)...)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return j.Stats().Pending == 0 }, 10*time.Second, time.Millisecond)
	assert.Empty(t, s.keys("e/"))
	assert.Empty(t, s.keys("d/"))
	assert.Equal(t, j.Stats().Next, j.Stats().LowBound)
}

func openSpilling(t *testing.T, s *store, maxUnsettled int, exps ...*fakeExporter) *Journal {
	t.Helper()
	var ids []component.ID
	for _, e := range exps {
		ids = append(ids, e.id)
	}
	j, err := Open(context.Background(), Settings{Client: s.client(), Exporters: ids, Logger: zap.NewNop(), MaxUnsettled: maxUnsettled})
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close(context.Background()) })
	return j
}

func appendSkips(t *testing.T, j *Journal, ld plog.Logs, exps ...*fakeExporter) []bool {
	t.Helper()
	ctx, _, ok, err := j.Append(context.Background(), ld)
	require.NoError(t, err)
	require.True(t, ok)
	out := make([]bool, len(exps))
	for i, e := range exps {
		out[i] = durable.Skipped(ctx, e.id)
	}
	return out
}

// An exporter far behind (the SIEM down) gets new calls from the journal
// as it catches up, in order, instead of in its queue at once; the other
// exporter gets each call once, at once; nothing is lost or repeated.
func TestExporterFarBehindIsRefilledInOrder(t *testing.T) {
	s := newStore()
	siem, archive := newExporter(t, "siem"), newExporter(t, "archive")
	j := openSpilling(t, s, 4, siem, archive)

	ld1 := logs("a", "b", "c")
	assert.Equal(t, []bool{false, false}, appendSkips(t, j, ld1, siem, archive))
	archive.settle(ld1, "a", "b", "c")

	ld2, ld3 := logs("d", "e"), logs("f")
	assert.Equal(t, []bool{true, false}, appendSkips(t, j, ld2, siem, archive), "3 unsettled + 2 > 4: the siem is left out")
	assert.Equal(t, []bool{true, false}, appendSkips(t, j, ld3, siem, archive), "once spilling, every call waits in the journal until it caught up")
	archive.settle(ld2, "d", "e")
	archive.settle(ld3, "f")
	assert.Equal(t, 3, j.Stats().Pending, "the entries wait for the siem")
	assert.Equal(t, 3, j.Stats().Tracked, "only a, b and c, handed to the siem, are tracked: waiting entries keep no id in memory")
	assert.Empty(t, siem.got())

	siem.settle(ld1, "a", "b") // 1 unsettled: at most half of 4, the refill starts
	require.Eventually(t, func() bool { return len(siem.got()) == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"d", "e", "f"}, siem.got(), "handed in order")
	siem.settle(ld1, "c")
	siem.settle(ld2, "d", "e")
	siem.settle(ld3, "f")
	require.Eventually(t, func() bool { return j.Stats().Pending == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Empty(t, s.keys("e/"), "delivered entries are deleted")
	assert.Empty(t, s.keys("d/"))

	// Caught up: calls go to the siem's queue again.
	require.Eventually(t, func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return !j.spilling[0] && !j.refilling[0]
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []bool{false, false}, appendSkips(t, j, logs("g"), siem, archive))
	assert.Equal(t, []string{"d", "e", "f"}, siem.got(), "nothing handed twice")
	assert.Empty(t, archive.got(), "the archive got every call from the pipeline, none from the journal")
}

// A single call larger than the bound still goes to an exporter that has
// nothing unsettled (it would otherwise wait forever).
func TestLargeCallGoesToAnIdleExporter(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := openSpilling(t, s, 2, siem)
	assert.Equal(t, []bool{false}, appendSkips(t, j, logs("a", "b", "c", "d"), siem))
	assert.Equal(t, []bool{true}, appendSkips(t, j, logs("e"), siem))
}

// Entries waiting for an exporter survive a restart, and are replayed to
// it alone: the archive, which had them, gets none again.
func TestWaitingEntriesSurviveARestart(t *testing.T) {
	s := newStore()
	siem, archive := newExporter(t, "siem"), newExporter(t, "archive")
	j := openSpilling(t, s, 1, siem, archive)
	ld1, ld2, ld3 := logs("a"), logs("b"), logs("c")
	appendSkips(t, j, ld1, siem, archive)
	archive.settle(ld1, "a")
	assert.Equal(t, []bool{true, false}, appendSkips(t, j, ld2, siem, archive))
	archive.settle(ld2, "b")
	assert.Equal(t, []bool{true, false}, appendSkips(t, j, ld3, siem, archive))
	archive.settle(ld3, "c")
	require.NoError(t, j.Close(context.Background()))

	j2 := openSpilling(t, s, 1, siem, archive)
	j2.Replay()
	require.Eventually(t, func() bool { return len(siem.got()) == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"a", "b", "c"}, siem.got())
	assert.Empty(t, archive.got())
}

// A refill that the exporter refuses (shutting down) is tried again with
// the next report, from the same entry.
func TestRefillRefusedIsRetried(t *testing.T) {
	s := newStore()
	siem, archive := newExporter(t, "siem"), newExporter(t, "archive")
	j := openSpilling(t, s, 2, siem, archive)
	ld1, ld2 := logs("a", "b"), logs("c")
	appendSkips(t, j, ld1, siem, archive)
	archive.settle(ld1, "a", "b")
	assert.Equal(t, []bool{true, false}, appendSkips(t, j, ld2, siem, archive))
	archive.settle(ld2, "c")

	siem.mu.Lock()
	siem.fail = errors.New("queue is shutting down")
	siem.mu.Unlock()
	siem.settle(ld1, "a") // refill starts and is refused
	require.Eventually(t, func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return !j.refilling[0]
	}, 5*time.Second, 5*time.Millisecond)
	assert.Empty(t, siem.got())
	siem.mu.Lock()
	siem.fail = nil
	siem.mu.Unlock()
	siem.settle(ld1, "b")
	require.Eventually(t, func() bool { return len(siem.got()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"c"}, siem.got())
}

// BenchmarkWaitingEntryMemory reports the heap an entry waiting for an
// exporter far behind costs (its event ids stay tracked, to match the
// exporter's reports once it gets the entry): -benchtime 100000x.
func BenchmarkWaitingEntryMemory(b *testing.B) {
	s := newStore()
	siem := &fakeExporter{id: component.MustNewID("siem")}
	c, _ := consumer.NewLogs(func(context.Context, plog.Logs) error { return nil })
	unregister := durable.RegisterExporter(siem.id, c)
	defer unregister()
	j, err := Open(context.Background(), Settings{Client: s.client(), Exporters: []component.ID{siem.id}, Logger: zap.NewNop(), MaxUnsettled: 1})
	require.NoError(b, err)
	defer j.Close(context.Background())
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ld := logs(fmt.Sprintf("%08x-6c54-4b01-90e6-d701748f0851", i))
		if _, _, _, err := j.Append(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	s.mu.Lock()
	s.kv = map[string][]byte{} // the storage's copy is the disk's, not the heap's
	s.mu.Unlock()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-B/event")
	runtime.KeepAlive(j)
}

// queuedExporter stands for an exporter with a sending queue: calls from
// the pipeline (unless the context says skip) and from the journal's
// replay consumer go to its queue; a consumer delivers them, settling
// each, unless the exporter is down (its SIEM away), when it waits.
type queuedExporter struct {
	id        component.ID
	queue     chan plog.Logs
	mu        sync.Mutex
	delivered map[string]int
	down      bool
	done      chan struct{}
}

func newQueuedExporter(t *testing.T, name string) *queuedExporter {
	e := &queuedExporter{
		id:    component.MustNewIDWithName("test", name+strings.ReplaceAll(t.Name(), "/", "_")),
		queue: make(chan plog.Logs, 100_000), delivered: map[string]int{}, done: make(chan struct{}),
	}
	c, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		e.queue <- ld
		return nil
	})
	require.NoError(t, err)
	t.Cleanup(durable.RegisterExporter(e.id, c))
	go func() {
		defer close(e.done)
		for ld := range e.queue {
			for {
				e.mu.Lock()
				down := e.down
				e.mu.Unlock()
				if !down {
					break
				}
				time.Sleep(time.Millisecond)
			}
			e.mu.Lock()
			for _, id := range collectIDs(ld) {
				e.delivered[id]++
			}
			e.mu.Unlock()
			durable.Settled(e.id, ld, nil)
		}
	}()
	t.Cleanup(func() { close(e.queue); <-e.done })
	return e
}

func (e *queuedExporter) setDown(down bool) {
	e.mu.Lock()
	e.down = down
	e.mu.Unlock()
}

func (e *queuedExporter) counts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.delivered)
}

// Four writers append while the SIEM goes down and comes back twice; the
// SIEM falls behind, spills, and is refilled. Each exporter delivers every
// event exactly once, and the journal ends empty.
func TestSpillUnderConcurrentLoad(t *testing.T) {
	s := newStore()
	siem, archive := newQueuedExporter(t, "siem"), newQueuedExporter(t, "archive")
	core, observed := observer.New(zapcore.InfoLevel)
	j, err := Open(context.Background(), Settings{Client: s.client(), Exporters: []component.ID{siem.id, archive.id}, Logger: zap.New(core), MaxUnsettled: 50})
	require.NoError(t, err)
	defer j.Close(context.Background())

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	const writers, calls = 4, 300
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				ld := logs(fmt.Sprintf("w%d-%d-a", w, i), fmt.Sprintf("w%d-%d-b", w, i), fmt.Sprintf("w%d-%d-c", w, i))
				ctx, _, ok, err := j.Append(context.Background(), ld)
				if err != nil || !ok {
					errs <- fmt.Errorf("append %d/%d: ok %v, %w", w, i, ok, err)
					return
				}
				// The fan-out: each exporter that is not told to skip gets
				// a copy.
				for _, e := range []*queuedExporter{siem, archive} {
					if !durable.Skipped(ctx, e.id) {
						cp := plog.NewLogs()
						ld.CopyTo(cp)
						e.queue <- cp
					}
				}
				if i == calls/4 || i == calls*2/3 {
					siem.setDown(true)
					time.Sleep(20 * time.Millisecond)
				}
				if i == calls/2 || i == calls-1 {
					siem.setDown(false)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	siem.setDown(false)
	want := writers * calls * 3
	require.Eventually(t, func() bool { return j.Stats().Pending == 0 }, 30*time.Second, time.Millisecond,
		"everything delivered by both; siem has %d of %d", len(siem.counts()), want)
	for name, e := range map[string]*queuedExporter{"siem": siem, "archive": archive} {
		got := e.counts()
		require.Len(t, got, want, name)
		for id, n := range got {
			require.Equal(t, 1, n, "%s got %s %d times", name, id, n)
		}
	}
	assert.Empty(t, s.keys("e/"))
	assert.Empty(t, s.keys("d/"))
	assert.Zero(t, j.Stats().Tracked)
	behind := observed.FilterMessageSnippet("Exporter far behind").Len()
	caughtUp := observed.FilterMessageSnippet("Exporter caught up").Len()
	t.Logf("the siem fell behind %d times, caught up %d times", behind, caughtUp)
	assert.Positive(t, behind, "the load made the siem spill")
	assert.Equal(t, behind, caughtUp, "and it caught up each time")
}
