package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Opener {
		pool := pgtest.Pool(t)
		return func(t *testing.T, reg *eventstore.Registry) eventstore.Store {
			s, err := pgstore.New(ctxT(t), pool, reg, pgstore.WithSchema("orders"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

func TestHandleTx(t *testing.T) {
	pool := pgtest.Pool(t)
	s, err := pgstore.New(ctxT(t), pool, eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	eventstoretest.RunHandleTx[pgx.Tx](t, s, func(ctx context.Context) (pgx.Tx, func(bool) error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tx, func(commit bool) error {
			if commit {
				return tx.Commit(ctx)
			}
			return tx.Rollback(ctx)
		}
	})
}

func TestInbox(t *testing.T) {
	s, err := pgstore.New(ctxT(t), pgtest.Pool(t), eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	eventstoretest.RunInbox[pgx.Tx](t, s)
}

// TestInboxEffectAppendsAtomically: an effect that appends in the inbox's
// transaction and then fails leaves neither the events nor the inbox record.
func TestInboxEffectAppendsAtomically(t *testing.T) {
	ctx := ctxT(t)
	s, err := pgstore.New(ctx, pgtest.Pool(t), eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	effect := func(fail bool) func(context.Context, pgx.Tx) error {
		return func(ctx context.Context, tx pgx.Tx) error {
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
	// A conflict inside the effect (savepoint) does not poison the
	// transaction: the effect can handle it and still commit.
	err = s.Process(ctx, "c", "m2", func(ctx context.Context, tx pgx.Tx) error {
		if _, err := s.AppendTx(ctx, tx, "acct", 42, []eventstore.Event{{Data: eventstoretest.Deposited{}}}); err == nil {
			t.Error("append at wrong version: want conflict")
		}
		_, err := s.AppendTx(ctx, tx, "acct", 1, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 2}}})
		return err
	})
	if err != nil {
		t.Fatalf("effect recovering from a conflict: %v", err)
	}
}

// TestConcurrentMigrations starts three peers of one service at once on an
// empty database: golang-migrate's advisory lock lets one migrate, the others
// see the result.
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.URL(t)
	ctx := ctxT(t)
	const starters = 3
	var wg sync.WaitGroup
	errs := make([]error, starters)
	stores := make([]*pgstore.Store, starters)
	for i := range starters {
		pool := pgtest.NewPool(t, url) // separate pools, as on separate peers
		wg.Go(func() {
			stores[i], errs[i] = pgstore.New(ctx, pool, eventstoretest.NewRegistry(), pgstore.WithSchema("inventory"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starter %d: %v", i, err)
		}
	}
	pool := pgtest.NewPool(t, url)
	var version int64
	var dirty bool
	if err := pool.QueryRow(ctx, `SELECT version, dirty FROM inventory.schema_migrations`).Scan(&version, &dirty); err != nil {
		t.Fatal(err)
	}
	if want := latestMigration(t); version != want || dirty {
		t.Fatalf("schema_migrations = %d dirty=%v, want %d clean", version, dirty, want)
	}
	tables, err := pgx.CollectRows(must(pool.Query(ctx, `SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'inventory' ORDER BY 1`)), pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"checkpoints", "events", "inbox", "outbox", "outbox_parked", "saga_fences", "schema_migrations", "snapshots", "streams"}
	if len(tables) != len(want) {
		t.Fatalf("tables = %v, want %v", tables, want)
	}
	for i := range want {
		if tables[i] != want[i] {
			t.Fatalf("tables = %v, want %v", tables, want)
		}
	}
	// No foreign keys: the outbox's cost each append a row lock (000008).
	var fks int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'inventory' AND c.contype = 'f'`).Scan(&fks); err != nil || fks != 0 {
		t.Fatalf("%d foreign keys, %v; want none", fks, err)
	}
	// Every starter works on the migrated schema.
	for i, s := range stores {
		if _, err := s.Append(ctx, "item", eventstore.Any, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: i}}}); err != nil {
			t.Fatalf("starter %d append: %v", i, err)
		}
	}
}

func must(rows pgx.Rows, _ error) pgx.Rows { return rows }

// TestSchemasIsolated: two services in one database do not see each other.
func TestSchemasIsolated(t *testing.T) {
	ctx := ctxT(t)
	pool := pgtest.Pool(t)
	a, err := pgstore.New(ctx, pool, eventstoretest.NewRegistry(), pgstore.WithSchema("svc_a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgstore.New(ctx, pool, eventstoretest.NewRegistry(), pgstore.WithSchema("svc_b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, "s", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "s", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{}}}); err != nil {
		t.Fatalf("same stream id in another schema: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		schema string
	}{
		{name: "upper case", schema: "Orders"},
		{name: "quote", schema: `x"y`},
		{name: "empty", schema: ""},
		{name: "too long", schema: "a123456789012345678901234567890123456789x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Validation happens before the pool is touched.
			if _, err := pgstore.New(context.Background(), nil, eventstore.NewRegistry(), pgstore.WithSchema(tt.schema)); err == nil {
				t.Fatalf("schema %q accepted", tt.schema)
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

// TestFeedLateCommit: a transaction takes a lower position and commits after
// an append with a higher one was read. A reader of the feed continuing from
// what it got still sees it; reading by position (ReadAll) skips it.
func TestFeedLateCommit(t *testing.T) {
	ctx := ctxT(t)
	pool := pgtest.Pool(t)
	s, err := pgstore.New(ctx, pool, eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend := func(stream string) {
		if _, err := s.Append(ctx, stream, eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{Owner: stream}}}); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend("before")
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	late, err := s.AppendTx(ctx, tx, "late", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{Owner: "late"}}})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend("early")

	var cp eventstore.Checkpoint
	var got []string
	read := func() {
		t.Helper()
		recs, err := s.ReadFeed(ctx, cp, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if !cp.Less(r.Checkpoint()) {
				t.Fatalf("feed went back: %v after %v", r.Checkpoint(), cp)
			}
			cp = r.Checkpoint()
			got = append(got, r.StreamID)
		}
	}
	read() // "late" is in flight: the feed stops before it, and so before "early"
	all, err := s.ReadAll(ctx, 0, 100)
	if err != nil || len(all) != 2 || all[1].StreamID != "early" || all[1].Position <= late.Records[0].Position {
		t.Fatalf("ReadAll = %+v, %v; want before, early, with early above late's position %d", all, err, late.Records[0].Position)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	read()
	if want := []string{"before", "late", "early"}; !slices.Equal(got, want) {
		t.Fatalf("feed read %v, want %v", got, want)
	}
	// ReadAll continuing after the highest position it saw misses "late".
	if after, err := s.ReadAll(ctx, all[1].Position, 100); err != nil || len(after) != 0 {
		t.Fatalf("ReadAll after %d = %v, %v", all[1].Position, after, err)
	}
}

// TestMigrationFS: the exported migrations are the embedded ones with the
// schema filled in, and a dirty schema is refused with a way out.
func TestMigrationFS(t *testing.T) {
	fsys, err := pgstore.MigrationFS("billing")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil || int64(len(entries)) != 2*latestMigration(t) {
		t.Fatalf("migration files = %d, %v", len(entries), err)
	}
	up, err := fs.ReadFile(fsys, "000001_init.up.sql")
	if err != nil || !strings.Contains(string(up), `CREATE TABLE "billing".events`) || strings.Contains(string(up), "{{") {
		t.Fatalf("000001 up = %s, %v", up, err)
	}
	if _, err := pgstore.MigrationFS("Bad"); err == nil {
		t.Fatal("invalid schema accepted")
	}

	ctx := ctxT(t)
	pool := pgtest.Pool(t)
	if _, err := pgstore.New(ctx, pool, eventstoretest.NewRegistry(), pgstore.WithSchema("billing")); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE billing.schema_migrations SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	_, err = pgstore.New(ctx, pool, eventstoretest.NewRegistry(), pgstore.WithSchema("billing"), pgstore.WithMigrationLockTimeout(time.Second))
	if err == nil || !strings.Contains(err.Error(), "dirty") || !strings.Contains(err.Error(), "force") {
		t.Fatalf("New on a dirty schema: %v, want an error saying how to recover", err)
	}
}

// TestFeedStreamOrder: a transaction that got its id first waits for
// another's lock on the stream and so appends after it. The feed, ordered
// by transaction, still gives the stream in version order.
func TestFeedStreamOrder(t *testing.T) {
	ctx := ctxT(t)
	pool := pgtest.Pool(t)
	s, err := pgstore.New(ctx, pool, eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ev := []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 1}}}
	early, err := pool.Begin(ctx) // takes its id first, by writing elsewhere
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = early.Rollback(ctx) }()
	if _, err := s.AppendTx(ctx, early, "elsewhere", eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	late, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = late.Rollback(ctx) }()
	if _, err := s.AppendTx(ctx, late, "s", eventstore.NoStream, ev); err != nil { // holds the stream
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := s.AppendTx(ctx, early, "s", eventstore.Any, ev) // waits for late
		if err == nil {
			err = early.Commit(ctx)
		}
		waited <- err
	}()
	time.Sleep(100 * time.Millisecond) // let it block on the stream's row
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	recs, err := s.ReadFeed(ctx, eventstore.Checkpoint{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s@%d", r.StreamID, r.Version))
	}
	if i, j := slices.Index(got, "s@1"), slices.Index(got, "s@2"); i < 0 || j < i {
		t.Fatalf("feed = %v, want s@1 before s@2", got)
	}
}

// TestListenerKilledConnection: when the server ends the LISTEN connection
// the listener reports it (the relay then listens again) instead of
// hanging, and a new listener is woken by another peer's commit.
func TestListenerKilledConnection(t *testing.T) {
	ctx := ctxT(t)
	url := pgtest.URL(t)
	relayPeer, err := pgstore.New(ctx, pgtest.NewPool(t, url), eventstoretest.NewRegistry(), pgstore.WithNotifyInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	appender, err := pgstore.New(ctx, pgtest.NewPool(t, url), eventstoretest.NewRegistry(), pgstore.WithNotifyInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	l, err := relayPeer.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appender.Pool().Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.Wait(wctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait on a killed connection = %v, want the connection's error", err)
	}
	if err := l.Close(); err != nil {
		t.Logf("close of a killed listener: %v", err)
	}
	l, err = relayPeer.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	if _, err := appender.Append(ctx, "s", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(wctx); err != nil {
		t.Fatalf("new listener, another peer's commit: %v", err)
	}
}
