package fencetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
)

// Run runs every case against fresh subjects from h.
func Run(t *testing.T, h Harness) {
	t.Run("Rules", func(t *testing.T) { Rules(t, h) })
	t.Run("ConcurrentDeliveries", func(t *testing.T) { ConcurrentDeliveries(t, h) })
	t.Run("ActionRacesCompensation", func(t *testing.T) { ActionRacesCompensation(t, h) })
	t.Run("Atomicity", func(t *testing.T) { Atomicity(t, h) })
	t.Run("Fence", func(t *testing.T) { Fence(t, h) })
}

// step is one delivery in a rule case and what it must return.
type step struct {
	op     saga.Op
	fail   bool // the effect returns an error
	panics bool // the effect panics
	want   saga.Admission
	code   string // rejection code expected
	runs   bool   // the effect must run (else it must not)
}

var errEffect = errors.New("fencetest: effect failed")

func action(key string, epoch uint64) saga.Op { return saga.Op{Key: key, Epoch: epoch} }
func compensation(key string, epoch uint64) saga.Op {
	return saga.Op{Key: key, Epoch: epoch, Compensation: true}
}

// RuleCases are the fence rules, each a sequence of deliveries to one saga.
var RuleCases = []struct {
	Name  string
	steps []step
}{
	{"each key applied once, then answered as Duplicate", []step{
		{op: action("k", 1), want: saga.Apply, runs: true},
		{op: action("k", 1), want: saga.Duplicate},
		{op: action("k", 2), want: saga.Duplicate},
		{op: action("j", 2), want: saga.Apply, runs: true},
	}},
	{"stale epoch refused, also for a key not seen before", []step{
		{op: action("k", 2), want: saga.Apply, runs: true},
		{op: action("j", 1), code: saga.CodeStaleEpoch},
		{op: compensation("j", 1), code: saga.CodeStaleEpoch},
		{op: action("k", 1), code: saga.CodeStaleEpoch},
	}},
	{"newer epoch accepted and recorded", []step{
		{op: action("k", 1), want: saga.Apply, runs: true},
		{op: action("j", 3), want: saga.Apply, runs: true},
		{op: action("m", 2), code: saga.CodeStaleEpoch},
		{op: action("m", 3), want: saga.Apply, runs: true},
	}},
	{"epoch 0 is unfenced", []step{
		{op: action("k", 3), want: saga.Apply, runs: true},
		{op: action("j", 0), want: saga.Apply, runs: true},
	}},
	{"compensation of a never-applied action leaves a tombstone", []step{
		{op: compensation("k", 1), want: saga.NothingToUndo},
		{op: action("k", 1), code: saga.CodeCompensated},
		{op: compensation("k", 1), want: saga.Duplicate},
		{op: action("k", 2), code: saga.CodeCompensated},
	}},
	{"compensation after the action is applied once", []step{
		{op: action("k", 1), want: saga.Apply, runs: true},
		{op: compensation("k", 1), want: saga.Apply, runs: true},
		{op: compensation("k", 1), want: saga.Duplicate},
		{op: action("k", 1), want: saga.Duplicate},
	}},
	{"a failed effect records nothing: the key applies later", []step{
		{op: action("k", 1), fail: true, runs: true},
		{op: action("k", 1), want: saga.Apply, runs: true},
		{op: action("k", 1), want: saga.Duplicate},
		{op: compensation("k", 1), fail: true, runs: true},
		{op: compensation("k", 1), want: saga.Apply, runs: true},
		{op: compensation("k", 1), want: saga.Duplicate},
	}},
	{"a panicking effect records nothing", []step{
		{op: action("k", 1), panics: true, runs: true},
		{op: action("k", 1), want: saga.Apply, runs: true},
	}},
	{"a refused op with a newer epoch fences older owners out", []step{
		{op: compensation("k", 1), want: saga.NothingToUndo},
		{op: action("k", 2), code: saga.CodeCompensated},
		{op: action("j", 1), code: saga.CodeStaleEpoch},
	}},
	{"a failed effect with a newer epoch fences older owners out", []step{
		{op: action("k", 2), fail: true, runs: true},
		{op: action("j", 1), code: saga.CodeStaleEpoch},
	}},
}

// Rules runs [RuleCases].
func Rules(t *testing.T, h Harness) {
	s := h(t) // the cases use sagas of their own
	for _, tc := range RuleCases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := ctxT(t)
			sagaID := "saga-" + uuid.NewString()
			type kind struct {
				key  string
				undo bool
			}
			applied := map[kind]int{} // effects that must have taken effect
			for i, st := range tc.steps {
				op := st.op
				op.Saga = sagaID
				ran := false
				adm, err := s.Apply(ctx, op, func(context.Context) error {
					ran = true
					switch {
					case st.panics:
						panic("fencetest: effect panics")
					case st.fail:
						return errEffect
					}
					return nil
				})
				if ran != st.runs {
					t.Fatalf("step %d %+v: effect ran = %v, want %v", i, op, ran, st.runs)
				}
				checkAnswer(t, i, op, st, adm, err)
				if st.runs && !st.fail && !st.panics {
					applied[kind{op.Key, op.Compensation}]++
				}
				if want := applied[kind{op.Key, op.Compensation}]; s.Committed != nil && committed(ctx, t, s, op, 0) != want {
					t.Fatalf("step %d %+v: %d effects of the key took effect, want %d", i, op, committed(ctx, t, s, op, 0), want)
				}
			}
		})
	}
}

func checkAnswer(t *testing.T, i int, op saga.Op, st step, adm saga.Admission, err error) {
	t.Helper()
	var rej *catga.RejectionError
	switch {
	case st.fail:
		if !errors.Is(err, errEffect) {
			t.Fatalf("step %d %+v: err = %v, want the effect's error", i, op, err)
		}
	case st.panics:
		if err == nil || catga.IsRetryable(err) {
			t.Fatalf("step %d %+v: err = %v, want a permanent error", i, op, err)
		}
	case st.code != "":
		if !errors.As(err, &rej) || rej.Code != st.code {
			t.Fatalf("step %d %+v: (%v, %v), want rejection %q", i, op, adm, err, st.code)
		}
	case err != nil || adm != st.want:
		t.Fatalf("step %d %+v: (%v, %v), want %v", i, op, adm, err, st.want)
	}
}

// deliveries is how many deliveries of one step message race.
const deliveries = 8

// slowEffect is how long a racing delivery's effect takes.
const slowEffect = 10 * time.Millisecond

// deliver applies op as a saga engine sends it: retrying while another
// delivery of it is in progress (non-transactional fences answer that).
func deliver(ctx context.Context, s Subject, op saga.Op, effect func(context.Context) error) (saga.Admission, error) {
	for {
		adm, err := s.Apply(ctx, op, effect)
		if !errors.Is(err, saga.ErrInProgress) {
			return adm, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ConcurrentDeliveries: deliveries of one key arrive at once from several
// goroutines; the effect runs exactly once, one delivery is told Apply and
// the others Duplicate. The saga is new, or known from another key (a
// store that keeps a record per saga then has one to lock).
func ConcurrentDeliveries(t *testing.T, h Harness) {
	s := h(t)
	for _, known := range []bool{false, true} {
		t.Run(fmt.Sprintf("saga known %v", known), func(t *testing.T) {
			ctx := ctxT(t)
			op := saga.Op{Saga: "saga-" + uuid.NewString(), Key: "k", Epoch: 1}
			if known {
				other := op
				other.Key = "other"
				if _, err := s.Apply(ctx, other, func(context.Context) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}
			var effects atomic.Int32
			answers := make([]saga.Admission, deliveries)
			errs := make([]error, deliveries)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range deliveries {
				wg.Go(func() {
					<-start
					answers[i], errs[i] = deliver(ctx, s, op, func(context.Context) error {
						effects.Add(1)
						time.Sleep(slowEffect) // a slow handler: the others arrive meanwhile
						return nil
					})
				})
			}
			close(start)
			wg.Wait()
			applied := 0
			for i := range deliveries {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				if answers[i] == saga.Apply {
					applied++
				} else if answers[i] != saga.Duplicate {
					t.Fatalf("delivery %d answered %v", i, answers[i])
				}
			}
			if n := committed(ctx, t, s, op, int(effects.Load())); n != 1 || applied != 1 {
				t.Fatalf("%d concurrent deliveries: effect ran %d times, %d answered Apply; want 1 and 1", deliveries, n, applied)
			}
		})
	}
}

// ActionRacesCompensation: deliveries of an action and of its compensation
// race. Either the action applies and then the compensation undoes it, or
// the compensation finds nothing to undo and the action is refused for
// good: the compensation's effect runs exactly when the action's did.
func ActionRacesCompensation(t *testing.T, h Harness) {
	s := h(t)
	ctx := ctxT(t)
	for round := range 5 {
		sagaID := "saga-" + uuid.NewString()
		var acted, undone atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, deliveries)
		for i := range deliveries {
			wg.Go(func() {
				<-start
				op, count := saga.Op{Saga: sagaID, Key: "k", Epoch: 1}, &acted
				if i%2 == 1 {
					op.Compensation, count = true, &undone
				}
				_, err := deliver(ctx, s, op, func(context.Context) error {
					count.Add(1)
					return nil
				})
				var rej *catga.RejectionError
				lateAction := errors.As(err, &rej) && rej.Code == saga.CodeCompensated && !op.Compensation
				if err != nil && !lateAction {
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		act, undo := saga.Op{Saga: sagaID, Key: "k", Epoch: 1}, saga.Op{Saga: sagaID, Key: "k", Epoch: 1, Compensation: true}
		if a, u := committed(ctx, t, s, act, int(acted.Load())), committed(ctx, t, s, undo, int(undone.Load())); a > 1 || a != u {
			t.Fatalf("round %d: action applied %d times, compensation %d; want both once or neither", round, a, u)
		}
	}
}

// committed is how many of op's effects took effect: calls, the effect
// calls counted, or what s.Committed says if it is set.
func committed(ctx context.Context, t *testing.T, s Subject, op saga.Op, calls int) int {
	t.Helper()
	if s.Committed == nil {
		return calls
	}
	n, err := s.Committed(ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
