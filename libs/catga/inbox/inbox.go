package inbox

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/tracing"
)

// ErrDuplicate reports a message the consumer has already processed. The
// caller should acknowledge it: its effect is already committed.
var ErrDuplicate = errors.New("catga: inbox: duplicate message")

// Inbox records processed messages in the transaction of their effect.
//
// Contract: Process begins a transaction, records (consumer, messageID) in
// it and runs effect with it, committing both together. If the pair is
// already recorded (committed by an earlier or concurrent Process) it runs no
// effect and returns [ErrDuplicate]. If effect returns an error the
// transaction rolls back, nothing is recorded, and the error is returned, so
// a redelivery tries again.
type Inbox[Tx any] interface {
	Process(ctx context.Context, consumer, messageID string, effect func(ctx context.Context, tx Tx) error) error
}

// Pruner deletes old inbox records, which otherwise accumulate forever.
//
// Contract: Prune deletes the records of messages processed before `before`
// and returns how many. A message redelivered after its record was pruned is
// applied again, so keep records longer than any message can be redelivered
// (JetStream's max deliveries × backoff, and the publisher's duplicate
// window).
type Pruner interface {
	Prune(ctx context.Context, before time.Time) (int64, error)
}

// Header names the outbox relay writes and [Handler] reads back into the
// context's catga.Metadata.
const (
	HeaderMsgID         = "Nats-Msg-Id"
	HeaderEventType     = "Catga-Event-Type"
	HeaderStream        = "Catga-Stream"
	HeaderVersion       = "Catga-Stream-Version"
	HeaderPosition      = "Catga-Position"
	HeaderCorrelationID = "Catga-Correlation-Id"
	HeaderCausationID   = "Catga-Causation-Id"
)

// HandlerOption configures [Handler].
type HandlerOption func(*handlerConfig)

type handlerConfig struct{ log *slog.Logger }

// WithLogger sets the logger for messages that are terminated or retried
// (default: discard).
func WithLogger(l *slog.Logger) HandlerOption {
	return func(c *handlerConfig) { c.log = l }
}

// tracer restores the appending request's trace; with no propagator
// installed it does nothing.
var tracer = tracing.New()

// Handler returns a JetStream message handler that runs effect once per
// message id (the Nats-Msg-Id header) for consumer:
//   - effect succeeded, or the message is a duplicate: Ack;
//   - no message id, or effect returned a rejection or a permanent error:
//     Term (redelivering cannot help);
//   - any other error: Nak, so JetStream redelivers.
//
// The effect's context carries catga.Metadata restored from the headers,
// and the trace context of the request that appended the event.
func Handler[Tx any](in Inbox[Tx], consumer string, effect func(ctx context.Context, tx Tx, msg jetstream.Msg) error, opts ...HandlerOption) func(jetstream.Msg) {
	cfg := handlerConfig{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	return func(msg jetstream.Msg) {
		h := msg.Headers()
		id := h.Get(HeaderMsgID)
		if id == "" {
			cfg.log.Warn("catga: inbox: message without id terminated", "consumer", consumer, "subject", msg.Subject())
			_ = msg.Term()
			return
		}
		ctx := catga.WithMetadata(tracer.Extract(context.Background(), h), catga.Metadata{
			MessageID:     id,
			CorrelationID: h.Get(HeaderCorrelationID),
			CausationID:   h.Get(HeaderCausationID),
		})
		err := in.Process(ctx, consumer, id, func(ctx context.Context, tx Tx) error { return effect(ctx, tx, msg) })
		switch {
		case err == nil || errors.Is(err, ErrDuplicate):
			_ = msg.Ack()
		case !catga.IsRetryable(err):
			cfg.log.Warn("catga: inbox: message terminated", "consumer", consumer, "id", id, "err", err)
			_ = msg.Term()
		default:
			cfg.log.Debug("catga: inbox: message will be redelivered", "consumer", consumer, "id", id, "err", err)
			_ = msg.Nak()
		}
	}
}
