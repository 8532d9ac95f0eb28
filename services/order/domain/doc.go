// Package domain is the order service's model, without I/O: the Order
// aggregate (its state folded from the contract events order.placed,
// order.completed and order.cancelled), the decisions that place, complete
// and cancel an order, the validation of a new order, and how an order id
// is derived from an idempotency key.
//
// Decisions are idempotent where a retry needs them to be: placing the same
// order under the same id again, completing a completed order and
// cancelling a cancelled one decide nothing. Contradictions (completing a
// cancelled order, reusing an idempotency key for another order) are
// errors.
package domain
