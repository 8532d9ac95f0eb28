package fencetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
)

// appendApplied is a transactional effect: it appends Applied{key} to the
// key's stream through the fence's transaction.
func appendApplied(stream, key string) func(ctx context.Context, es eventstore.Store) error {
	return func(ctx context.Context, es eventstore.Store) error {
		_, err := es.Append(ctx, stream, eventstore.Any, []eventstore.Event{{Data: Applied{Key: key}}})
		return err
	}
}

// AtomicityCases are the cases of a transactional fence: the effect's
// appends and the fence record commit together or not at all. crash runs
// the effect and then makes the transaction fail; it returns the error
// Apply must return (nil: any error).
var AtomicityCases = []struct {
	Name  string
	crash func(ctx context.Context, cancel context.CancelFunc, es eventstore.Store, effect func(context.Context, eventstore.Store) error) error
}{
	{"effect appends, then fails", func(ctx context.Context, _ context.CancelFunc, es eventstore.Store, effect func(context.Context, eventstore.Store) error) error {
		if err := effect(ctx, es); err != nil {
			return err
		}
		return errEffect
	}},
	{"effect appends, then panics", func(ctx context.Context, _ context.CancelFunc, es eventstore.Store, effect func(context.Context, eventstore.Store) error) error {
		if err := effect(ctx, es); err != nil {
			return err
		}
		panic("fencetest: effect panics after appending")
	}},
	{"context ends after the effect: the commit fails", func(ctx context.Context, cancel context.CancelFunc, es eventstore.Store, effect func(context.Context, eventstore.Store) error) error {
		if err := effect(ctx, es); err != nil {
			return err
		}
		cancel() // as a process dying before its commit
		return nil
	}},
}

// Atomicity runs [AtomicityCases] and checks that a committed effect's
// events are there exactly once, for fences with [Subject.Tx]. After each
// failure, neither the events nor the fence record are there: the next
// delivery applies the key, and its events are the only ones.
func Atomicity(t *testing.T, h Harness) {
	tx := h(t).Tx // the cases use sagas of their own
	if tx == nil {
		t.Skip("the fence does not run effects in its event store's transaction (Subject.Tx is nil)")
	}
	for _, tc := range AtomicityCases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := ctxT(t)
			op := saga.Op{Saga: "saga-" + uuid.NewString(), Key: "k", Epoch: 1}
			stream := "fencetest-" + op.Saga
			effect := appendApplied(stream, op.Key)
			crashCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			_, err := tx.Apply(crashCtx, op, func(c context.Context, es eventstore.Store) error {
				return tc.crash(c, cancel, es, effect)
			})
			if err == nil {
				t.Fatal("Apply succeeded although its transaction failed")
			}
			checkEvents(t, tx.Store, stream, 0)
			if adm, err := tx.Apply(ctx, op, effect); err != nil || adm != saga.Apply {
				t.Fatalf("redelivery after the failure: (%v, %v), want Apply: the fence record was kept", adm, err)
			}
			checkEvents(t, tx.Store, stream, 1)
			if adm, err := tx.Apply(ctx, op, effect); err != nil || adm != saga.Duplicate {
				t.Fatalf("redelivery after the commit: (%v, %v), want Duplicate", adm, err)
			}
			checkEvents(t, tx.Store, stream, 1)
		})
	}
	t.Run("refused and NothingToUndo deliveries append nothing", func(t *testing.T) {
		ctx := ctxT(t)
		op := saga.Op{Saga: "saga-" + uuid.NewString(), Key: "k", Epoch: 2}
		stream := "fencetest-" + op.Saga
		undo := op
		undo.Compensation = true
		if adm, err := tx.Apply(ctx, undo, appendApplied(stream, "undo")); err != nil || adm != saga.NothingToUndo {
			t.Fatalf("compensation first: (%v, %v), want NothingToUndo", adm, err)
		}
		var rej *catga.RejectionError
		if _, err := tx.Apply(ctx, op, appendApplied(stream, op.Key)); !errors.As(err, &rej) || rej.Code != saga.CodeCompensated {
			t.Fatalf("late action: %v, want %s", err, saga.CodeCompensated)
		}
		op.Key, op.Epoch = "j", 1
		if _, err := tx.Apply(ctx, op, appendApplied(stream, op.Key)); !errors.As(err, &rej) || rej.Code != saga.CodeStaleEpoch {
			t.Fatalf("stale action: %v, want %s", err, saga.CodeStaleEpoch)
		}
		checkEvents(t, tx.Store, stream, 0)
	})
	t.Run("concurrent deliveries append once", func(t *testing.T) {
		ctx := ctxT(t)
		op := saga.Op{Saga: "saga-" + uuid.NewString(), Key: "k", Epoch: 1}
		stream := "fencetest-" + op.Saga
		start := make(chan struct{})
		errs := make(chan error, deliveries)
		var wg sync.WaitGroup
		for range deliveries {
			wg.Go(func() {
				<-start
				if _, err := tx.Apply(ctx, op, appendApplied(stream, op.Key)); err != nil {
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		checkEvents(t, tx.Store, stream, 1)
	})
}

func checkEvents(t *testing.T, s eventstore.Store, stream string, want int) {
	t.Helper()
	recs, err := s.Load(context.Background(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != want {
		t.Fatalf("stream %s holds %d events, want %d", stream, len(recs), want)
	}
}
