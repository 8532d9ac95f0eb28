// Package natstransport is the NATS implementation of transport.Transport:
// core request-reply in queue groups for commands (the peer announced once
// through nats.go/micro under Config.Service and Config.Version, with one
// endpoint per served subject, so $SRV.PING/INFO list every peer once),
// JetStream for durable events and their dead letters, a JetStream
// key-value bucket as the idempotency store shared by every peer, and
// core NATS for broadcasts.
//
// Shutdown is ordered (see [Transport.Close]): serving stops first, the
// handlers in flight finish with their own requests still answered, and
// only then does the connection close.
package natstransport
