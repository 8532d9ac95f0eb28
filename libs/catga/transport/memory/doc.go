// Package memory is an in-process transport.Transport with the semantics of
// the NATS one (queue groups, no-responders, broadcast, durable consumers
// with redelivery and dead letters). It is for tests and single-process
// runs, and passes the same transporttest conformance suite.
package memory
