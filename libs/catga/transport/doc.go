// Package transport lets peers on different machines exchange commands and
// events with no master: every instance can send, answer, publish and
// consume.
//
// The typed layer sits on the mediator. A service declares its wire
// contract once, in a package its callers import: a [Route] per request
// type and a [Topic] per event type, each with a stable name that becomes
// the subject, so renaming or moving a Go type changes nothing on the wire:
//
//	var ChargeRoute = transport.NewRoute[ChargePayment, PaymentCharged]("payment.charge")
//
// [Register] adds, to the caller's mediator, a handler for the route's
// request type that sends it over a [Transport]; [Serve] answers the route
// on every peer of the owning service (one queue group per subject, so
// load is balanced, peers come and go freely and each request runs once)
// by dispatching into the local mediator. Callers only write
// mediator.Send[Resp](ctx, m, req).
//
// On the wire a request carries its catga.Metadata (message, correlation and
// causation ids, idempotency key, epoch), the time left to its attempt's
// deadline and W3C trace context as headers; the handler's context gets
// them back. A reply carries a status: ok, rejected (a
// *catga.RejectionError on the caller, never retried), error (an
// infrastructure failure, retryable; its text stays in the serving peer's
// log), bad-request (malformed or permanent; a handler panic is one, with
// code "panic", matching mediator.ErrPanic) or busy. Timeouts,
// no-responders, busy and error replies are retried with backoff under the
// same message id within the caller's deadline, and Serve deduplicates by
// that id, scoped by subject, through an idempotency.Store shared by the
// peers (on NATS a JetStream key-value bucket), so a retry never runs a
// handler twice, whichever peer it reaches. Queries can opt out with
// WithoutIdempotency.
//
// [WithHeaders] adds per-call headers (a tenant, a flag) to the requests and
// events sent from a context; a handler reads the headers of its message
// with [HeadersFrom].
//
// Messages sent while handling one get ids derived from the handled
// message's id, their subject and their ordinal, so a handler that runs
// again for the same message sends the same ids and its commands and
// events are deduplicated downstream too.
//
// User code never takes a peer down: every serving path recovers a panic,
// logs it with its stack and answers (or dead-letters) it as a permanent
// failure. JSON nested deeper than JSON.MaxDepth is refused before it is
// parsed.
//
// The per-request cost is kept low (see BenchmarkOverhead and `make
// bench-transport`): JSON through a one-pass stdlib-compatible codec,
// random UUIDv4 ids from the runtime generator, metadata headers in one
// allocation, no span work while the tracer provider is a no-op, and
// deadlines whose timer is only made if something waits on Done.
//
// Events go through [PublishEvent] (durable, deduplicated by id, one
// delivery per consuming service, redelivered on an exponential schedule
// that outlasts a dependency's failover, then dead-lettered) or
// [BroadcastEvent] (every instance, nothing stored).
//
// Implementations: transport/natstransport (NATS, JetStream, nats.go/micro
// discovery) and transport/memory (in-process), both checked by the
// transporttest conformance suite.
package transport
