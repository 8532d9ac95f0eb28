// Package domain is the payment service's model, free of I/O: an account is
// an event-sourced aggregate (opened, deposited, charged, refunded) whose
// state is its balance and what each order was charged, and the decisions
// are pure functions from that state to new events or an error.
//
// The invariants the decisions keep: the balance never goes below zero, and
// an order has at most one charge that has not been refunded (so a repeated
// charge for an order is answered from the recorded one, never taken
// twice, and a refund gives back exactly what was taken, once).
package domain
