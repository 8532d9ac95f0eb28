// Package catga holds the vocabulary shared by every part of the library:
// message metadata carried through a context (ids, correlation, causation,
// idempotency key, fencing epoch) and the split between domain rejections,
// which are final, and infrastructure failures, which are worth retrying.
//
// The parts themselves live in sub-packages: mediator (in-process dispatch),
// transport (NATS), saga and sagastore, eventstore, outbox and inbox,
// tracing.
package catga
