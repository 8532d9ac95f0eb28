// Package transport lets peers on different machines exchange commands and
// events with no master: every instance can send, answer, publish and
// consume.
//
// The typed layer sits on the mediator. [Route] registers, in the caller's
// mediator, a handler for a request type that sends it over a [Transport];
// [Serve] answers that type on every peer of the owning service (one queue
// group per service, so load is balanced and peers come and go freely) by
// dispatching into the local mediator. Callers only write
// mediator.Send[Resp](ctx, m, req).
//
// On the wire a request carries its catga.Metadata (message, correlation and
// causation ids, idempotency key, epoch), its deadline and W3C trace context
// as headers; the handler's context gets them back. A reply carries a
// status: ok, rejected (a *catga.RejectionError on the caller, never
// retried), error (an infrastructure failure, retryable), bad-request
// (malformed or permanent) or busy. Timeouts and no-responders are retried
// with backoff under the same message id within the caller's deadline, and
// Serve deduplicates by that id through an idempotency.Store, so a retry
// never runs a handler twice.
//
// The per-request cost is kept low (see BenchmarkOverhead and `make
// bench-transport`): JSON through a one-pass stdlib-compatible codec,
// random UUIDv4 ids from the runtime generator, metadata headers in one
// allocation, no span work while the tracer provider is a no-op, and
// deadlines whose timer is only made if something waits on Done.
//
// Events go through [PublishEvent] (durable, deduplicated by id, one
// delivery per consuming service with redelivery and dead letters) or
// [BroadcastEvent] (every instance, nothing stored).
//
// Implementations: transport/natstransport (NATS, JetStream, nats.go/micro
// discovery) and transport/memory (in-process), both checked by the
// transporttest conformance suite.
package transport
