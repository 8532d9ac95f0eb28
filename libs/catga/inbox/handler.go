package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
	"github.com/catga-go/catga/libs/catga/tracing"
	"github.com/catga-go/catga/libs/catga/transport"
)

// ErrNoMessageID is returned (permanent) for a message without a message
// id: the inbox cannot tell its deliveries apart.
var ErrNoMessageID = errors.New("catga: inbox: message without id")

// HandlerOption configures [Handler] and [JetStreamHandler].
type HandlerOption func(*handlerConfig)

type handlerConfig struct {
	log      *slog.Logger
	timeout  time.Duration
	shutdown context.Context
	retry    backoff.Policy
}

func newHandlerConfig(opts []HandlerOption) handlerConfig {
	cfg := handlerConfig{log: slog.New(slog.DiscardHandler), timeout: 30 * time.Second, shutdown: context.Background(),
		retry: backoff.Policy{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// WithLogger sets the logger for messages that are dead-lettered or retried
// (default: discard).
func WithLogger(l *slog.Logger) HandlerOption {
	return func(c *handlerConfig) { c.log = l }
}

// WithTimeout bounds one run of the effect, its transaction included
// (default 30s). Keep it below the consumer's AckWait.
func WithTimeout(d time.Duration) HandlerOption {
	return func(c *handlerConfig) { c.timeout = d }
}

// WithShutdown cancels running effects when ctx ends (say, the service's
// shutdown signal): their transactions roll back and the messages are
// redelivered.
func WithShutdown(ctx context.Context) HandlerOption {
	return func(c *handlerConfig) { c.shutdown = ctx }
}

// WithRetry sets the exponential delay [Handler] suggests before a
// retryable failure is redelivered (defaults 500ms, doubling to 30s); see
// [RetryError].
func WithRetry(initial, max time.Duration) HandlerOption {
	return func(c *handlerConfig) { c.retry = backoff.Policy{Initial: initial, Max: max, Jitter: 0.2} }
}

// RetryError is a retryable failure of a message with the delay the inbox
// suggests before its redelivery, growing with the attempt so that a
// database outage does not use up the deliveries at once. A transport that
// knows the RetryAfter method waits that long; others use their own delay.
type RetryError struct {
	Err   error
	Delay time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter is the suggested delay before redelivery.
func (e *RetryError) RetryAfter() time.Duration { return e.Delay }

// tracer restores the appending request's trace; with no propagator
// installed it does nothing.
var tracer = tracing.New()

// Handler returns a durable handler for transport.Transport.Consume that
// runs effect once per message id (the transport's message id; the outbox
// relay sets it to the event id) for consumer, in the transaction that
// records it in the inbox. It returns:
//   - nil when the effect committed or the message is a duplicate (the
//     transport acknowledges it);
//   - the effect's error otherwise, which the transport handles like any
//     consumer's: a retryable one (a [*RetryError] suggesting an
//     exponential delay) is redelivered after a delay, a rejection or a
//     permanent one, or one on the last allowed attempt, goes to the
//     consumer's dead-letter subject with the reason;
//   - a permanent [ErrNoMessageID] for a message without id (dead-lettered).
//
// The effect's context carries the catga.Metadata and the trace context of
// the request that appended the event; it ends after the handler's timeout,
// when the delivery's own context ends, or at shutdown ([WithShutdown]).
// A panic in effect becomes a permanent error.
func Handler[Tx any](in Inbox[Tx], consumer string, effect func(ctx context.Context, tx Tx, d transport.Delivery) error, opts ...HandlerOption) transport.DurableHandler {
	cfg := newHandlerConfig(opts)
	return func(ctx context.Context, d transport.Delivery) error {
		md, _, err := transport.ReadMetadata(d.Header)
		if err != nil {
			return catga.Permanent(err)
		}
		if md.MessageID == "" {
			md.MessageID = d.Header.Get(HeaderMsgID)
		}
		if md.MessageID == "" {
			return catga.Permanent(fmt.Errorf("%w: consumer %s, subject %s", ErrNoMessageID, consumer, d.Subject))
		}
		err = process(cfg, ctx, in, consumer, md, d.Header, func(ctx context.Context, tx Tx) error { return effect(ctx, tx, d) })
		if err == nil {
			return nil
		}
		cfg.log.Debug("catga: inbox: effect failed", "consumer", consumer, "id", md.MessageID, "attempt", d.Attempt, "err", err)
		if catga.IsRetryable(err) {
			return &RetryError{Err: err, Delay: cfg.retry.Delay(d.Attempt)}
		}
		return err
	}
}

// process runs effect through the inbox with the handler's context rules;
// a duplicate is success.
func process[Tx any](c handlerConfig, ctx context.Context, in Inbox[Tx], consumer string, md catga.Metadata, h map[string][]string, effect func(context.Context, Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stop := context.AfterFunc(c.shutdown, cancel)
	defer stop()
	ctx = catga.WithMetadata(tracer.Extract(ctx, h), md)
	err := in.Process(ctx, consumer, md.MessageID, func(ctx context.Context, tx Tx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = catga.Permanent(fmt.Errorf("catga: inbox: effect panicked: %v", p))
			}
		}()
		return effect(ctx, tx)
	})
	if errors.Is(err, ErrDuplicate) {
		return nil
	}
	return err
}
