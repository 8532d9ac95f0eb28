package peer

import (
	"context"
	"time"

	"github.com/catga-go/catga/libs/catga/mediator"
)

// delayRequests is the fault CATGA_TEST_HANDLER_DELAY injects, for
// end-to-end tests that must kill a peer while a saga step is in its
// handler: a step takes milliseconds, far too short to aim a SIGKILL at.
// Each request (not event) waits d before its handler runs, so a kill then
// loses the request before any effect, and d after the handler returned,
// so a kill then loses the reply of an effect already committed: the
// caller's retry must find it applied, not apply it again. A wait ends
// early when the request's deadline does.
func delayRequests(d time.Duration) mediator.Middleware {
	return func(next mediator.Handler) mediator.Handler {
		return func(ctx context.Context, msg mediator.Message) error {
			if msg.Kind() != mediator.KindRequest {
				return next(ctx, msg)
			}
			if err := sleep(ctx, d); err != nil {
				return err
			}
			err := next(ctx, msg)
			_ = sleep(ctx, d) // the effect is done: its outcome is the answer
			return err
		}
	}
}

// sleep waits d, or returns ctx's error when it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
