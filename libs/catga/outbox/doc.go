// Package outbox publishes the events an event store appended, through the
// transport's durable publish, after their transaction committed: the
// transactional outbox.
//
// Append writes each event to an outbox table in its own transaction, so an
// event is pending exactly when its state change is committed. A [Relay] runs
// on every peer; relays claim pending entries through
// [eventstore.Outbox.Claim] (PostgreSQL: FOR UPDATE SKIP LOCKED, no leader),
// publish each with [Publisher] (a transport.Transport: on NATS a JetStream
// publish on catga.evt.<type>, Nats-Msg-Id = event id, where
// transport.ConsumeEvents reads), and mark it published once it is stored.
// A relay that dies between publish and mark leaves the entry pending; it is
// published again and the broker drops the copy inside its duplicate window.
//
// Per stream, events are published in version order, each after the
// previous one was stored; streams go out in parallel. An event that fails
// holds back only its own stream, for an exponential, jittered while; after
// a bounded number of attempts (or at once for a permanent error) it is
// parked in the store's dead-letter table with the reason, and its stream
// goes on. [eventstore.OutboxInspector] shows the backlog and the parked
// entries, and requeues them.
//
// Relays are woken right after commit (in-process for the appending store,
// a debounced NOTIFY for PostgreSQL relays elsewhere) and poll as a
// fallback.
package outbox
