// Package app is the payment service's use cases over its event store:
// opening accounts, deposits and reads for the HTTP API, and the saga
// steps Charge and Refund, each applied once through a [StepApplier] in
// the transaction that records it.
package app
