package natstransport

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/internal/backoff"
)

// setupPolicy spaces the attempts of a JetStream setup call.
var setupPolicy = backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}

// retrySetup runs a JetStream setup call (create a stream, a consumer, a
// bucket) in attempts of at most 2s until it succeeds, fails for good or
// ctx ends. A cluster answers nothing while it elects its metadata leader
// (just after start, or after losing a node): the request times out, and
// the next attempt succeeds.
func retrySetup(ctx context.Context, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := fn(actx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		if !backoff.Sleep(ctx, setupPolicy.Delay(attempt)) {
			return err
		}
	}
}

func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}
