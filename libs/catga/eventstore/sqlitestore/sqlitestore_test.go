package sqlitestore_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, path string, reg *eventstore.Registry, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(ctxT(t), path, reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Opener {
		path := filepath.Join(t.TempDir(), "events.db")
		return func(t *testing.T, reg *eventstore.Registry) eventstore.Store {
			return open(t, path, reg, sqlitestore.WithTablePrefix("orders_"))
		}
	})
}

func TestHandleTx(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tx.db"), eventstoretest.NewRegistry())
	eventstoretest.RunHandleTx[*sql.Tx](t, s, func(ctx context.Context) (*sql.Tx, func(bool) error) {
		tx, err := s.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tx, func(commit bool) error {
			if commit {
				return tx.Commit()
			}
			return tx.Rollback()
		}
	})
}

func TestInbox(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "inbox.db"), eventstoretest.NewRegistry())
	eventstoretest.RunInbox[*sql.Tx](t, s)
}

// TestInboxEffectAppendsAtomically: an effect that appends in the inbox's
// transaction and then fails leaves neither the events nor the inbox record.
func TestInboxEffectAppendsAtomically(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "fx.db"), eventstoretest.NewRegistry())
	effect := func(fail bool) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			if _, err := s.AppendTx(ctx, tx, "acct", eventstore.Any, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 1}}}); err != nil {
				return err
			}
			if fail {
				return context.DeadlineExceeded
			}
			return nil
		}
	}
	if err := s.Process(ctx, "c", "m", effect(true)); err == nil {
		t.Fatal("failing effect: want error")
	}
	if recs, _ := s.Load(ctx, "acct", 0); len(recs) != 0 {
		t.Fatalf("rolled-back effect left %d events", len(recs))
	}
	if err := s.Process(ctx, "c", "m", effect(false)); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.Load(ctx, "acct", 0); len(recs) != 1 {
		t.Fatalf("stream has %d events, want 1", len(recs))
	}
	err := s.Process(ctx, "c", "m2", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.AppendTx(ctx, tx, "acct", 42, []eventstore.Event{{Data: eventstoretest.Deposited{}}}); err == nil {
			t.Error("append at wrong version: want conflict")
		}
		_, err := s.AppendTx(ctx, tx, "acct", 1, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 2}}})
		return err
	})
	if err != nil {
		t.Fatalf("effect recovering from a conflict: %v", err)
	}
	if recs, _ := s.Load(ctx, "acct", 0); len(recs) != 2 {
		t.Fatalf("stream has %d events, want 2", len(recs))
	}
}

// TestConcurrentMigrations opens one file from three starters at once.
func TestConcurrentMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	const starters = 3
	var wg sync.WaitGroup
	errs := make([]error, starters)
	stores := make([]*sqlitestore.Store, starters)
	for i := range starters {
		wg.Go(func() {
			stores[i], errs[i] = sqlitestore.Open(ctxT(t), path, eventstoretest.NewRegistry(), sqlitestore.WithTablePrefix("inventory_"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starter %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	var version int64
	var dirty bool
	if err := stores[0].DB().QueryRow(`SELECT version, dirty FROM inventory_schema_migrations`).Scan(&version, &dirty); err != nil {
		t.Fatal(err)
	}
	if want := latestMigration(t); version != want || dirty {
		t.Fatalf("schema_migrations = %d dirty=%v, want %d clean", version, dirty, want)
	}
	var tables int
	if err := stores[0].DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'inventory\_%' ESCAPE '\'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 10 { // 9 tables + schema_migrations
		t.Fatalf("%d inventory_ tables, want 10", tables)
	}
	for i, s := range stores {
		if _, err := s.Append(ctxT(t), "item", eventstore.Any, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: i}}}); err != nil {
			t.Fatalf("starter %d append: %v", i, err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		path string
		opts []sqlitestore.Option
	}{
		{name: "bad prefix", path: "x.db", opts: []sqlitestore.Option{sqlitestore.WithTablePrefix("Bad-")}},
		{name: "zero busy timeout", path: "x.db", opts: []sqlitestore.Option{sqlitestore.WithBusyTimeout(0)}},
		{name: "nil logger", path: "x.db", opts: []sqlitestore.Option{sqlitestore.WithLogger(nil)}},
		{name: "memory", path: ":memory:"},
		{name: "empty path", path: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "x.db" {
				path = filepath.Join(t.TempDir(), path)
			}
			if s, err := sqlitestore.Open(ctxT(t), path, eventstore.NewRegistry(), tt.opts...); err == nil {
				_ = s.Close()
				t.Fatal("accepted")
			}
		})
	}
}

// latestMigration is the version of the newest migration file.
func latestMigration(t *testing.T) int64 {
	t.Helper()
	files, err := filepath.Glob("migrations/*.up.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v", err)
	}
	return int64(len(files))
}

// TestMigrationFS: the exported migrations are the embedded ones with the
// table prefix filled in, and a dirty schema is refused with a way out.
func TestMigrationFS(t *testing.T) {
	fsys, err := sqlitestore.MigrationFS("billing_")
	if err != nil {
		t.Fatal(err)
	}
	up, err := fs.ReadFile(fsys, "000001_init.up.sql")
	if err != nil || !strings.Contains(string(up), "CREATE TABLE billing_events") {
		t.Fatalf("000001 up = %s, %v", up, err)
	}
	path := filepath.Join(t.TempDir(), "dirty.db")
	s := open(t, path, eventstoretest.NewRegistry())
	if _, err := s.DB().Exec(`UPDATE schema_migrations SET dirty = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlitestore.Open(ctxT(t), path, eventstoretest.NewRegistry()); err == nil || !strings.Contains(err.Error(), "force") {
		t.Fatalf("Open on a dirty schema: %v, want an error saying how to recover", err)
	}
}

// TestDurableByDefault: commits are synced (synchronous=FULL), so a commit
// the relay already published cannot be rolled back by a power loss.
func TestDurableByDefault(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "sync.db"), eventstoretest.NewRegistry())
	var mode int
	if err := s.DB().QueryRow(`PRAGMA synchronous`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("PRAGMA synchronous = %d, %v; want 2 (FULL)", mode, err)
	}
}
