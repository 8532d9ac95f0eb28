package saga_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

type reservation struct{ ID string }

// TestStepResults: a step's result is recorded in the saga record, not the
// data: a later step and the step's own compensation read it, an operator
// reads it from Get, and a failed attempt's result is discarded.
func TestStepResults(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	var attempts atomic.Int32
	var leaked atomic.Bool
	var seenByNext, seenByUndo atomic.Value
	def := saga.Definition[struct{}]{Name: "results", Steps: []saga.Step[struct{}]{
		{
			Name: "probe", // its failed attempt records a result; the retry that succeeds does not
			Action: func(ctx context.Context, _ *struct{}) error {
				if attempts.Add(1) == 1 {
					if err := saga.SetResult(ctx, reservation{ID: "from-a-failed-attempt"}); err != nil {
						return catga.Permanent(err)
					}
					return errors.New("transient")
				}
				return nil
			},
			Retry: saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond},
		},
		{
			Name: "reserve",
			Action: func(ctx context.Context, _ *struct{}) error {
				_, ok, _ := saga.StepResult[reservation](ctx, 0)
				leaked.Store(ok)
				return saga.SetResult(ctx, reservation{ID: "r-1"})
			},
			Compensate: func(ctx context.Context, _ *struct{}) error {
				r, _, err := saga.StepResult[reservation](ctx, 1)
				seenByUndo.Store(r.ID)
				if err := saga.SetResult(ctx, "x"); !errors.Is(err, saga.ErrNoStep) {
					return catga.Permanent(errors.New("a compensation recorded a result"))
				}
				return err
			},
		},
		{
			Name: "charge",
			Action: func(ctx context.Context, _ *struct{}) error {
				r, ok, err := saga.StepResult[reservation](ctx, 1)
				if err != nil || !ok {
					return catga.Permanent(errors.New("no result from step 1"))
				}
				seenByNext.Store(r.ID)
				return catga.Reject("declined", "card declined")
			},
		},
	}}
	e := newEngine(t, checkedMemory(t))
	s, err := saga.Register(e, def)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Run(ctx, "", struct{}{})
	if err != nil || rec.State != sagastore.StateCompensated {
		t.Fatalf("run: %s, %v; want compensated", rec.State, err)
	}
	if leaked.Load() {
		t.Fatal("the result of step 0's failed attempt reached step 1")
	}
	if got, _ := seenByNext.Load().(string); got != "r-1" {
		t.Fatalf("step 2 read %q, want r-1", got)
	}
	if got, _ := seenByUndo.Load().(string); got != "r-1" {
		t.Fatalf("step 1's compensation read %q, want r-1", got)
	}
	got, err := e.Get(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok, err := saga.ResultOf[reservation](got, 1); err != nil || !ok || r.ID != "r-1" {
		t.Fatalf("Get: step 1 result %+v ok %v err %v, want r-1", r, ok, err)
	}
	for _, i := range []int{0, 2} {
		if r, ok, _ := saga.ResultOf[reservation](got, i); ok {
			t.Fatalf("step %d has result %+v, want none", i, r)
		}
	}
	if err := saga.SetResult(ctx, 1); !errors.Is(err, saga.ErrNoStep) {
		t.Fatalf("SetResult outside a step: %v", err)
	}
}
