// Package nats is the NATS implementation of transport.Transport: core
// request-reply in queue groups for commands (served through nats.go/micro
// endpoints, so $SRV.PING/INFO/STATS list every peer), JetStream for
// durable events and core NATS for broadcasts.
package nats
