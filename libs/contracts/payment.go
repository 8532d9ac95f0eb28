package contracts

import "github.com/catga-go/catga/libs/catga/transport"

// Payment routes, served by the payment service. Both are saga steps: the
// order saga's metadata (saga id, idempotency key, epoch) travels with them
// and payment applies each key once.
var (
	PaymentCharge = transport.NewRoute[Charge, Charged]("payment.charge")
	PaymentRefund = transport.NewRoute[Refund, Refunded]("payment.refund")
)

// Rejection codes of the payment routes (catga.Reject; never retried).
const (
	CodeInsufficientFunds = "insufficient_funds" // balance below the amount
	CodeUnknownAccount    = "unknown_account"    // no account for the customer
)

// Charge takes Amount from the customer's account for an order.
type Charge struct {
	OrderID  string `json:"order_id"`
	Customer string `json:"customer"` // the account id
	Amount   int64  `json:"amount"`   // cents, > 0
}

// Charged answers a Charge.
type Charged struct {
	OrderID string `json:"order_id"`
	Amount  int64  `json:"amount"`
	Balance int64  `json:"balance"` // after the charge
}

// Refund gives back what Charge took for the order. Refunding an order that
// was never charged is a no-op that succeeds.
type Refund struct {
	OrderID  string `json:"order_id"`
	Customer string `json:"customer"`
	Amount   int64  `json:"amount"`
}

// Refunded answers a Refund.
type Refunded struct {
	OrderID string `json:"order_id"`
	Amount  int64  `json:"amount"` // 0 if nothing had been charged
	Balance int64  `json:"balance"`
}
