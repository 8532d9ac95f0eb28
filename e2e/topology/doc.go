// Package topology starts the production topology of Catga-Go in
// containers, for the end-to-end tests: on a Docker network the test
// creates, a 3-node NATS cluster with JetStream, a 6-node Redis Cluster (3
// masters, 3 replicas), PostgreSQL, and N peers of every service. The test
// process reaches the services only through their peers' HTTP ports mapped
// to the host, as a client would.
//
// # Images
//
// No registry is needed: `make images` builds every image (see
// scripts/images-thirdparty.sh). Names default to the official ones and are
// overridden by CATGA_IMAGE_NATS, CATGA_IMAGE_REDIS, CATGA_IMAGE_POSTGRES
// and CATGA_IMAGE_<SERVICE> (e.g. CATGA_IMAGE_ORDER); see [Image]. A
// missing image fails [Start] naming `make images`.
//
// # Faults
//
// Peers run with CATGA_NATS_REPLICAS=3: every stream and bucket they create
// lives on the three NATS nodes ([Topology.NATSStreams] shows them, from a
// node's monitoring port). The infrastructure scenarios attack with
// [Topology.KillNATS] / [Topology.RestartNATS], [Topology.KillRedis]
// (its replica takes over: cluster-node-timeout is 1 s),
// [Topology.Disconnect] / [Topology.Reconnect] (a network partition of one
// peer) and [Topology.Pause]; [Topology.StartRedisProbe] writes saga
// records through the chassis' Redis store from inside the network, to
// measure a failover's write outage as the peers live it.
//
// # Redis Cluster addresses
//
// The nodes announce their addresses on the test's network (the default
// cluster-announce-ip), so the peers, which live on that network, follow
// MOVED and ASK redirects. The test process never talks to Redis directly:
// it works on the cluster through `redis-cli` inside a node ([Topology.RedisCLI]),
// which needs no host port per node, no hairpin NAT from the containers to
// the host's ports, and works alike on Linux and on Docker Desktop.
//
// # Cleanup
//
// Ryuk (the reaper container) cannot be pulled on machines without a
// registry, so [Start] disables it and removes what it made itself, with
// t.Cleanup: every container with its anonymous volumes, then the network,
// also when the test fails. On SIGINT (Ctrl-C) or SIGTERM, which end a
// test process without running t.Cleanup, it kills and removes them itself
// before the process exits. SIGKILL and the `go test -timeout` panic
// cannot be caught: every resource carries the label [Label], and
// `make e2e` sweeps what such a run left behind (scripts/e2e-clean.sh)
// before and after it runs.
//
// # No Docker
//
// Without a reachable Docker Engine, [Start] fails the test with a clear
// message when CATGA_E2E=1 (as `make e2e` sets), and otherwise skips it,
// printing the reason to stderr so `make test` shows it.
package topology
