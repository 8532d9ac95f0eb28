// Package pgstore is the PostgreSQL implementation of the event store, the
// transactional outbox and the inbox, over a pgx connection pool.
//
// Each service owns a schema (option [WithSchema]); [New] creates it and
// applies the embedded migrations with golang-migrate, which holds a
// PostgreSQL advisory lock so peers starting at the same time migrate once
// ([WithMigrationLockTimeout]). To migrate separately, run [MigrationFS]
// with golang-migrate and open the store [WithoutMigrations]. A migration
// that fails leaves its version marked dirty and New refuses the schema:
// repair it to the previous version's state, mark that version clean
// (golang-migrate force), and start again.
//
// Relays on the appending Store are woken in-process right after commit;
// relays elsewhere by one NOTIFY per [WithNotifyInterval], never one per
// append (a notifying commit takes a cluster-wide lock). Relays claim work with FOR UPDATE SKIP LOCKED on
// the oldest pending entry of each stream, which also locks the stream for
// them: relays on several peers share the work without a leader and keep
// per-stream order.
//
// [Store.WithTx] is the store bound to a caller's transaction, for
// [eventstore.Aggregate] commands that must commit with other writes;
// [Store.FenceTx] runs one under a per-saga row lock for the saga fence
// (package saga/storefence).
package pgstore
