package peertest

import (
	"testing"

	"github.com/catga-go/catga/libs/catga/internal/pgtest"
	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/natsembed"
)

// NATS starts an embedded nats-server with JetStream on a free loopback
// port for t, shut down when t ends. Its ClientURL() is the peers'
// CATGA_NATS_URL; a test stops it early with Shutdown() to see peers lose
// NATS.
func NATS(t testing.TB) *natsembed.Server {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// PostgresURL returns the URL of a new, empty PostgreSQL database (for
// CATGA_DATABASE_URL), dropped when t ends. The server is started once per
// test process (or CATGA_TEST_POSTGRES_URL names one); call [Main] from
// TestMain to stop it. Under -short the test is skipped.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return pgtest.URL(t)
}

// RedisAddr starts a redis-server for t and returns its host:port (for
// CATGA_REDIS_ADDRS). Under -short the test is skipped.
func RedisAddr(t testing.TB) string {
	t.Helper()
	return redistest.Start(t).Options().Addr
}

// Main runs the tests and then stops the PostgreSQL server that
// [PostgresURL] started. Call it from TestMain.
func Main(m *testing.M) { pgtest.Main(m) }
