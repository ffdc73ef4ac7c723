package durable

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
