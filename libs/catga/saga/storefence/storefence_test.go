package storefence_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/fencetest"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		runCrashChild(spec)
		os.Exit(1)
	}
	pgtest.Main(m)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func registry(t *testing.T) *eventstore.Registry {
	reg, err := newRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func newRegistry() (*eventstore.Registry, error) {
	reg := eventstore.NewRegistry()
	return reg, errors.Join(fencetest.Register(reg), registerAccount(reg))
}

var (
	_ storefence.Backend = (*pgstore.Store)(nil)
	_ storefence.Backend = (*sqlitestore.Store)(nil)
)

// backend is an event store the fence runs over.
type backend interface {
	storefence.Backend
	eventstore.Store
	PruneFences(ctx context.Context, before time.Time) (int64, error)
}

// backends are the stores the tests run on: PostgreSQL and SQLite, each a
// fresh database.
var backends = []struct {
	name string
	open func(t *testing.T, reg *eventstore.Registry) backend
}{
	{"postgres", func(t *testing.T, reg *eventstore.Registry) backend {
		s, err := pgstore.New(ctxT(t), pgtest.Pool(t), reg, pgstore.WithSchema("payment"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"sqlite", func(t *testing.T, reg *eventstore.Registry) backend {
		s, err := sqlitestore.Open(ctxT(t), filepath.Join(t.TempDir(), "fence.db"), reg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

func newFence(t *testing.T, b storefence.Backend, opts ...saga.FenceOption) *storefence.Fence {
	f, err := storefence.New(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestConformance: Apply passes the fence suite, atomicity included, on
// both stores; so do Admit, Commit and Abort, as the guards use them.
func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name+"/Apply", func(t *testing.T) {
			fencetest.Run(t, func(t *testing.T) fencetest.Subject {
				s := b.open(t, registry(t))
				f := newFence(t, s)
				return fencetest.Subject{Apply: fencetest.FromTx(f.Apply), Tx: &fencetest.TxSubject{Apply: f.Apply, Store: s}}
			})
		})
		t.Run(b.name+"/AdmitCommit", func(t *testing.T) {
			fencetest.Run(t, func(t *testing.T) fencetest.Subject {
				return fencetest.ForFence(newFence(t, b.open(t, registry(t)), saga.WithReservation(fencetest.Reservation)))
			})
		})
	}
}

func TestNewNilBackend(t *testing.T) {
	if _, err := storefence.New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// TestPruneFences: pruning deletes the records written before the cut, and
// only those.
func TestPruneFences(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t, registry(t))
			f := newFence(t, s)
			ctx := ctxT(t)
			noop := func(context.Context, eventstore.Store) error { return nil }
			op := saga.Op{Saga: "order-1", Key: "charge", Epoch: 1}
			if _, err := f.Apply(ctx, op, noop); err != nil {
				t.Fatal(err)
			}
			if n, err := s.PruneFences(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
				t.Fatalf("pruning records older than an hour: %d, %v; want 0", n, err)
			}
			if adm, err := f.Apply(ctx, op, noop); err != nil || adm != saga.Duplicate {
				t.Fatalf("after pruning nothing: (%v, %v), want Duplicate", adm, err)
			}
			if n, err := s.PruneFences(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
				t.Fatalf("pruning every record: %d, %v; want 1", n, err)
			}
			if adm, err := f.Apply(ctx, op, noop); err != nil || adm != saga.Apply {
				t.Fatalf("after pruning its record: (%v, %v), want Apply", adm, err)
			}
		})
	}
}
