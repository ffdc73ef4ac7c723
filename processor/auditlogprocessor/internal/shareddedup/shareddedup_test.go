package shareddedup

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor/internal/dedup"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, dsn string, window time.Duration) *Store {
	t.Helper()
	s, err := Open(Config{DSN: dsn, Table: "dedup_test", Window: window, Timeout: 2 * time.Second, Backoff: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// Two stores on one database stand for two collectors: a key one recorded
// is seen by the other, within the window only.
func TestSharedAcrossInstances(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	a, b := open(t, pg.DSN(), time.Hour), open(t, pg.DSN(), time.Hour)
	k1, k2, k3 := dedup.KeyOf("glassix", "1"), dedup.KeyOf("glassix", "2"), dedup.KeyOf("sippy", "1")

	seen, err := b.Seen(ctx, []dedup.Key{k1, k2})
	require.NoError(t, err)
	assert.Empty(t, seen, "nothing recorded yet")

	require.NoError(t, a.Record(ctx, []dedup.Key{k1, k1, k3}), "a repeated key in one batch is fine")
	seen, err = b.Seen(ctx, []dedup.Key{k1, k2, k3})
	require.NoError(t, err)
	assert.Equal(t, map[dedup.Key]bool{k1: true, k3: true}, seen)

	short := open(t, pg.DSN(), time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	seen, err = short.Seen(ctx, []dedup.Key{k1})
	require.NoError(t, err)
	assert.Empty(t, seen, "outside the window a key is not seen")
}

// A database that is down is reported at once after the first failure
// (back-off), and the store works again once the database is back.
func TestDatabaseDownThenBack(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	s := open(t, pg.DSN(), time.Hour)
	k := dedup.KeyOf("glassix", "down")
	require.NoError(t, s.Record(ctx, []dedup.Key{k}))

	pg.Stop()
	pg.WaitDown()
	_, err := s.Seen(ctx, []dedup.Key{k})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnavailable, "the first failure is the database's own error")
	_, err = s.Seen(ctx, []dedup.Key{k})
	assert.ErrorIs(t, err, ErrUnavailable, "then the store backs off without waiting")
	assert.ErrorIs(t, s.Record(ctx, []dedup.Key{k}), ErrUnavailable)

	pg.Start()
	require.Eventually(t, func() bool {
		seen, err := s.Seen(ctx, []dedup.Key{k})
		return err == nil && seen[k]
	}, 30*time.Second, 100*time.Millisecond, "what was recorded before the outage is still seen")
}

func TestBadDSN(t *testing.T) {
	assert.Error(t, ValidateDSN("postgres://host:notaport/db"))
	assert.NoError(t, ValidateDSN("postgres://user@127.0.0.1:5432/audit?sslmode=disable"))
	assert.NoError(t, ValidateDSN("host=127.0.0.1 user=audit dbname=audit"))
}

// Collectors that start together create the table at once: none fails.
func TestConcurrentFirstUse(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	errs := make(chan error, 8)
	for i := range 8 {
		s := open(t, pg.DSN(), time.Hour)
		go func() { errs <- s.Record(ctx, []dedup.Key{dedup.KeyOf("glassix", strconv.Itoa(i))}) }()
	}
	for range 8 {
		assert.NoError(t, <-errs)
	}
}

// Recording does not wait for the server's WAL flush (see Open): the
// sessions run with synchronous_commit off, and a key recorded is seen by
// another collector at once all the same.
func TestRecordDoesNotWaitForTheFlush(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	a, b := open(t, pg.DSN(), time.Hour), open(t, pg.DSN(), time.Hour)
	var v string
	require.NoError(t, a.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v))
	assert.Equal(t, "off", v)
	k := dedup.KeyOf("glassix", "flush")
	require.NoError(t, a.Record(ctx, []dedup.Key{k}))
	seen, err := b.Seen(ctx, []dedup.Key{k})
	require.NoError(t, err)
	assert.True(t, seen[k])
}

// The sessions plan each lookup for the table as it is (a generic plan
// kept from when the table was empty scans it whole) and do not wait for
// the WAL flush at commit.
func TestSessionSettings(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	s := open(t, pg.DSN(), time.Hour)
	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for setting, want := range map[string]string{"plan_cache_mode": "force_custom_plan", "synchronous_commit": "off"} {
		var got string
		require.NoError(t, conn.QueryRow(ctx, "SHOW "+setting).Scan(&got))
		assert.Equal(t, want, got, setting)
	}
}

// Keys queued from many calls at once are all recorded, in as many
// statements as the flusher needs (calls queued while one runs share the
// next), and each caller's Pending answers once its keys are in.
func TestRecordLaterGroupsCalls(t *testing.T) {
	pg := pgtest.Start(t)
	a, b := open(t, pg.DSN(), time.Hour), open(t, pg.DSN(), time.Hour)
	var keys []dedup.Key
	var pending []*Pending
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		k := dedup.KeyOf("glassix", fmt.Sprint("later-", i))
		keys = append(keys, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := a.RecordLater([]dedup.Key{k, k})
			mu.Lock()
			pending = append(pending, p)
			mu.Unlock()
		}()
	}
	wg.Wait()
	distinct := map[*Pending]bool{}
	for _, p := range pending {
		require.NoError(t, p.Wait())
		distinct[p] = true
	}
	t.Logf("50 calls recorded in %d statements", len(distinct))
	seen, err := b.Seen(context.Background(), keys)
	require.NoError(t, err)
	assert.Len(t, seen, 50, "every key is in once its Pending answered")
}

// Close waits for the keys queued before it.
func TestCloseWaitsForQueuedKeys(t *testing.T) {
	pg := pgtest.Start(t)
	a, err := Open(Config{DSN: pg.DSN(), Table: "dedup_test", Window: time.Hour, Timeout: 5 * time.Second, Backoff: time.Second})
	require.NoError(t, err)
	k := dedup.KeyOf("glassix", "close")
	p := a.RecordLater([]dedup.Key{k})
	a.Close()
	select {
	case <-p.done:
	default:
		t.Fatal("Close returned before the queued keys' statement ended")
	}
	require.NoError(t, p.Wait())
	b := open(t, pg.DSN(), time.Hour)
	seen, err := b.Seen(context.Background(), []dedup.Key{k})
	require.NoError(t, err)
	assert.True(t, seen[k])
}
