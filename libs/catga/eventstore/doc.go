// Package eventstore is the event-sourcing core: append events to a stream
// under an expected version (optimistic concurrency), load a stream
// (optionally from a snapshot), read every event by global position, and run
// an aggregate's load → decide → append cycle with bounded retries.
//
// Appending also writes each event to a transactional outbox in the same
// database transaction (see package outbox for the relay that publishes it),
// and can record an inbox entry in that transaction (see package inbox), so
// state, outgoing events and consumed messages commit or roll back together.
//
// The contracts live here; the implementations are pgstore (PostgreSQL via
// pgx) and sqlitestore (embedded SQLite, pure Go). Both pass the conformance
// suite in eventstoretest. pgembed starts a throwaway PostgreSQL for tests and
// benchmarks.
package eventstore
