package mediator

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with [errors.Is]; the returned errors wrap them
// with the Go type that was involved.
var (
	// ErrNoHandler: Send found no handler for the request type.
	ErrNoHandler = errors.New("catga: no handler registered")
	// ErrDuplicateHandler: a second handler was registered for a request type.
	ErrDuplicateHandler = errors.New("catga: handler already registered")
	// ErrNilHandler: a nil handler function was registered.
	ErrNilHandler = errors.New("catga: nil handler")
	// ErrResponseType: Send asked for a response type other than the one the
	// handler was registered with.
	ErrResponseType = errors.New("catga: response type does not match the registered handler")
	// ErrForeignMessage: a middleware passed on a Message other than the one
	// it received; the pipeline cannot reach the typed handler through it.
	ErrForeignMessage = errors.New("catga: middleware replaced the message")
	// ErrPanic: a handler panicked and [Recover] turned the panic into an error.
	ErrPanic = errors.New("catga: handler panicked")
	// ErrInvalid: the request failed its own Validate method (see [Validate]).
	ErrInvalid = errors.New("catga: invalid request")
)

// PanicError is the error [Recover] returns for a handler panic. It matches
// [ErrPanic] and, when the panic value is an error, unwraps to it.
type PanicError struct {
	Type  string // Go type of the message being handled
	Value any    // value passed to panic
	Stack []byte // goroutine stack at the point of the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("catga: handler for %s panicked: %v\n%s", e.Type, e.Value, e.Stack)
}

// Is reports whether target is [ErrPanic].
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// ValidationError is the error [Validate] returns for a rejected request.
// It matches [ErrInvalid] and unwraps to the error Validate returned.
type ValidationError struct {
	Type string // Go type of the rejected request
	Err  error  // what the request's Validate method said
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("catga: invalid %s: %v", e.Type, e.Err)
}

// Is reports whether target is [ErrInvalid].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func (e *ValidationError) Unwrap() error { return e.Err }
