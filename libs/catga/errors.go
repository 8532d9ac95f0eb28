package catga

import (
	"errors"
	"fmt"
)

// ErrRejected matches every [*RejectionError].
var ErrRejected = errors.New("catga: rejected")

// RejectionError is a domain rejection: the request was understood and
// refused (insufficient funds, out of stock, stale epoch). Retrying the same
// request cannot succeed, so transports and sagas never retry it. It crosses
// the wire as its Code and Reason.
type RejectionError struct {
	Code   string // stable, machine-readable, e.g. "insufficient_funds"
	Reason string // for people
}

// Reject returns a [*RejectionError].
func Reject(code, format string, args ...any) error {
	return &RejectionError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

func (e *RejectionError) Error() string {
	return fmt.Sprintf("catga: rejected (%s): %s", e.Code, e.Reason)
}

// Is reports whether target is [ErrRejected].
func (e *RejectionError) Is(target error) bool { return target == ErrRejected }

// IsRejection reports whether err is, or wraps, a domain rejection.
func IsRejection(err error) bool { return errors.Is(err, ErrRejected) }

// permanentError marks an error as not worth retrying without making it a
// domain rejection (malformed input, a missing handler).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not retryable. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsRetryable reports whether retrying the operation that returned err may
// succeed: true for infrastructure failures (timeouts, lost connections, no
// responders), false for nil, rejections and errors marked [Permanent].
func IsRetryable(err error) bool {
	if err == nil || IsRejection(err) {
		return false
	}
	var p permanentError
	return !errors.As(err, &p)
}
