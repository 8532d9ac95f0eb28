package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
)

// holdWrite starts a Process whose effect holds the write transaction until
// the returned release is called; it returns once the effect runs.
func holdWrite(t *testing.T, s *sqlitestore.Store) (release func() error) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Process(context.Background(), "hold", "h", func(ctx context.Context, tx *sql.Tx) error {
			close(in)
			<-out
			_, err := s.AppendTx(ctx, tx, "held", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 1}}})
			return err
		})
	}()
	select {
	case <-in:
	case err := <-done:
		t.Fatalf("holding write: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("holding write did not start within 10s")
	}
	return func() error { close(out); return <-done }
}

// waitGate waits (at most 10s) until n writes of s queue at its gate.
func waitGate(t *testing.T, s *sqlitestore.Store, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); sqlitestore.GateWaiting(s) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes wait at the gate after 10s, want %d", sqlitestore.GateWaiting(s), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWritersQueueInProcess: while one write transaction runs, the store's
// other writers wait in the process, holding no SQLite connection (so none
// sleeps in SQLite's busy handler, which polls on a fixed schedule and
// leaves the lock idle), then all commit, each stream in order.
func TestWritersQueueInProcess(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "gate.db"), eventstoretest.NewRegistry())
	release := holdWrite(t, s)
	const writers, each = 8, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for v := range int64(each) {
				if _, err := s.Append(ctx, fmt.Sprintf("acct-%d", w), v, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: int(v) + 1}}}); err != nil {
					errs <- err
				}
			}
		})
	}
	waitGate(t, s, writers)
	if inUse := s.DB().Stats().InUse; inUse != 1 {
		t.Errorf("%d SQLite connections in use while %d writers wait, want 1 (the holder's)", inUse, writers)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("queued append: %v", err)
	}
	for w := range writers {
		recs, err := s.Load(ctx, fmt.Sprintf("acct-%d", w), 0)
		if err != nil || len(recs) != each {
			t.Fatalf("acct-%d: %d events (%v), want %d", w, len(recs), err, each)
		}
		for i, r := range recs {
			var amount int
			switch e := r.Event.(type) {
			case eventstoretest.Deposited:
				amount = e.Amount
			case *eventstoretest.Deposited:
				amount = e.Amount
			}
			if r.Version != int64(i+1) || amount != i+1 {
				t.Fatalf("acct-%d event %d: version %d event %#v", w, i, r.Version, r.Event)
			}
		}
	}
}

// TestGateBoundedByBusyTimeout: a write queued longer than the busy timeout
// (here behind a transaction that does not end) fails with the retryable
// ErrWriteBusy, as it would on SQLite's lock, and one whose context ends
// stops waiting; neither leaves anything behind.
func TestGateBoundedByBusyTimeout(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "busy.db"), eventstoretest.NewRegistry(), sqlitestore.WithBusyTimeout(200*time.Millisecond))
	release := holdWrite(t, s)
	_, err := s.Append(ctx, "late", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 1}}})
	if !errors.Is(err, sqlitestore.ErrWriteBusy) || !catga.IsRetryable(err) {
		t.Errorf("append behind a held write: %v, want retryable ErrWriteBusy", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Process(cctx, "c", "m", func(context.Context, *sql.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("process with a cancelled context behind a held write: %v, want context.Canceled", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.Load(ctx, "late", 0); len(recs) != 0 {
		t.Errorf("refused append left %d events", len(recs))
	}
	if err := s.Process(ctx, "c", "m", func(context.Context, *sql.Tx) error { return nil }); err != nil {
		t.Errorf("the cancelled message must still be new: %v", err)
	}
}
