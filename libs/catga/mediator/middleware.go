package mediator

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Recover turns a handler panic into a [*PanicError] carrying the stack, so
// one bad message cannot take the process down. Put it first (outermost) so
// it also covers the other middleware.
func Recover() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg Message) (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = &PanicError{Type: msg.Type(), Value: r, Stack: debug.Stack()}
				}
			}()
			return next(ctx, msg)
		}
	}
}

// Validator is implemented by requests and events that can check themselves.
type Validator interface {
	Validate() error
}

// Validate rejects a message whose type implements [Validator] and whose
// Validate method fails, before its handler runs. The error is a
// [*ValidationError] matching [ErrInvalid]. Messages without a Validate
// method pass through.
func Validate() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg Message) error {
			if err := validate(msg); err != nil {
				return &ValidationError{Type: msg.Type(), Err: err}
			}
			return next(ctx, msg)
		}
	}
}

// validate calls the payload's Validate method, reaching value and pointer
// receivers alike. The frames expose a pointer to their payload so that this
// check does not copy (and allocate) the payload.
func validate(msg Message) error {
	var payload any
	if p, ok := msg.(interface{ payloadPtr() any }); ok {
		payload = p.payloadPtr()
	} else {
		payload = msg.Payload()
	}
	if v, ok := payload.(Validator); ok {
		return v.Validate()
	}
	return nil
}

// Timeout bounds each call to d by deriving a context with that deadline
// (an earlier deadline already on the context wins). Cancellation is
// cooperative, as everywhere in Go: the handler must honour ctx. Running the
// handler in a goroutine instead would let it outlive the call while still
// holding the message, which is worse than waiting for it.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg Message) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			err := next(ctx, msg)
			if err != nil && ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("catga: %s %s did not finish within %s: %w", msg.Kind(), msg.Type(), d, err)
			}
			return err
		}
	}
}

// Logging logs every call to logger: at Debug level when it succeeds, at
// Error level when it fails, with the message type and the duration. Nothing
// is formatted when the level is disabled.
func Logging(logger *slog.Logger) Middleware {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, msg Message) error {
			start := time.Now()
			err := next(ctx, msg)
			if err != nil {
				logger.LogAttrs(ctx, slog.LevelError, "catga: handler failed",
					slog.String("kind", msg.Kind().String()), slog.String("type", msg.Type()),
					slog.Duration("took", time.Since(start)), slog.Any("error", err))
			} else if logger.Enabled(ctx, slog.LevelDebug) {
				logger.LogAttrs(ctx, slog.LevelDebug, "catga: handled",
					slog.String("kind", msg.Kind().String()), slog.String("type", msg.Type()),
					slog.Duration("took", time.Since(start)))
			}
			return err
		}
	}
}
