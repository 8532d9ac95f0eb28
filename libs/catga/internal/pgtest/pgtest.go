// Package pgtest gives tests a real PostgreSQL database.
//
// The server is started once per test binary with pgembed (initdb + postgres
// on a free loopback port, as user "nobody" when running as root) and each
// call to [DB] creates a fresh database in it. When CATGA_TEST_POSTGRES_URL
// is set, that server is used instead (the URL's user must be allowed to
// create databases). Call [Main] from TestMain so the server is stopped.
//
// Under -short the tests are skipped with a printed reason. Otherwise missing
// server binaries fail the test with a pointer to scripts/install-deps.sh.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catga-go/catga/libs/catga/eventstore/pgembed"
)

// EnvURL names the variable that points the tests at an existing server.
const EnvURL = "CATGA_TEST_POSTGRES_URL"

var (
	mu      sync.Mutex
	server  *pgembed.Server
	baseURL string
	initErr error
	started bool
	counter atomic.Int64
)

// Main runs the tests and stops the server they started.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if server != nil {
		server.Stop()
	}
	mu.Unlock()
	os.Exit(code)
}

func base() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if started {
		return baseURL, initErr
	}
	started = true
	if u := os.Getenv(EnvURL); u != "" {
		baseURL = u
		return baseURL, nil
	}
	s, err := pgembed.Start(context.Background(), pgembed.Config{})
	if err != nil {
		initErr = err
		return "", err
	}
	server, baseURL = s, s.URL("postgres")
	return baseURL, nil
}

// URL returns the URL of a new, empty database that is dropped when the
// test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs PostgreSQL (initdb/postgres or " + EnvURL + "); skipped under -short")
	}
	b, err := base()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, b)
	if err != nil {
		tb.Fatalf("pgtest: connect %s: %v", b, err)
	}
	defer func() { _ = admin.Close(ctx) }()
	name := fmt.Sprintf("catga_test_%d_%d", os.Getpid(), counter.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, b)
		if err != nil {
			return
		}
		defer func() { _ = c.Close(ctx) }()
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(b)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Pool returns a pool on a new database (see [URL]), closed when the test
// ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return NewPool(tb, URL(tb))
}

// NewPool returns a pool on url, closed when the test ends.
func NewPool(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}
