package durable

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type syncer struct {
	calls int
	err   error
}

func (s *syncer) Sync() error {
	s.calls++
	return s.err
}

func TestDeferWithoutTicketLeavesTheSyncToTheCaller(t *testing.T) {
	assert.False(t, Defer(context.Background(), &syncer{}))
	assert.Nil(t, FromContext(context.Background()))
}

func TestWaitSyncsEachSyncerOnce(t *testing.T) {
	ctx, ticket := WithTicket(context.Background())
	a, b := &syncer{}, &syncer{}
	assert.True(t, Defer(ctx, a))
	assert.True(t, Defer(ctx, b))
	assert.True(t, Defer(ctx, a))
	assert.Same(t, ticket, FromContext(ctx))
	assert.Equal(t, 2, ticket.Pending())
	require.NoError(t, ticket.Wait())
	assert.Equal(t, 1, a.calls)
	assert.Equal(t, 1, b.calls)
	require.NoError(t, ticket.Wait(), "an empty ticket has nothing to sync")
	assert.Equal(t, 1, a.calls)
}

func TestWaitReportsEveryFailure(t *testing.T) {
	ctx, ticket := WithTicket(context.Background())
	errA, errB := errors.New("disk a gone"), errors.New("disk b gone")
	Defer(ctx, &syncer{err: errA})
	Defer(ctx, &syncer{err: errB})
	err := ticket.Wait()
	assert.ErrorIs(t, err, errA)
	assert.ErrorIs(t, err, errB)
}

func TestRegistrationStartAndStop(t *testing.T) {
	id := component.MustNewIDWithName("rfc5424", "registration")
	var r Registration

	// A start that fails registers nothing.
	require.Error(t, r.Start(id, consumertest.NewNop(), func() error { return errors.New("no") }))
	_, _, ok := Watch(id, func(plog.Logs, func(int) bool) {}, func() {})
	assert.False(t, ok, "registered although its start failed")

	require.NoError(t, r.Start(id, consumertest.NewNop(), func() error { return nil }))
	gone := make(chan struct{})
	_, stop, ok := Watch(id, func(plog.Logs, func(int) bool) {}, func() { close(gone) })
	require.True(t, ok, "not registered after its start")
	defer stop()

	// Stop shuts down first, then unregisters (the watcher is told), and
	// reports the shutdown's error; a second Stop is harmless.
	shutdownErr := errors.New("shutdown")
	require.ErrorIs(t, r.Stop(func() error {
		select {
		case <-gone:
			t.Error("unregistered before the exporter shut down")
		default:
		}
		return shutdownErr
	}), shutdownErr)
	<-gone
	require.NoError(t, r.Stop(func() error { return nil }))
}

func TestSkipped(t *testing.T) {
	a, b := component.MustNewID("rfc5424"), component.MustNewIDWithName("auditfile", "x")
	ctx := context.Background()
	assert.False(t, Skipped(ctx, a))
	assert.Equal(t, ctx, WithSkip(ctx, nil), "nothing to skip: the context is unchanged")
	sctx := WithSkip(ctx, []component.ID{a})
	assert.True(t, Skipped(sctx, a))
	assert.False(t, Skipped(sctx, b))
	assert.False(t, Skipped(sctx, component.MustNewIDWithName("rfc5424", "other")))
}

func TestEventIDsCountsAcrossResourcesAndScopes(t *testing.T) {
	ld := plog.NewLogs()
	for _, ids := range [][]string{{"a", ""}, {"b"}} {
		rl := ld.ResourceLogs().AppendEmpty()
		for _, id := range ids {
			sl := rl.ScopeLogs().AppendEmpty() // a scope per record: ordinals go on across them
			r := sl.LogRecords().AppendEmpty()
			if id != "" {
				r.Attributes().PutStr("audit.event_id", id)
			}
		}
	}
	var got []string
	for ord, id := range EventIDs(ld) {
		got = append(got, fmt.Sprint(ord, ":", id))
	}
	assert.Equal(t, []string{"0:a", "1:", "2:b"}, got)
	for ord := range EventIDs(ld) {
		require.Zero(t, ord, "a loop that stops stops the walk")
		break
	}
}
