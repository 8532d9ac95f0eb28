package saga_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// hungStep returns a three-step definition whose step 1 action blocks as
// block says (until the test ends), and a channel closed when it started.
func hungStep(t *testing.T, l *ledger, block func(ctx context.Context, o *order)) (saga.Definition[order], <-chan struct{}) {
	entered := make(chan struct{})
	var once sync.Once
	def := threeSteps(l, func(int) error { return nil })
	def.Steps[1].Action = func(ctx context.Context, o *order) error {
		once.Do(func() { close(entered) })
		block(ctx, o)
		return ctx.Err()
	}
	def.Steps[1].Retry = saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}
	return def, entered
}

// ignoreCtx blocks until the test ends, whatever its context says.
func ignoreCtx(t *testing.T) func(context.Context, *order) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return func(context.Context, *order) { <-stop }
}

func honourCtx(ctx context.Context, _ *order) { <-ctx.Done() }

// TestHungStepEnds: a step that never answers does not pin its saga: the
// saga deadline and the step timeouts end each attempt even when the step
// ignores its context, and the saga is compensated.
func TestHungStepEnds(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, def *saga.Definition[order], block *func(context.Context, *order))
		opts  []saga.Option
	}{
		{"saga deadline ends an attempt without a timeout", func(t *testing.T, def *saga.Definition[order], block *func(context.Context, *order)) {
			def.Deadline = 300 * time.Millisecond
			*block = honourCtx
		}, nil},
		{"step timeout with a step that ignores ctx", func(t *testing.T, def *saga.Definition[order], block *func(context.Context, *order)) {
			def.Steps[1].Timeout = 100 * time.Millisecond
			*block = ignoreCtx(t)
		}, nil},
		{"saga deadline with a step that ignores ctx", func(t *testing.T, def *saga.Definition[order], block *func(context.Context, *order)) {
			def.Deadline = 300 * time.Millisecond
			*block = ignoreCtx(t)
		}, nil},
		{"engine default step timeout", func(t *testing.T, def *saga.Definition[order], block *func(context.Context, *order)) {
			*block = ignoreCtx(t)
		}, []saga.Option{saga.WithStepTimeout(100 * time.Millisecond)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t, 10*time.Second)
			l := newLedger()
			var block func(context.Context, *order)
			def, _ := hungStep(t, l, func(ctx context.Context, o *order) { block(ctx, o) })
			tc.setup(t, &def, &block)
			e := newEngine(t, checkedMemory(t), tc.opts...)
			s, err := saga.Register(e, def)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := runWithin(t, 5*time.Second, func() (saga.Record, error) { return s.Run(ctx, "", order{ID: "hung"}) })
			if err != nil || rec.State != sagastore.StateCompensated {
				t.Fatalf("%s %q, %v; want compensated", rec.State, rec.Error, err)
			}
			if applied, undid, twice := l.counts(); applied != 1 || undid != 1 || twice || rec.Steps[1].Status != sagastore.StepCompensated {
				t.Fatalf("applied %d undone %d twice %v, steps %+v; want step 0 applied and undone, step 1 compensated", applied, undid, twice, rec.Steps)
			}
		})
	}
}

// TestHungCompensationGoesStuck: a compensation that hangs ignoring its
// context ends Stuck, for an operator, rather than never.
func TestHungCompensationGoesStuck(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	def := threeSteps(newLedger(), func(step int) error {
		if step == 1 {
			return errDeclined
		}
		return nil
	})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	def.Steps[0].Compensate = func(context.Context, *order) error { <-stop; return nil }
	def.Steps[0].CompensationRetry = saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}
	def.Steps[0].Timeout = 100 * time.Millisecond
	s, err := saga.Register(newEngine(t, checkedMemory(t)), def)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := runWithin(t, 5*time.Second, func() (saga.Record, error) { return s.Run(ctx, "", order{ID: "stuck"}) })
	if err != nil || rec.State != sagastore.StateStuck {
		t.Fatalf("%s, %v; want stuck", rec.State, err)
	}
}

// TestCloseBoundedByContext: Close returns by its context's deadline even
// while a step ignores its context, and the saga is left to another peer.
func TestCloseBoundedByContext(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	store, l := checkedMemory(t), newLedger()
	def, entered := hungStep(t, l, ignoreCtx(t))
	a := saga.New(store, saga.WithOwner("a"))
	sa, err := saga.Register(a, def)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sa.Start(ctx, "", order{ID: "close"})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- a.Close(cctx) }()
	select {
	case err := <-closed:
		t.Logf("Close: %v", err) // any outcome: the test is about when it returns
	case <-time.After(3 * time.Second):
		t.Fatal("Close(ctx) did not return within 3s of a 300ms deadline")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v with a 300ms context", took)
	}
	if rec, _ := store.Get(ctx, id); !rec.State.Active() {
		t.Fatalf("saga %s after Close, want it left active for another peer", rec.State)
	}
}

// TestFailedAttemptDataDiscarded: what a failed attempt wrote into the saga
// data reaches neither its retry nor the compensations.
func TestFailedAttemptDataDiscarded(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	var calls atomic.Int32
	var seenByRetry, seenByUndo atomic.Value
	def := saga.Definition[order]{Name: "leak", Steps: []saga.Step[order]{
		{Name: "a", Action: func(_ context.Context, o *order) error { o.Reserve = "R"; return nil },
			Compensate: func(_ context.Context, o *order) error { seenByUndo.Store(o.ID + "/" + o.Reserve); return nil }},
		{Name: "b", Action: func(_ context.Context, o *order) error {
			if calls.Add(1) == 1 {
				o.ID = "garbage from a failed attempt"
				return errors.New("flaky")
			}
			seenByRetry.Store(o.ID)
			return errDeclined
		}, Retry: saga.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}},
	}}
	s, err := saga.Register(newEngine(t, checkedMemory(t)), def)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Run(ctx, "", order{ID: "o1"})
	if err != nil || rec.State != sagastore.StateCompensated {
		t.Fatalf("%s, %v", rec.State, err)
	}
	if got := seenByRetry.Load(); got != "o1" {
		t.Fatalf("retry saw ID %q, want o1", got)
	}
	if got := seenByUndo.Load(); got != "o1/R" {
		t.Fatalf("compensation saw %q, want o1/R", got)
	}
}

// runWithin runs a saga and fails t if it has not ended within d.
func runWithin(t *testing.T, d time.Duration, run func() (saga.Record, error)) (saga.Record, error) {
	t.Helper()
	type result struct {
		rec saga.Record
		err error
	}
	done := make(chan result, 1)
	go func() { rec, err := run(); done <- result{rec, err} }() // ends when the test's context does, at the latest
	select {
	case r := <-done:
		return r.rec, r.err
	case <-time.After(d):
		t.Fatalf("the saga did not end within %v: a hung step pins it", d)
		return saga.Record{}, nil
	}
}
