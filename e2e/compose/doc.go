// Package compose is the smoke test of deploy/compose.yaml: it brings the
// whole stack up with docker-compose and the images `make images` built
// (3 NATS nodes, a 6-node Redis Cluster, PostgreSQL, two peers of each
// service), with fresh random secrets in a throw-away env file and a project
// name of its own; waits until every peer is ready; places an order through
// an order peer's published port and sees it COMPLETED, charged and
// notified; checks that the NATS, Redis and PostgreSQL permissions of
// deploy/ are enforced (a service refused what it has no business doing,
// allowed what it needs); and tears everything down, also on failure.
//
// Without Docker or docker-compose, or without the images, it skips with the
// reason (`make test`); with CATGA_E2E=1 (`make e2e`, `make compose-smoke`)
// it fails instead.
package compose
