package inflight

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// expired is a context that has already ended: a Grow that has to wait
// returns at once, which tests "would wait" without a clock.
func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestLeasesAreGrantedUpToTheCapacity(t *testing.T) {
	l := New(100)
	a, b := l.Lease(), l.Lease()
	require.NoError(t, a.Grow(context.Background(), 60))
	require.NoError(t, b.Grow(context.Background(), 40))
	assert.Equal(t, int64(100), l.InUse())

	c := l.Lease()
	assert.ErrorIs(t, c.Grow(expired(), 1), context.Canceled, "full: the request waits, and gives up when its context ends")
	assert.Zero(t, c.Held(), "a refused grow holds nothing")
	assert.ErrorIs(t, b.Grow(expired(), 1), context.Canceled)
	assert.Equal(t, int64(40), b.Held(), "a refused grow keeps what the lease held")

	a.Release()
	assert.Equal(t, int64(40), l.InUse())
	require.NoError(t, c.Grow(expired(), 60), "what fits is granted without waiting")
	b.Release()
	c.Release()
	c.Release() // twice is harmless
	assert.Zero(t, l.InUse())
}

func TestALeaseLargerThanTheCapacityIsRefusedAtOnce(t *testing.T) {
	l := New(100)
	s := l.Lease()
	require.NoError(t, s.Grow(context.Background(), 80))
	err := s.Grow(context.Background(), 21) // would wait forever
	require.ErrorIs(t, err, ErrOverCapacity)
	assert.EqualError(t, err, "leasing 101 bytes: more than the whole capacity of 100 bytes")
	assert.Equal(t, int64(80), l.InUse())
	s.Release()
}

func TestAWaitingLeaseGoesWhenBytesAreGivenBack(t *testing.T) {
	l := New(100)
	big := l.Lease()
	require.NoError(t, big.Grow(context.Background(), 90))

	granted := make(chan error, 1)
	waiter := l.Lease()
	go func() { granted <- waiter.Grow(context.Background(), 50) }()

	// A small lease that fits is not held up behind the waiting one.
	small := l.Lease()
	require.NoError(t, small.Grow(expired(), 10))
	small.Release()

	big.Release()
	select {
	case err := <-granted:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the waiting lease was not granted after the bytes were given back")
	}
	assert.Equal(t, int64(50), l.InUse())
	waiter.Release()
	assert.Zero(t, l.InUse())
}

func TestAWaitingLeaseGivesUpAtItsDeadline(t *testing.T) {
	l := New(10)
	full := l.Lease()
	require.NoError(t, full.Grow(context.Background(), 10))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	s := l.Lease()
	assert.ErrorIs(t, s.Grow(ctx, 1), context.DeadlineExceeded)
	assert.Zero(t, s.Held())
	full.Release()
	assert.Zero(t, l.InUse())
}

// Many requests leasing, growing and giving back at once never hold more
// than the capacity together, and leave nothing held. A request waits only
// while it holds nothing; a further piece that does not fit at once ends
// it, as the receiver's deadline ends a request that holds part of its
// body and waits for the rest (two such requests could otherwise wait for
// each other forever).
func TestConcurrentLeasesStayWithinTheCapacity(t *testing.T) {
	const capacity = 1000
	l := New(capacity)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				s := l.Lease()
				require.NoError(t, s.Grow(context.Background(), int64(1+(g*7+i)%100)))
				for range 2 {
					if s.Grow(expired(), int64(1+(g+i)%50)) != nil {
						break
					}
					assert.LessOrEqual(t, l.InUse(), int64(capacity))
				}
				assert.LessOrEqual(t, l.InUse(), int64(capacity))
				s.Release()
			}
		})
	}
	wg.Wait()
	assert.Zero(t, l.InUse())
}

func TestTryGrowNeverWaits(t *testing.T) {
	l := New(100)
	a, b := l.Lease(), l.Lease()
	ok, err := a.TryGrow(70)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = b.TryGrow(40)
	require.NoError(t, err)
	assert.False(t, ok, "does not fit now: reported at once, nothing held")
	assert.Zero(t, b.Held())
	assert.Equal(t, int64(70), l.InUse())
	_, err = b.TryGrow(101)
	require.ErrorIs(t, err, ErrOverCapacity, "could never fit")
	ok, err = b.TryGrow(0)
	require.NoError(t, err)
	assert.True(t, ok)
	a.Release()
	ok, err = b.TryGrow(40)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(40), l.InUse())
	b.Release()
}
