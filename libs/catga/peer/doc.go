// Package peer runs one instance of a Catga service: it reads the peer's
// configuration from the environment, connects to NATS, announces the peer
// for discovery (nats.go/micro, so `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`
// list every running instance) and shuts down in order when its context ends:
// stop taking new work, drain NATS so in-flight messages finish, then return.
//
// Every instance of a service is an equal peer. There is no leader to elect
// and nothing to configure per instance beyond what this package reads.
package peer
