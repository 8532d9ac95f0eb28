// Package peer is the service chassis: it runs one instance (a peer) of a
// Catga service with everything a production service needs, so a
// service's main is one call:
//
//	func main() {
//		if err := peer.RunProcess(peer.Service{
//			Name:   "payment",
//			Events: func(reg *eventstore.Registry) error { ... register event types ... },
//			Setup:  func(ctx context.Context, p *peer.Peer) error { ... wire handlers; must not block ... },
//		}); err != nil {
//			os.Exit(1)
//		}
//	}
//
// The peer reads its configuration from the environment ([ConfigFromEnv]:
// NATS URLs, Redis addresses, database URL, HTTP address, shutdown
// timeout, and the OpenTelemetry SDK's own OTEL_* variables), refusing to
// start on a missing or malformed value with an error naming every bad
// variable. It then wires, and hands to Setup as a [*Peer]:
//
//   - the NATS transport, announced for discovery (nats.go/micro, so
//     `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` list every running peer),
//     and a mediator to serve over it;
//   - the service's event store ([EventStore]: PostgreSQL, or a SQLite file
//     when no database URL is set) with its outbox relayed to NATS, an inbox
//     for consumers ([EventStore.Once], [EventStore.InboxHandler]) that does
//     not make services name the database's transaction type, and catch-up
//     subscriptions for read models;
//   - a saga engine over Redis (one node or a cluster) or NATS JetStream KV,
//     started once Setup returns;
//   - an HTTP router served on CATGA_HTTP_ADDR with /healthz, /readyz (NATS,
//     saga store and database really answer) and /metrics (Prometheus,
//     through the OpenTelemetry exporter: HTTP requests and latency, saga
//     outcomes and durations, outbox backlog and lag, requests and events
//     handled), every request traced;
//   - the saga console on /console/ (package console) when the service
//     registered sagas, unless CATGA_CONSOLE says read-only or off: an
//     operator surface, to expose only where operators are;
//   - a JSON logger that stamps each line with its trace and span ids, a
//     meter, the tracer provider (OTLP export when
//     OTEL_EXPORTER_OTLP_ENDPOINT is set);
//   - goroutines owned by the peer ([Peer.Go]), waited for at shutdown; one
//     that fails stops the peer.
//
// On SIGTERM (or when [Run]'s context ends) the peer shuts down in order,
// within CATGA_SHUTDOWN_TIMEOUT: turn /readyz to 503 and keep serving for
// CATGA_DRAIN_DELAY (default 1s, so load balancers polling readiness take
// the peer out before its port closes), stop taking HTTP requests, stop the outbox
// relay, drain NATS (finish the messages in flight), hand the saga leases
// to the other peers, stop the goroutines, close the stores, flush
// telemetry.
//
// Every instance of a service is an equal peer. There is no leader to elect
// and nothing to configure per instance beyond what this package reads.
package peer
