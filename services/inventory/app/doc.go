// Package app is the inventory service's use cases over its event store:
// adding and reading stock for the HTTP API, and the saga steps Reserve
// and Release, each applied once through a [StepApplier] in the
// transaction that records it, every stream of a reservation appended in
// that one transaction.
package app
