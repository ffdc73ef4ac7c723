package coalesce

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ctxKey struct{}

func TestDeadlineCtxEndsAtItsDeadline(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	cancelParent()
	deadline := time.Now().Add(50 * time.Millisecond)
	c := newDeadlineCtx(parent, deadline)
	defer c.cancel()

	assert.Equal(t, "v", c.Value(ctxKey{}), "the request's values go with the call")
	assert.NoError(t, c.Err(), "the request's cancellation does not")
	d, ok := c.Deadline()
	assert.True(t, ok)
	assert.Equal(t, deadline, d)

	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the deadline")
	}
	require.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	c.cancel()
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded, "the first end stays")
}

func TestDeadlineCtxPastDeadlineWithoutDone(t *testing.T) {
	c := newDeadlineCtx(context.Background(), time.Now().Add(-time.Millisecond))
	require.ErrorIs(t, c.Err(), context.DeadlineExceeded, "Err sees a passed deadline though nobody asked for Done")
	select {
	case <-c.Done():
	default:
		t.Fatal("Done must be closed once Err is not nil")
	}
}

func TestDeadlineCtxCancel(t *testing.T) {
	c := newDeadlineCtx(context.Background(), time.Now().Add(time.Hour))
	done := c.Done()
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	c.cancel()
	<-done
	assert.ErrorIs(t, c.Err(), context.Canceled)
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context derived from the call's did not end with it")
	}
	c.cancel() // twice is harmless
}

func TestDeadlineCtxWaitingInAFullQueue(t *testing.T) {
	// What a blocking sending queue does: wait on Done until space or the
	// deadline, whichever first.
	c := newDeadlineCtx(context.Background(), time.Now().Add(20*time.Millisecond))
	defer c.cancel()
	space := make(chan struct{})
	select {
	case <-space:
		t.Fatal("no space was made")
	case <-c.Done():
	}
	assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
}
