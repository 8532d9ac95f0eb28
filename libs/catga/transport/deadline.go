package transport

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineCtx carries the sender's deadline into a handler without paying
// for a timer up front: most handlers finish without ever asking for
// Done, and context.WithDeadline costs a timer and a parent registration
// on every request. Deadline and Err are answered from the clock; the
// timer is made the first time someone waits on Done (directly or by
// deriving a cancelable context).
type deadlineCtx struct {
	context.Context
	d      time.Time
	once   sync.Once
	real   atomic.Pointer[context.Context]
	cancel context.CancelFunc
}

func withDeadline(parent context.Context, d time.Time) *deadlineCtx {
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	return &deadlineCtx{Context: parent, d: d}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.d, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.once.Do(func() {
		ctx, cancel := context.WithDeadline(c.Context, c.d)
		c.cancel = cancel
		c.real.Store(&ctx)
	})
	return (*c.real.Load()).Done()
}

func (c *deadlineCtx) Err() error {
	if r := c.real.Load(); r != nil {
		return (*r).Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.d) {
		return context.DeadlineExceeded
	}
	return nil
}

// release stops the timer, if one was made.
func (c *deadlineCtx) release() {
	if c.real.Load() != nil {
		c.cancel()
	}
}

// SplitDeadline undoes the deadline contexts this package makes (one per
// request attempt, one per served request) while their timer has not been
// made yet: it returns the context they bound and the deadline, so that a
// Transport with a cheaper way to wait (a pooled timer) can wait on
// parent.Done() and the deadline instead of calling ctx.Done, which would
// make the timer. For any other context ok is false.
func SplitDeadline(ctx context.Context) (parent context.Context, deadline time.Time, ok bool) {
	c, ok := ctx.(*deadlineCtx)
	if !ok || c.real.Load() != nil {
		return ctx, time.Time{}, false
	}
	return c.Context, c.d, true
}
