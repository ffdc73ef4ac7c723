package auditlogprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/testutil"
)

// replayed is an exporter registered as reporting its deliveries; it
// records what the journal replays to it.
type replayed struct {
	id         component.ID
	mu         sync.Mutex
	got        []plog.Logs
	unregister func()
}

func registerExporter(t *testing.T, name string) *replayed {
	r := &replayed{id: component.MustNewIDWithName("rfc5424", name)}
	c, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, ld)
		return nil
	})
	require.NoError(t, err)
	r.unregister = durable.RegisterExporter(r.id, c)
	t.Cleanup(r.unregister)
	return r
}

func (r *replayed) records() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ld := range r.got {
		n += ld.LogRecordCount()
	}
	return n
}

func journalConfig(storageID component.ID, exps ...*replayed) *Config {
	cfg := defaultConfig()
	cfg.Dedup.Storage = &storageID
	cfg.Journal.Storage = &storageID
	for _, e := range exps {
		cfg.Journal.Exporters = append(cfg.Journal.Exporters, e.id)
	}
	return cfg
}

// run starts the processor on the storage in dir with the exporters
// registered, passes batches (a refusing next when refuse is set), lets
// the exporters settle what settle says, and stops as the collector does:
// processor first, then the exporters (which close the journal).
func runJournal(t *testing.T, dir string, refuse bool, settle func(siem, archive component.ID, delivered []plog.Logs), batches ...plog.Logs) (siem, archive *replayed, replaying bool) {
	t.Helper()
	storageID := component.MustNewIDWithName("file_storage", "journal")
	ext, stop := testutil.StartFileStorage(t, dir)
	defer stop()
	siem, archive = registerExporter(t, "siem"), registerExporter(t, "archive")
	var next consumer.Logs = new(consumertest.LogsSink)
	if refuse {
		next = consumertest.NewErr(errors.New("queue is full"))
	}
	cfg := journalConfig(storageID, siem, archive)
	set := processortestSettings()
	core, logs := observer.New(zapcore.InfoLevel)
	set.Logger = zap.New(core)
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), testutil.Host{storageID: ext}))
	// Open finds the entries to replay before Start returns; the replay
	// itself runs in the background until it says it handed them over.
	replaying = logs.FilterMessageSnippet("replaying them").Len() > 0
	if replaying {
		require.Eventually(t, func() bool { return logs.FilterMessageSnippet("Journal replay handed over").Len() > 0 },
			30*time.Second, time.Millisecond)
	}
	var delivered []plog.Logs
	for _, ld := range batches {
		ctx, ticket := durable.WithTicket(context.Background())
		err := p.ConsumeLogs(ctx, ld)
		if refuse {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err)
		require.NoError(t, ticket.Wait())
		delivered = append(delivered, ld)
	}
	if settle != nil {
		settle(siem.id, archive.id, delivered)
	}
	require.NoError(t, p.Shutdown(context.Background()))
	siem.unregister()
	archive.unregister()
	return siem, archive, replaying
}

func glassixBatch(t *testing.T, n int) plog.Logs {
	events := make([]vendorEvent, n)
	for i := range events {
		events[i] = sippyEvent("U", fmt.Sprintf("a:i=%d", i), "c:1:0:bob")
	}
	return logsOf(vendorResource(t, "sippy", events...))
}

func TestJournalReplaysToTheExportersThatHadNotDelivered(t *testing.T) {
	dir := t.TempDir()
	_, _, replaying := runJournal(t, dir, false, func(siem, archive component.ID, delivered []plog.Logs) {
		// The archive delivered both calls, the SIEM the first only; then
		// the collector stops before the SIEM is back.
		durable.Settled(archive, delivered[0], nil)
		durable.Settled(archive, delivered[1], nil)
		durable.Settled(siem, delivered[0], nil)
	}, glassixBatch(t, 2), logsOf(vendorResource(t, "sippy", sippyEvent("U", "a:i=9", "c:1:0:bob"))))
	require.False(t, replaying)

	siem, archive, replaying := runJournal(t, dir, false, nil)
	require.True(t, replaying)
	assert.Equal(t, 1, siem.records(), "the SIEM gets the call it had not delivered")
	assert.Zero(t, archive.records(), "the archive had delivered both: nothing again")
}

func TestJournalForgetsDeliveredCalls(t *testing.T) {
	dir := t.TempDir()
	runJournal(t, dir, false, func(siem, archive component.ID, delivered []plog.Logs) {
		for _, ld := range delivered {
			durable.Settled(archive, ld, nil)
			durable.Settled(siem, ld, nil)
		}
	}, glassixBatch(t, 3))
	siem, archive, replaying := runJournal(t, dir, false, nil)
	require.False(t, replaying, "nothing left to replay")
	assert.Zero(t, siem.records())
	assert.Zero(t, archive.records())
}

func TestJournalForgetsRefusedCalls(t *testing.T) {
	dir := t.TempDir()
	runJournal(t, dir, true, nil, glassixBatch(t, 2))
	siem, archive, replaying := runJournal(t, dir, false, nil)
	require.False(t, replaying, "nothing left to replay")
	assert.Zero(t, siem.records(), "a refused call was not acknowledged: its sender sends it again")
	assert.Zero(t, archive.records())
}

// The journal's write is part of the call's group commit: in the call's
// context, before ConsumeLogs returns.
func TestJournalWritesInTheCallsContext(t *testing.T) {
	storageID := component.MustNewIDWithName("file_storage", "journal")
	ext, stop := testutil.StartFileStorage(t, t.TempDir())
	defer stop()
	counting := &countingStorage{Extension: ext}
	siem := registerExporter(t, "siem")
	h := start(t, journalConfig(storageID, siem), nil, testutil.Host{storageID: counting})
	ctx, ticket := durable.WithTicket(context.Background())
	before := counting.batches.Load()
	require.NoError(t, h.proc.ConsumeLogs(ctx, glassixBatch(t, 1)))
	assert.Equal(t, before+2, counting.batches.Load(), "one journal write and one dedup save")
	for _, tk := range counting.tickets[before:] {
		assert.Same(t, ticket, tk)
	}
}

func TestJournalNeedsReportingExporters(t *testing.T) {
	storageID := component.MustNewIDWithName("file_storage", "journal")
	ext, stop := testutil.StartFileStorage(t, t.TempDir())
	defer stop()
	cfg := defaultConfig()
	cfg.Journal.Storage = &storageID
	cfg.Journal.Exporters = []component.ID{component.MustNewID("otlphttp")}
	p, err := NewFactory().CreateLogs(context.Background(), processortestSettings(), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = p.Start(context.Background(), testutil.Host{storageID: ext})
	assert.ErrorContains(t, err, `journal: exporter "otlphttp" does not report what it delivered`)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestJournalConfigValidation(t *testing.T) {
	id := component.MustNewID("walstorage")
	cfg := defaultConfig()
	cfg.Journal.Storage = &id
	assert.ErrorContains(t, cfg.Validate(), "journal::exporters: must name the exporters")
	cfg = defaultConfig()
	cfg.Journal.Exporters = []component.ID{component.MustNewID("rfc5424")}
	assert.ErrorContains(t, cfg.Validate(), "journal::storage: must be set")
	cfg.Journal.Storage = &id
	cfg.Journal.Exporters = append(cfg.Journal.Exporters, component.MustNewID("rfc5424"))
	assert.ErrorContains(t, cfg.Validate(), `journal::exporters: "rfc5424" is listed twice`)
	cfg = defaultConfig()
	cfg.Journal.Storage = &id
	cfg.Journal.Exporters = []component.ID{component.MustNewID("rfc5424")}
	cfg.Journal.MaxUnsettled = -1
	assert.ErrorContains(t, cfg.Validate(), "journal::max_unsettled: must not be negative, got -1")
}
