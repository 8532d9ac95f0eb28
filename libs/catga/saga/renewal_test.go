package saga_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// TestRenewalNotBlockedByRetryingPersist: in a partial outage some sagas'
// writes keep failing and their transitions retry for a whole TTL each. A
// long step of another saga on the same peer must still have its lease
// renewed on time, not be taken over by another peer.
func TestRenewalNotBlockedByRetryingPersist(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	store := &faulty{Store: checkedMemory(t)}
	// Renewals start with half the TTL left, every 40ms: a margin of 460ms
	// for a loaded machine.
	const ttl = time.Second
	l := newLedger()
	entered := make(chan struct{}, 1)
	def := threeSteps(l, func(int) error { return nil })
	do1 := def.Steps[1].Action
	def.Steps[1].Action = func(ctx context.Context, o *order) error {
		if o.ID == "long" {
			entered <- struct{}{}
			select { // several TTLs
			case <-time.After(3 * ttl):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return do1(ctx, o)
	}
	sa, a := ownerAndStandby(t, store, l, def, ttl, 40*time.Millisecond)
	long, err := sa.Start(ctx, "", order{ID: "long"})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	// Sagas whose records cannot be written while the long step runs: each
	// one's first transition retries for a TTL under its run's mutex.
	for i := range 6 {
		id := "blocked-" + uuid.NewString()
		store.downIDs.Store(id, true)
		if _, err := sa.Start(ctx, id, order{ID: "blocked"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl / 4 * time.Duration(i%2)) // spread over the long step
	}
	final, err := a.Await(ctx, long)
	if err != nil || final.State != sagastore.StateCompleted || final.Owner != "a" || final.Epoch != 1 {
		t.Fatalf("long saga: %s owner %s epoch %d, %v; want completed by a at epoch 1 (its lease renewed)", final.State, final.Owner, final.Epoch, err)
	}
	store.downIDs.Clear()
}

// TestLostOwnershipCancelsCall: when an operator forces compensation of a
// saga whose step is running on peer A, A's next lease renewal finds the new
// owner and cancels A's in-flight step call instead of letting it run on.
func TestLostOwnershipCancelsCall(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	store, l := checkedMemory(t), newLedger()
	const ttl = 300 * time.Millisecond
	entered, cancelled := make(chan struct{}, 1), make(chan struct{})
	def := threeSteps(l, func(int) error { return nil })
	def.Steps[1].Action = func(ctx context.Context, _ *order) error {
		entered <- struct{}{}
		select {
		case <-ctx.Done():
			close(cancelled)
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return nil
		}
	}
	a := newEngine(t, store, saga.WithOwner("a"), saga.WithLeaseTTL(ttl), saga.WithRecoveryInterval(30*time.Millisecond))
	sa, err := saga.Register(a, def)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	id, err := sa.Start(ctx, "", order{ID: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	op := newEngine(t, store, saga.WithOwner("operator"), saga.WithLeaseTTL(ttl))
	if _, err := saga.Register(op, threeSteps(l, func(int) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if err := op.ForceCompensate(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("A's step call still runs 3s after A lost the saga")
	}
	if final, err := op.Await(ctx, id); err != nil || final.State != sagastore.StateCompensated {
		t.Fatalf("%s, %v", final.State, err)
	}
}

// TestRenewalReplyLost: a lease renewal is applied but its reply is lost.
// The owner must recognise its own write when its next write conflicts,
// not conclude it lost the saga (which would stop it and let another peer
// take over once the lease expired).
func TestRenewalReplyLost(t *testing.T) {
	ctx := ctxT(t, 20*time.Second)
	store := &faulty{Store: checkedMemory(t)}
	const ttl = time.Second // renewals from half the TTL left, every 30ms
	l := newLedger()
	entered := make(chan struct{}, 1)
	def := threeSteps(l, func(int) error { return nil })
	do1 := def.Steps[1].Action
	def.Steps[1].Action = func(ctx context.Context, o *order) error {
		entered <- struct{}{}
		select { // over two TTLs: renewals happen meanwhile
		case <-time.After(5 * ttl / 2):
		case <-ctx.Done():
			return ctx.Err()
		}
		return do1(ctx, o)
	}
	sa, a := ownerAndStandby(t, store, l, def, ttl, 30*time.Millisecond)
	id, err := sa.Start(ctx, "", order{ID: "lost-reply"})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	store.loseReply.Store(id, true) // the next write of the saga is a renewal
	final, err := a.Await(ctx, id)
	if err != nil || final.State != sagastore.StateCompleted || final.Owner != "a" || final.Epoch != 1 {
		t.Fatalf("%s owner %s epoch %d, %v; want completed by a at epoch 1", final.State, final.Owner, final.Epoch, err)
	}
	if _, lost := store.loseReply.Load(id); lost {
		t.Fatal("no reply was lost: the scenario did not happen")
	}
}
