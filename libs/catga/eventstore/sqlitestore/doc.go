// Package sqlitestore is the embedded implementation of the event store,
// the transactional outbox and the inbox: SQLite through the pure-Go
// modernc.org/sqlite driver (no cgo, no server).
//
// The database is a file in WAL mode; every transaction starts IMMEDIATE so
// writers queue on SQLite's lock (busy timeout) instead of failing on lock
// upgrades. A Store's own writes queue in the process first, one reaching
// SQLite at a time, so the lock passes between them at once rather than at
// the busy handler's next poll (ErrWriteBusy after the busy timeout). A service owns its file, or a table prefix ([WithTablePrefix]) in
// a shared one. [Open] applies the embedded migrations with golang-migrate
// under an exclusive lock on a side file, so processes starting together
// migrate once. [MigrationFS] exports the migrations for other tools; a
// failed migration leaves its version dirty, and Open says how to recover.
//
// SQLite has no row locks, so relays cooperate through a lease row: one relay
// at a time publishes, which keeps per-stream order. Appends wake relays in
// the same process at once; relays in other processes find work by polling.
//
// [Store.WithTx] is the store bound to a caller's transaction, for
// [eventstore.Aggregate] commands that must commit with other writes;
// [Store.FenceTx] runs one with a saga's fence record for the saga fence
// (package saga/storefence).
package sqlitestore
