package coalesce

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-audit/otelcol-audit/internal/durable"
)

// syncer stands in for a storage that deferred its fsync to the call's
// ticket: Sync blocks until release is closed.
type syncer struct {
	calls   atomic.Int32
	release chan struct{}
	err     error
}

func (s *syncer) Sync() error {
	s.calls.Add(1)
	<-s.release
	return s.err
}

// deferring is a pipeline whose every call writes to s without syncing.
func deferring(t *testing.T, s *syncer, calls *atomic.Int32) ConsumeFunc {
	return func(ctx context.Context, _ plog.Logs, _ int) error {
		calls.Add(1)
		if !durable.Defer(ctx, s) {
			t.Error("the call's context carries no ticket")
		}
		return nil
	}
}

// A request is answered only once the storage its call wrote to is
// synced, and the next call goes into the pipeline meanwhile.
func TestAnsweredOnlyAfterTheSync(t *testing.T) {
	s := &syncer{release: make(chan struct{})}
	var calls atomic.Int32
	sub := New(deferring(t, s, &calls), newLogs, 100, 0, 1, time.Minute)
	done := make(chan error, 2)
	submit := func(name string) {
		_, err := sub.Submit(context.Background(), request(name, 1))
		done <- err
	}
	go submit("a")
	require.Eventually(t, func() bool { return s.calls.Load() == 1 }, 10*time.Second, time.Millisecond)
	go submit("b")
	require.Eventually(t, func() bool { return calls.Load() == 2 }, 10*time.Second, time.Millisecond,
		"the next call runs while the first waits for its sync")
	select {
	case err := <-done:
		t.Fatalf("answered before the sync: %v", err)
	default:
	}
	close(s.release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	assert.Equal(t, int32(2), s.calls.Load(), "one sync per call")
}

// A failed sync refuses the call's requests (the sender retries).
func TestAFailedSyncRefusesTheCall(t *testing.T) {
	s := &syncer{release: make(chan struct{}), err: errors.New("disk gone")}
	close(s.release)
	var calls atomic.Int32
	for _, sub := range []*Submitter{
		New(deferring(t, s, &calls), newLogs, 100, 0, 1, time.Minute),
		NewAlone(deferring(t, s, &calls), newLogs, 100, time.Minute),
	} {
		n, err := sub.Submit(context.Background(), request("a", 1))
		require.ErrorIs(t, err, errNotDurable)
		assert.ErrorContains(t, err, "disk gone")
		assert.Zero(t, n)
	}
}
