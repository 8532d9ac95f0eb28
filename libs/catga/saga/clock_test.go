package saga_test

import (
	"context"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
)

// TestClockSkewBound: leases are judged on each peer's own clock. A peer
// whose clock runs ahead of the owner's by less than the documented bound
// (TTL/2 - recovery interval) never takes over the owner's live lease,
// however often it looks; one ahead by more than the TTL does (the
// documented failure, kept safe by fencing: the old owner is cut off).
func TestClockSkewBound(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	const (
		ttl   = 2 * time.Second
		every = 50 * time.Millisecond
		bound = ttl/2 - every // 950ms
	)
	release := make(chan struct{})
	def := saga.Definition[struct{}]{Name: "skew", Steps: []saga.Step[struct{}]{{
		Name: "long", // runs for several TTLs: only renewals keep its lease
		Action: func(ctx context.Context, _ *struct{}) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}}}
	store := checkedMemory(t)
	peer := func(owner string, skew time.Duration) (*saga.Engine, *saga.Saga[struct{}]) {
		e := newEngine(t, store, saga.WithOwner(owner), saga.WithLeaseTTL(ttl), saga.WithRecoveryInterval(every),
			saga.WithClock(func() time.Time { return time.Now().Add(skew) }))
		s, err := saga.Register(e, def)
		if err != nil {
			t.Fatal(err)
		}
		return e, s
	}
	a, sa := peer("a", 0)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	id, err := sa.Start(ctx, "", struct{}{})
	if err != nil {
		t.Fatal(err)
	}

	// Within the bound (with a margin of 600ms for a loaded machine): over
	// two TTLs of renewals, no pass of the skewed peer claims.
	nearSkew := bound / 3
	near, _ := peer("near", nearSkew)
	for end := time.Now().Add(2 * ttl); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		near.RecoverNow(ctx)
		if rec, err := store.Get(ctx, id); err != nil || rec.Owner != "a" || rec.Epoch != 1 {
			t.Fatalf("peer %v ahead took over a live lease: owner %q epoch %d, %v", nearSkew, rec.Owner, rec.Epoch, err)
		}
	}

	// Beyond the TTL: the skewed peer sees every lease expired and claims.
	far, _ := peer("far", 2*ttl)
	far.RecoverNow(ctx)
	rec, err := store.Get(ctx, id)
	if err != nil || rec.Owner != "far" || rec.Epoch != 2 {
		t.Fatalf("peer %v ahead: owner %q epoch %d, %v; want it to claim (the documented failure)", 2*ttl, rec.Owner, rec.Epoch, err)
	}
	close(release)
	if final, err := far.Await(ctx, id); err != nil || final.State != sagastore.StateCompleted {
		t.Fatalf("final %s, %v; want completed by the claimer", final.State, err)
	}
}
