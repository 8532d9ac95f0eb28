// Package app is the order service's use cases: placing an order
// (idempotent under a client's key, across peers), reading one with its
// saga's history, listing orders from a read model, and the order saga
// itself (charge → reserve → complete, cancelling with the failure's reason).
//
// # Crash safety
//
// Placing an order is one append (order.placed, with its outbox entry, in
// one transaction). The saga is not started by the request but by whichever
// peer consumes that order.placed event from the service's durable consumer
// ([Service.StartSaga]): the event exists exactly when the order does, the
// outbox publishes it at least once, and the consumer acknowledges it only
// once the saga is persisted; a redelivery finds the saga (saga id = order
// id) and starts nothing. [Service.StartStranded] is the backstop for an
// event that never arrived (dead-lettered while the saga store was down):
// it starts the saga of any order pending for a while without one.
//
// Cancelling is part of the saga: its first step does nothing, and its
// compensation, the last thing a failed saga does, appends order.cancelled
// with the reason read from the saga's persisted history. A peer that dies
// mid-saga leaves the saga to another peer, which completes or compensates
// it, so the order ends COMPLETED or CANCELLED; the decisions are
// idempotent, so a repeated step appends nothing twice.
package app
