package coalesce // import "github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver/internal/coalesce"

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is a call's context: the values of the request that starts
// the call, none of its cancellation, and the call's deadline. Unlike
// context.WithDeadline it arms no timer until something asks for Done:
// the pipeline waits on a call's context only when a sending queue is full
// and blocks, so at one request per call the timer of every call (armed,
// then stopped) was a cost for nothing.
type deadlineCtx struct {
	context.Context // context.WithoutCancel of the request's: values only
	deadline        time.Time

	mu    sync.Mutex
	done  chan struct{}
	timer *time.Timer
	err   error
}

func newDeadlineCtx(parent context.Context, deadline time.Time) *deadlineCtx {
	return &deadlineCtx{Context: context.WithoutCancel(parent), deadline: deadline}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if d := time.Until(c.deadline); d <= 0 {
			c.endLocked(context.DeadlineExceeded)
		} else {
			c.timer = time.AfterFunc(d, func() { c.end(context.DeadlineExceeded) })
		}
	}
	return c.done
}

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.done == nil && !time.Now().Before(c.deadline) {
		c.done = make(chan struct{})
		c.endLocked(context.DeadlineExceeded)
	}
	return c.err
}

func (c *deadlineCtx) String() string { return "coalesce.deadlineCtx" }

// cancel ends the context, as a context.CancelFunc does.
func (c *deadlineCtx) cancel() { c.end(context.Canceled) }

func (c *deadlineCtx) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	if c.done == nil {
		c.done = make(chan struct{})
	}
	c.endLocked(err)
}

func (c *deadlineCtx) endLocked(err error) {
	c.err = err
	close(c.done)
	if c.timer != nil {
		c.timer.Stop()
	}
}
