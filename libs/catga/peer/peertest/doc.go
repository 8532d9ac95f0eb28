// Package peertest runs a service's peers as real processes for component
// tests, the way they run in production: [Build] compiles the service's
// main package once per test process, [NATS] starts an embedded
// nats-server with JetStream, and [Start] launches a peer with its
// environment on a free loopback HTTP port and waits until its /readyz
// answers 200. [Process.Stop] sends SIGTERM and waits (bounded) for a
// clean exit; [Process.Kill] sends SIGKILL, the crash a test injects.
// Each process's output is kept and logged when the test fails.
//
//	func TestMain(m *testing.M) { peertest.Main(m) }
//
//	func TestCharge(t *testing.T) {
//		bin := peertest.Build(t, ".")  // the service's main package
//		nats := peertest.NATS(t)
//		env := []string{"CATGA_SQLITE_PATH=" + filepath.Join(t.TempDir(), "payment.db")}
//		peers := peertest.StartPeers(t, 2, bin, peertest.Options{NATSURL: nats.ClientURL(), Env: env})
//		... drive peers[0].URL and peers[1].URL over HTTP, crash one with peers[1].Kill() ...
//	}
//
// [PostgresURL] and [RedisAddr] give tests real stores (PostgreSQL through
// initdb/postgres on the machine, redis-server), for peers configured with
// CATGA_DATABASE_URL and CATGA_REDIS_ADDRS; call [Main] from TestMain so
// the PostgreSQL server stops with the tests.
package peertest
