// Package inbox makes consumers idempotent. A consumer records
// (consumer, message id) in the same database transaction as the message's
// effect; a primary key on the pair makes a second delivery of the same
// message find the record, skip the effect and be acknowledged.
//
// The contract is [Inbox]; eventstore/pgstore and eventstore/sqlitestore
// implement it with their transaction types. [Handler] adapts an Inbox to a
// JetStream message handler.
package inbox
