// Package eventstore is the event-sourcing core: append events to a stream
// under an expected version (optimistic concurrency), load a stream
// (optionally from a snapshot), read every event by global position, tail
// the log safely, and run an aggregate's load → decide → append cycle with
// bounded retries.
//
// Appending also writes each event to a transactional outbox in the same
// database transaction (see package outbox for the relay that publishes it
// through the transport), and can record an inbox entry in that transaction
// (see package inbox), so state, outgoing events and consumed messages
// commit or roll back together. [HandleTx] runs a command inside a caller's
// transaction for the same reason.
//
// [Store.AppendMulti] appends to several streams in one transaction, each
// under its own expected version, all or nothing (reserving every SKU of an
// order, say); [Aggregate.HandleMulti] decides over several instances of an
// aggregate and appends with it, retrying conflicts.
//
// Readers:
//   - [Store.Load] and [Aggregate] for one stream; [Snapshot]s carry a
//     schema version, and one that does not decode or is of another
//     version is ignored in favour of a full replay.
//   - [Feed] and [Subscription] to tail every event in a commit-safe order
//     from a durable checkpoint: projections need no broker.
//   - [Registry] maps stored type names to Go types, upcasts old names
//     ([RegisterUpcast]) and can read unknown ones as [Raw].
//
// The outbox's backlog and dead letters are visible through
// [OutboxInspector]; streams are deleted with a tombstone
// ([StreamDeleter]).
//
// The contracts live here; the implementations are pgstore (PostgreSQL via
// pgx) and sqlitestore (embedded SQLite, pure Go). Both pass the conformance
// suite in eventstoretest. pgembed starts a throwaway (or durable)
// PostgreSQL for tests and benchmarks.
package eventstore
