package saga_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

// TestOperatorHandOff: a tool with no saga definition (the CLI) retries a
// Stuck saga and forces the compensation of a Running one whose owner
// still holds its lease. Each stays recoverable once handed off, the
// owner is fenced by the new epoch, a peer that knows the saga finishes
// it, and an action the state does not allow is refused without a write.
func TestOperatorHandOff(t *testing.T) {
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			ctx := ctxT(t, 20*time.Second)
			env := stuckSaga(t, ctx, st.open(t))
			close(env.release)
			op := saga.NewOperator(env.store, "cli")

			// Retry of the Stuck saga.
			before, err := op.Get(ctx, env.id)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := op.Retry(ctx, env.id)
			if err != nil {
				t.Fatalf("Retry: %v", err)
			}
			if rec.State != sagastore.StateCompensating || rec.Owner != "cli" || rec.Epoch != before.Epoch+1 || rec.Steps[rec.Step].UndoRound != before.Steps[before.Step].UndoRound+1 {
				t.Fatalf("after Retry: %s owner %s epoch %d (was %d)", rec.State, rec.Owner, rec.Epoch, before.Epoch)
			}
			if msg := storetest.Unrecoverable(ctx, env.store); msg != "" {
				t.Fatalf("handed off, not recoverable: %s", msg)
			}
			env.b.RecoverNow(ctx) // B knows the saga: it claims and compensates it
			final, err := env.b.Await(ctx, env.id)
			if err != nil || final.State != sagastore.StateCompensated || final.Owner != "b" {
				t.Fatalf("after the hand-off: %s owner %s, %v", final.State, final.Owner, err)
			}

			// A compensated saga can be neither retried nor compensated.
			for name, act := range map[string]func() (saga.Record, error){
				"Retry":           func() (saga.Record, error) { return op.Retry(ctx, env.id) },
				"ForceCompensate": func() (saga.Record, error) { return op.ForceCompensate(ctx, env.id) },
			} {
				if _, err := act(); !errors.Is(err, saga.ErrInvalidState) {
					t.Fatalf("%s of a compensated saga = %v, want ErrInvalidState", name, err)
				}
			}
			if after, _ := op.Get(ctx, env.id); after.Version != final.Version {
				t.Fatal("a refused action wrote the saga")
			}
			if _, err := op.Retry(ctx, "no-such-saga"); !errors.Is(err, sagastore.ErrNotFound) {
				t.Fatalf("Retry of a missing saga = %v, want ErrNotFound", err)
			}

			// ForceCompensate of a Running saga held by a live owner. (B's
			// compensation of step 0 reports on entered: empty it.)
			<-env.entered
			now := time.Now().UTC()
			running := sagastore.Record{
				ID: uuid.NewString(), Name: "order", State: sagastore.StateRunning, Step: 1,
				Steps: []sagastore.StepState{{Status: sagastore.StepSucceeded, KeyEpoch: 1}, {Status: sagastore.StepStarted, KeyEpoch: 1}, {}},
				Data:  []byte(`{"ID":"forced"}`), Owner: "elsewhere", Epoch: 1, LeaseUntil: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
			}
			if _, err := env.store.Create(ctx, running); err != nil {
				t.Fatal(err)
			}
			if _, err := op.Retry(ctx, running.ID); !errors.Is(err, saga.ErrInvalidState) {
				t.Fatalf("Retry of a running saga = %v, want ErrInvalidState", err)
			}
			rec, err = op.ForceCompensate(ctx, running.ID)
			if err != nil || rec.State != sagastore.StateCompensating || rec.Epoch != 2 || !rec.LeaseUntil.Before(time.Now().Add(time.Second)) {
				t.Fatalf("ForceCompensate: %+v, %v", rec, err)
			}
			if msg := storetest.Unrecoverable(ctx, env.store); msg != "" {
				t.Fatalf("forced, not recoverable: %s", msg)
			}
			env.b.RecoverNow(ctx)
			final, err = env.b.Await(ctx, running.ID)
			if err != nil || final.State != sagastore.StateCompensated || final.Epoch <= 2 {
				t.Fatalf("after the forced hand-off: %s epoch %d, %v", final.State, final.Epoch, err)
			}
		})
	}
}
