package saga_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
)

type debit struct{ Amount int64 }
type credit struct{ Amount int64 }

// TestRejectedStepReplayedLaterIsRefused: a charge refused for want of
// money, replayed (same message, same metadata) after the saga was
// compensated and the customer deposited, must not charge a cancelled
// saga. The engine compensates the rejected step too, so the
// participant's fence tombstones its key.
func TestRejectedStepReplayedLaterIsRefused(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	var (
		mu       sync.Mutex
		balance  int64
		charges  int
		refunds  int
		captured catga.Metadata
	)
	fence := saga.NewMemoryFence()
	m := mediator.New()
	charge := saga.GuardAction(fence, func(ctx context.Context, d debit) (struct{}, error) {
		mu.Lock()
		defer mu.Unlock()
		captured, _ = catga.MetadataFrom(ctx)
		if balance < d.Amount {
			return struct{}{}, catga.Reject("insufficient_funds", "balance %d", balance)
		}
		balance -= d.Amount
		charges++
		return struct{}{}, nil
	})
	if err := mediator.Handle(m, charge); err != nil {
		t.Fatal(err)
	}
	if err := mediator.Handle(m, saga.GuardCompensation(fence, func(ctx context.Context, c credit) (struct{}, error) {
		mu.Lock()
		defer mu.Unlock()
		balance += c.Amount
		refunds++
		return struct{}{}, nil
	})); err != nil {
		t.Fatal(err)
	}

	e := saga.New(memory.New())
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	s, err := saga.Register(e, saga.Definition[order]{
		Name: "pay",
		Steps: []saga.Step[order]{{
			Name: "charge",
			Action: func(ctx context.Context, o *order) error {
				_, err := mediator.Send[struct{}](ctx, m, debit{Amount: 30})
				return err
			},
			Compensate: func(ctx context.Context, o *order) error {
				_, err := mediator.Send[struct{}](ctx, m, credit{Amount: 30})
				return err
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Run(ctx, "o1", order{ID: "o1"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != sagastore.StateCompensated || !rec.Steps[0].Rejected {
		t.Fatalf("saga %s, step %+v: want compensated after a rejection", rec.State, rec.Steps[0])
	}

	mu.Lock()
	balance = 100 // the customer deposits
	replay := captured
	mu.Unlock()
	_, err = charge(catga.WithMetadata(ctx, replay), debit{Amount: 30})
	if rej, ok := errors.AsType[*catga.RejectionError](err); !ok || rej.Code != saga.CodeCompensated {
		t.Errorf("replayed charge: %v, want a %q rejection", err, saga.CodeCompensated)
	}
	mu.Lock()
	defer mu.Unlock()
	if charges != 0 || refunds != 0 || balance != 100 {
		t.Errorf("charges %d refunds %d balance %d: the cancelled saga's charge applied on replay", charges, refunds, balance)
	}
}
