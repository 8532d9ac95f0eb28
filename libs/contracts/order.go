package contracts

import (
	"time"

	"github.com/catga-go/catga/libs/catga/transport"
)

// Order topics: durable events the order service publishes through its
// outbox. A topic's name is also the event's type name in the order
// service's event store, so the outbox publishes it on the topic's subject.
var (
	OrderPlacedTopic    = transport.NewTopic[OrderPlaced]("order.placed")
	OrderCompletedTopic = transport.NewTopic[OrderCompleted]("order.completed")
	OrderCancelledTopic = transport.NewTopic[OrderCancelled]("order.cancelled")
)

// Item is one line of an order.
type Item struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`   // > 0
	UnitPrice int64  `json:"unit_price"` // cents, > 0
}

// OrderPlaced: a customer placed an order; the order saga starts from it.
type OrderPlaced struct {
	OrderID  string    `json:"order_id"`
	Customer string    `json:"customer"`
	Items    []Item    `json:"items"`
	Total    int64     `json:"total"` // cents: the sum of quantity × unit price
	PlacedAt time.Time `json:"placed_at"`
}

// OrderCompleted: the order was paid for and its stock reserved.
type OrderCompleted struct {
	OrderID     string    `json:"order_id"`
	Customer    string    `json:"customer"`
	Total       int64     `json:"total"`
	CompletedAt time.Time `json:"completed_at"`
}

// OrderCancelled: the order will not be fulfilled; whatever was charged has
// been refunded and whatever was reserved released.
type OrderCancelled struct {
	OrderID     string    `json:"order_id"`
	Customer    string    `json:"customer"`
	Reason      string    `json:"reason"` // e.g. insufficient_funds, out_of_stock
	CancelledAt time.Time `json:"cancelled_at"`
}
