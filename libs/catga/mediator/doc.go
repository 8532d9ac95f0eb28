// Package mediator is Catga's typed in-process mediator.
//
// A command or query goes to exactly one handler with [Send]; an event goes
// to every handler registered for its type with [Publish]. Handlers are plain
// typed functions:
//
//	mediator.Handle(m, func(ctx context.Context, c PlaceOrder) (OrderID, error) { ... })
//	id, err := mediator.Send[OrderID](ctx, m, PlaceOrder{...})
//
// Cross-cutting concerns are [Middleware] of the form func(next Handler) Handler.
// The pipeline is composed once, when a handler is registered, so a call pays
// only for the middleware it actually runs. Middleware sees a type-erased
// [Message]; the request itself stays typed end to end, which keeps [Send] and
// [Publish] free of allocations on the hot path.
//
// The package ships middleware for panic recovery ([Recover]), validation
// ([Validate]), per-call timeouts ([Timeout]) and structured logging
// ([Logging]). Transport over NATS (package transport) plugs in through
// handler registration: a request type routed to another service gets a
// handler here that sends it over the wire.
//
// A Mediator is safe for concurrent use. Registration is expected at start-up
// but is also safe while calls are in flight: the registry is copy-on-write,
// so lookups never take a lock.
package mediator
