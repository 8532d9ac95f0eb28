// Package outbox publishes the events an event store appended, to
// JetStream, after their transaction committed: the transactional outbox.
//
// Append writes each event to an outbox table in its own transaction, so an
// event is pending exactly when its state change is committed. A [Relay] runs
// on every peer; relays claim pending entries through
// [eventstore.Outbox.Claim] (PostgreSQL: FOR UPDATE SKIP LOCKED, no leader),
// publish each with Nats-Msg-Id = event id, and mark it published once
// JetStream acknowledged it. A relay that dies between publish and mark
// leaves the entry pending; it is published again and JetStream drops the
// copy inside the stream's duplicate window.
//
// Relays are woken right after commit (PostgreSQL LISTEN/NOTIFY, or an
// in-process signal for SQLite) and poll as a fallback. Per stream, events
// are published in version order, each after the previous one was
// acknowledged.
package outbox
