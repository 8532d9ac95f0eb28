package storefence_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
	"github.com/catga-go/catga/libs/catga/saga/fencetest"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func registry(t *testing.T) *eventstore.Registry {
	reg := eventstore.NewRegistry()
	if err := fencetest.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := registerAccount(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// backend is an event store the fence runs over.
type backend interface {
	storefence.Backend
	eventstore.Store
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

func newFence(t *testing.T, b storefence.Backend) *storefence.Fence {
	f, err := storefence.New(b)
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
				return fencetest.Subject{Apply: fencetest.FromFence(newFence(t, b.open(t, registry(t))))}
			})
		})
	}
}

func TestNewNilBackend(t *testing.T) {
	if _, err := storefence.New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}
