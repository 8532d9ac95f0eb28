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
//
// The rest is the harness every service's tests share, so that no
// service carries a copy of it:
//   - [Backend] is a new event store for one service, a SQLite file
//     ([SQLite]) or a PostgreSQL database ([Postgres]): the environment that
//     points its peers at it and the test's own view of it, in the schema
//     the chassis uses. [EachBackend] runs a test over both.
//   - [StartCluster] starts NATS and n peers over a Backend; its
//     [Cluster.Transport] is the test's NATS client of them.
//   - [Client] sends HTTP requests to a peer ([Process.Client]) or any
//     server; [Eventually] polls for a condition; [ID] makes ids unique to a
//     test.
//   - [ServePorts] serves a service's HTTP and NATS handlers inside the
//     test process, for its ports package's tests.
//
// A component test over both stores:
//
//	peertest.EachBackend(t, "payment", reg, func(t *testing.T, b peertest.Backend) {
//		c := peertest.StartCluster(t, bin, 2, b, peertest.Options{})
//		status, body := c.Peers[0].Client().Do(t, "GET", "/accounts/alice", "")
//		recs, err := b.Store.Load(t.Context(), "account-alice", 0) // what the peers stored
//		...
//	})
package peertest
