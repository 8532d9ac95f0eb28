package app_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgembed"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
	"github.com/catga-go/catga/services/inventory/adapters"
	"github.com/catga-go/catga/services/inventory/app"
)

// pg is the PostgreSQL server the tests also run against; nil (with
// pgMissing saying why) when its binaries are not installed.
var (
	pg        *pgembed.Server
	pgMissing string
	schemas   atomic.Int64
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := pgembed.Start(ctx, pgembed.Config{})
	switch {
	case errors.Is(err, pgembed.ErrNoBinaries):
		pgMissing = err.Error()
	case err != nil:
		fmt.Fprintln(os.Stderr, "start PostgreSQL:", err)
		return 1
	default:
		pg = s
		defer s.Stop()
	}
	return m.Run()
}

// eachStore runs fn against a fresh fixture over SQLite and over
// PostgreSQL, saga steps applied through the fence over that store.
func eachStore(t *testing.T, fn func(t *testing.T, f fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		reg := registry(t)
		store, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "inventory.db"), reg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close() })
		fence, err := storefence.New(store)
		if err != nil {
			t.Fatal(err)
		}
		fn(t, fixture{store: store, svc: app.New(store, fence)})
	})
	t.Run("postgres", func(t *testing.T) {
		if pg == nil {
			t.Skip("no PostgreSQL: " + pgMissing)
		}
		pool, err := pgxpool.New(t.Context(), pg.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		store, err := pgstore.New(t.Context(), pool, registry(t), pgstore.WithSchema(fmt.Sprintf("inventory_%d", schemas.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		fence, err := storefence.New(store)
		if err != nil {
			t.Fatal(err)
		}
		fn(t, fixture{store: store, svc: app.New(store, fence)})
	})
}

func registry(t *testing.T) *eventstore.Registry {
	t.Helper()
	reg := eventstore.NewRegistry()
	if err := adapters.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}
