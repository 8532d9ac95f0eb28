package peertest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
)

// Store is an event store as a service's peers have it: a
// *sqlitestore.Store or a *pgstore.Store, with its feed (for
// subscriptions) and the saga fence's transactions.
type Store interface {
	eventstore.Store
	eventstore.Feed
	storefence.Backend
}

// Backend is a new, empty event store for one service. Env points the
// service's peers at it (CATGA_SQLITE_PATH or CATGA_DATABASE_URL); Store is
// the test's own view of the same events, where the chassis keeps them,
// to check what the peers stored or to run the service's app layer over
// directly.
type Backend struct {
	// Name is "sqlite" or "postgres".
	Name  string
	Env   []string
	Store Store
}

// SQLite makes a Backend on a new SQLite file named after service in a
// directory of t's; the test's store is closed when t ends.
func SQLite(t testing.TB, service string, reg *eventstore.Registry) Backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), service+".db")
	s, err := sqlitestore.Open(t.Context(), path, reg)
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return Backend{Name: "sqlite", Env: []string{"CATGA_SQLITE_PATH=" + path}, Store: s}
}

// Postgres makes a Backend on a new PostgreSQL database ([PostgresURL]),
// its events in the schema the chassis gives service. Under -short the
// test is skipped.
func Postgres(t testing.TB, service string, reg *eventstore.Registry) Backend {
	t.Helper()
	url := PostgresURL(t)
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	t.Cleanup(pool.Close)
	s, err := pgstore.New(t.Context(), pool, reg, pgstore.WithSchema(schemaOf(service)))
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	return Backend{Name: "postgres", Env: []string{"CATGA_DATABASE_URL=" + url}, Store: s}
}

// schemaOf is the PostgreSQL schema the chassis keeps service's events in.
func schemaOf(service string) string {
	return strings.ReplaceAll(strings.ToLower(service), "-", "_")
}

// EachBackend runs fn as the subtest "sqlite" over [SQLite] and as the
// subtest "postgres" over [Postgres], each with a new, empty store for
// service whose events reg knows.
func EachBackend(t *testing.T, service string, reg *eventstore.Registry, fn func(t *testing.T, b Backend)) {
	t.Helper()
	backends := []struct {
		name string
		open func(testing.TB, string, *eventstore.Registry) Backend
	}{{"sqlite", SQLite}, {"postgres", Postgres}}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t, service, reg)) })
	}
}
