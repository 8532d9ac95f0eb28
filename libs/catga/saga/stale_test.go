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

// TestStaleEpochRefusalIsNotARejection: a participant's stale-epoch refusal
// says another owner exists, not that the step certainly did not apply (the
// newer owner may have applied it under the same key). The refused owner
// stops without recording the step as rejected, and the saga is finished by
// whoever owns it, with the step's effect kept (not skipped, not undone).
func TestStaleEpochRefusalIsNotARejection(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	store, l := checkedMemory(t), newLedger()
	const ttl = 200 * time.Millisecond
	var refused atomic.Bool
	def := threeSteps(l, func(step int) error { return nil })
	do1 := def.Steps[1].Action
	def.Steps[1].Action = func(ctx context.Context, o *order) error {
		if err := do1(ctx, o); err != nil {
			return err
		}
		if refused.CompareAndSwap(false, true) {
			// Applied, but the reply this owner gets is a stale-epoch
			// refusal (its delivery raced a newer owner's).
			return catga.Reject(saga.CodeStaleEpoch, "epoch 1 is older than 2")
		}
		return nil
	}
	a := newEngine(t, store, saga.WithOwner("a"), saga.WithLeaseTTL(ttl))
	sa, err := saga.Register(a, def)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := sa.Run(ctx, "", order{ID: "stale"})
	if !errors.Is(err, saga.ErrLostOwnership) {
		t.Fatalf("A's run: %s, %v; want it to stop with ErrLostOwnership", rec.State, err)
	}
	b := newEngine(t, store, saga.WithOwner("b"), saga.WithLeaseTTL(ttl))
	if _, err := saga.Register(b, def); err != nil {
		t.Fatal(err)
	}
	final := recoverUntilFinal(t, ctx, b, rec.ID)
	if final.State != sagastore.StateCompleted || final.Steps[1].Rejected {
		t.Fatalf("final %s, step 1 %+v; want completed with step 1 applied", final.State, final.Steps[1])
	}
	if applied, undid, twice := l.counts(); applied != 3 || undid != 0 || twice {
		t.Fatalf("applied %d undone %d twice %v", applied, undid, twice)
	}
}
