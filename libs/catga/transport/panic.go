package transport

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
)

// Guard runs fn and turns a panic in it into a *mediator.PanicError
// carrying the stack (it matches mediator.ErrPanic and is not retryable).
// Every serving path of a Transport runs user code under it: one bad
// message must not take the peer down, nor, through the caller's retry or
// a redelivery, every other peer of the service after it.
func Guard(typ string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = catga.Permanent(&mediator.PanicError{Type: typ, Value: r, Stack: debug.Stack()})
		}
	}()
	return fn()
}

// IsPanic reports whether err comes from a recovered panic.
func IsPanic(err error) bool { return errors.Is(err, mediator.ErrPanic) }

// LogPanic logs a panic recovered by [Guard] at Error level with its
// stack, which stays on the serving peer: only mediator.ErrPanic's text
// reaches the caller or the dead letter. An error that only matches
// ErrPanic, without a stack, was logged where it was recovered and is not
// logged again.
func LogPanic(ctx context.Context, logger *slog.Logger, subject string, err error) {
	var p *mediator.PanicError
	if !errors.As(err, &p) {
		return
	}
	logger.ErrorContext(ctx, "catga: handler panicked", "subject", subject, "type", p.Type,
		"panic", p.Value, "stack", string(p.Stack))
}

// panicReply is what the caller of a panicking handler gets: a permanent
// failure without the panic value or stack.
func panicReply() Reply {
	return Reply{Status: StatusBadRequest, Code: codePanic, Reason: mediator.ErrPanic.Error()}
}

// codePanic marks a reply as a panic on the serving side.
const codePanic = "panic"
