package saga_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/storetest"
)

// TestOutageDuringFinalTransition: the store goes down right after the last
// step replied and stays down longer than the lease TTL, so the final
// transition gives up. The saga must stay recoverable (active in the store,
// in the due index) and be finished by the next claim, each effect once.
func TestOutageDuringFinalTransition(t *testing.T) {
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) { outageDuringFinalTransition(t, st.open(t)) })
	}
}

func outageDuringFinalTransition(t *testing.T, real sagastore.Store) {
	ctx := ctxT(t, 20*time.Second)
	store := &faulty{Store: real}
	l := newLedger()
	var once sync.Once
	const ttl = 300 * time.Millisecond
	a := newEngine(t, store, saga.WithOwner("a"), saga.WithLeaseTTL(ttl),
		saga.WithHook(func(_ context.Context, p saga.Point, rec *saga.Record) {
			if p == saga.AfterActionReply && rec.Step == 2 {
				once.Do(func() { store.down.Store(true) }) // the outage starts before the final write
			}
		}))
	sa, err := saga.Register(a, threeSteps(l, func(int) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := sa.Run(ctx, "", order{ID: "outage"})
	if err == nil {
		t.Fatalf("Run succeeded through an outage: %s", rec.State)
	}
	if rec.State.Final() {
		t.Fatalf("Run reports %s although the store never accepted it", rec.State)
	}
	if store.updates.Load() == 0 {
		t.Fatal("the outage refused no write: the scenario did not happen")
	}
	store.down.Store(false)
	a.RecoverNow(ctx) // A's recovery pass runs first, as it would on A's ticker
	if msg := storetest.Unrecoverable(ctx, real); msg != "" {
		t.Fatalf("after the outage: %s", msg)
	}
	b := newEngine(t, store, saga.WithOwner("b"), saga.WithLeaseTTL(ttl))
	if _, err := saga.Register(b, threeSteps(l, func(int) error { return nil })); err != nil {
		t.Fatal(err)
	}
	final := recoverUntilFinal(t, ctx, b, rec.ID)
	if final.State != sagastore.StateCompleted || final.Epoch != 2 {
		t.Fatalf("final %s epoch %d, want completed by a new owner at epoch 2", final.State, final.Epoch)
	}
	if applied, _, twice := l.counts(); applied != 3 || twice {
		t.Fatalf("applied %d twice %v, want 3 effects once each", applied, twice)
	}
}

// recoverUntilFinal runs e's recovery passes until saga id is no longer
// active, within ctx.
func recoverUntilFinal(t *testing.T, ctx context.Context, e *saga.Engine, id string) saga.Record {
	t.Helper()
	for {
		e.RecoverNow(ctx)
		rec, err := e.Get(ctx, id)
		if err == nil && !rec.State.Active() {
			return rec
		}
		select {
		case <-ctx.Done():
			t.Fatalf("saga %s never finished: %s owner %s lease %v (%v)", id, rec.State, rec.Owner, rec.LeaseUntil, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
