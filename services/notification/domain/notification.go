package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/contracts"
)

// ErrInvalidEvent: an order event lacks what a notification needs. Such an
// event cannot become valid by retrying.
var ErrInvalidEvent = errors.New("catga: notification: invalid order event")

// Kind says what a notification is about.
type Kind string

// Notification kinds.
const (
	KindCompleted Kind = "order_completed"
	KindCancelled Kind = "order_cancelled"
)

// Notification is what a customer is told about an order.
type Notification struct {
	// ID is derived from the order event it is about, so it is the same
	// however often that event is delivered: senders pass it on as an
	// idempotency key.
	ID       string    `json:"id"`
	OrderID  string    `json:"order_id"`
	Customer string    `json:"customer"`
	Kind     Kind      `json:"kind"`
	Reason   string    `json:"reason,omitempty"` // why the order was cancelled
	Total    int64     `json:"total,omitempty"`  // cents, of a completed order
	Message  string    `json:"message"`
	At       time.Time `json:"at"` // when the order ended
}

// idNamespace is the UUIDv5 namespace of notification ids.
var idNamespace = uuid.MustParse("0c7f3b9e-5a41-4d7e-8f0e-6b2d9c1a4e37")

// IDFor is the id of the notification about the event with id eventID.
func IDFor(eventID string) string { return uuid.NewSHA1(idNamespace, []byte(eventID)).String() }

// Completed is the notification about a completed order, from the event
// with id eventID.
func Completed(eventID string, e contracts.OrderCompleted) (Notification, error) {
	if err := check(eventID, e.OrderID, e.Customer); err != nil {
		return Notification{}, err
	}
	return Notification{
		ID: IDFor(eventID), OrderID: e.OrderID, Customer: e.Customer, Kind: KindCompleted, Total: e.Total, At: e.CompletedAt,
		Message: fmt.Sprintf("Your order %s is confirmed: %s charged.", e.OrderID, Money(e.Total)),
	}, nil
}

// Cancelled is the notification about a cancelled order, from the event
// with id eventID.
func Cancelled(eventID string, e contracts.OrderCancelled) (Notification, error) {
	if err := check(eventID, e.OrderID, e.Customer); err != nil {
		return Notification{}, err
	}
	return Notification{
		ID: IDFor(eventID), OrderID: e.OrderID, Customer: e.Customer, Kind: KindCancelled, Reason: e.Reason, At: e.CancelledAt,
		Message: fmt.Sprintf("Your order %s was cancelled: %s.", e.OrderID, describe(e.Reason)),
	}, nil
}

func check(eventID, orderID, customer string) error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"event id", eventID}, {"order_id", orderID}, {"customer", customer}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: no %s", ErrInvalidEvent, strings.Join(missing, ", "))
	}
	return nil
}

// Money formats cents as dollars: 2500 → "$25.00".
func Money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}

// describe turns a cancellation reason (a rejection code) into words.
func describe(reason string) string {
	switch reason {
	case contracts.CodeInsufficientFunds:
		return "the payment was declined (insufficient funds)"
	case contracts.CodeUnknownAccount:
		return "there is no payment account for you"
	case contracts.CodeOutOfStock:
		return "an item is out of stock; any charge was refunded"
	case contracts.CodeUnknownSKU:
		return "an item is not sold here; any charge was refunded"
	case "":
		return "no reason given"
	}
	return strings.ReplaceAll(reason, "_", " ")
}
