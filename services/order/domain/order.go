package domain

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/catga-go/catga/libs/contracts"
)

// State is where an order is in its life. PENDING is the only state that
// changes; COMPLETED and CANCELLED are final.
type State string

// Order states, as the API shows them.
const (
	StatePending   State = "PENDING"
	StateCompleted State = "COMPLETED"
	StateCancelled State = "CANCELLED"
)

// ParseState returns the state named s, or false.
func ParseState(s string) (State, bool) {
	switch st := State(s); st {
	case StatePending, StateCompleted, StateCancelled:
		return st, true
	}
	return "", false
}

// Sentinel errors.
var (
	// ErrNotFound: no order with that id.
	ErrNotFound = errors.New("catga: order: not found")
	// ErrKeyReused: an idempotency key already placed a different order.
	ErrKeyReused = errors.New("catga: order: idempotency key already used for a different order")
	// ErrClosed: the order already ended the other way (completing a
	// cancelled order, cancelling a completed one).
	ErrClosed = errors.New("catga: order: already closed")
)

// Order is the aggregate's state. The zero Order is one that does not exist.
type Order struct {
	ID          string
	Customer    string
	Items       []contracts.Item
	Total       int64
	State       State
	Reason      string // why it was cancelled
	PlacedAt    time.Time
	CompletedAt time.Time
	CancelledAt time.Time
}

// Exists reports whether the order was placed.
func (o Order) Exists() bool { return o.State != "" }

// Evolve folds one stored event into o. Events of other types leave o as it
// is, so an older reader skips what a newer writer added.
func Evolve(o Order, event any) Order {
	switch e := event.(type) {
	case contracts.OrderPlaced:
		return Order{
			ID: e.OrderID, Customer: e.Customer, Items: slices.Clone(e.Items), Total: e.Total,
			State: StatePending, PlacedAt: e.PlacedAt,
		}
	case contracts.OrderCompleted:
		o.State, o.CompletedAt = StateCompleted, e.CompletedAt
	case contracts.OrderCancelled:
		o.State, o.Reason, o.CancelledAt = StateCancelled, e.Reason, e.CancelledAt
	}
	return o
}

// Place decides the placing of order id for cmd (already validated). An
// order already placed under id with the same customer and items decides
// nothing (a retried request); one with different contents is
// [ErrKeyReused].
func Place(o Order, id string, cmd PlaceOrder, now time.Time) ([]any, error) {
	if o.Exists() {
		if o.Customer == cmd.Customer && slices.Equal(o.Items, cmd.Items) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: order %s", ErrKeyReused, id)
	}
	return []any{contracts.OrderPlaced{
		OrderID: id, Customer: cmd.Customer, Items: slices.Clone(cmd.Items), Total: cmd.Total(), PlacedAt: now.UTC(),
	}}, nil
}

// Complete decides the completion of o: an event when it is pending,
// nothing when it is completed already.
func Complete(o Order, now time.Time) ([]any, error) {
	switch o.State {
	case StatePending:
		return []any{contracts.OrderCompleted{OrderID: o.ID, Customer: o.Customer, Total: o.Total, CompletedAt: now.UTC()}}, nil
	case StateCompleted:
		return nil, nil
	case StateCancelled:
		return nil, fmt.Errorf("%w: order %s was cancelled (%s)", ErrClosed, o.ID, o.Reason)
	}
	return nil, ErrNotFound
}

// Cancel decides the cancellation of o for reason: an event when it is
// pending, nothing when it is cancelled already (whatever the reason then).
func Cancel(o Order, reason string, now time.Time) ([]any, error) {
	switch o.State {
	case StatePending:
		return []any{contracts.OrderCancelled{OrderID: o.ID, Customer: o.Customer, Reason: reason, CancelledAt: now.UTC()}}, nil
	case StateCancelled:
		return nil, nil
	case StateCompleted:
		return nil, fmt.Errorf("%w: order %s was completed", ErrClosed, o.ID)
	}
	return nil, ErrNotFound
}
