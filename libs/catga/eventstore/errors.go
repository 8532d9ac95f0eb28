package eventstore

import (
	"errors"
	"fmt"

	"github.com/catga-go/catga/libs/catga"
)

var (
	// ErrConflict matches every [*ConflictError].
	ErrConflict = errors.New("catga: eventstore: version conflict")
	// ErrUnknownEventType is wrapped by a [*DecodeError] for a stored type
	// name that is not registered.
	ErrUnknownEventType = errors.New("catga: eventstore: unknown event type")
	// ErrMalformedEvent is wrapped by a [*DecodeError] for stored data that
	// does not decode into its registered type.
	ErrMalformedEvent = errors.New("catga: eventstore: malformed event")
	// ErrUnregisteredType is returned when appending a value whose Go type
	// was not registered.
	ErrUnregisteredType = errors.New("catga: eventstore: unregistered Go type")
	// ErrNoSnapshot is returned by LoadSnapshot when a stream has none.
	ErrNoSnapshot = errors.New("catga: eventstore: no snapshot")
	// ErrInvalidArgument is returned for an empty stream id, no events, or an
	// expected version below [Any].
	ErrInvalidArgument = errors.New("catga: eventstore: invalid argument")
	// ErrStreamDeleted is returned (permanent) for an append to, a load of
	// or a delete of a deleted stream.
	ErrStreamDeleted = errors.New("catga: eventstore: stream deleted")
	// ErrNotParked is returned by Requeue for a position that is not in the
	// outbox's dead-letter table.
	ErrNotParked = errors.New("catga: eventstore: outbox entry not parked")
)

// ConflictError reports that a stream was not at the expected version. It is
// retryable: reload the stream, decide again, append again.
type ConflictError struct {
	StreamID string
	Expected int64 // the caller's expected version
	Actual   int64 // the stream's version when the append was refused
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("catga: eventstore: version conflict on stream %q: expected %d, actual %d", e.StreamID, e.Expected, e.Actual)
}

// Is reports whether target is [ErrConflict].
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// DecodeError reports a stored event (or snapshot) that cannot be turned
// back into a Go value. It names the stream and version so the bad row can be
// found, and is permanent: reading it again gives the same result.
type DecodeError struct {
	StreamID string
	Version  int64
	Type     string
	Err      error // wraps ErrUnknownEventType or ErrMalformedEvent
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("catga: eventstore: stream %q version %d (type %q): %v", e.StreamID, e.Version, e.Type, e.Err)
}

// Unwrap returns the cause marked permanent, so [catga.IsRetryable] is false
// and errors.Is still finds ErrUnknownEventType / ErrMalformedEvent.
func (e *DecodeError) Unwrap() error { return catga.Permanent(e.Err) }

// StreamDeleted returns the permanent error for a deleted stream.
func StreamDeleted(streamID string) error {
	return catga.Permanent(fmt.Errorf("%w: %q", ErrStreamDeleted, streamID))
}

// Refused is the error for an append a store refused, from the stream's
// state as the store read it: deleted, or at actual instead of expected.
func Refused(streamID string, expected, actual int64, deleted bool) error {
	if deleted {
		return StreamDeleted(streamID)
	}
	return &ConflictError{StreamID: streamID, Expected: expected, Actual: actual}
}
