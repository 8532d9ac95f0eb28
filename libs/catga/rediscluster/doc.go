// Package rediscluster starts a real Redis Cluster for tests, benchmarks
// and local development: six
// redis-server processes (three masters, three replicas) on free loopback
// ports, formed with redis-cli --cluster create. It can SIGKILL a master to
// force a failover and cleans up every process it started.
package rediscluster
