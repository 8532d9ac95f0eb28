package saga_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/redisfence"
)

// fences are the Fence implementations the guard tests run against.
func fences(opts ...saga.FenceOption) []struct {
	name string
	open func(t *testing.T) saga.Fence
} {
	return []struct {
		name string
		open func(t *testing.T) saga.Fence
	}{
		{"memory", func(*testing.T) saga.Fence { return saga.NewMemoryFence(opts...) }},
		{"redis-cluster", func(t *testing.T) saga.Fence {
			rdb := clusterClient(sharedCluster(t).Addrs())
			t.Cleanup(func() { _ = rdb.Close() })
			return redisfence.New(rdb, "guard-"+uuid.NewString()[:8], time.Minute, opts...)
		}},
	}
}

// effects counts a participant's applied actions and compensations.
type effects struct{ applied, undone atomic.Int32 }

// deliver sends one step message to h as a saga engine would: retrying
// while another delivery of it is in progress.
func deliver(ctx context.Context, h func(context.Context, struct{}) (struct{}, error), md catga.Metadata) error {
	ctx = catga.WithMetadata(ctx, md)
	for {
		_, err := h(ctx, struct{}{})
		if !errors.Is(err, saga.ErrInProgress) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestGuardConcurrentDuplicates: deliveries of one step message arrive at
// once (an attempt timeout and its retry, a lease takeover, a handoff on
// Close), handlers running concurrently and slowly: the action is applied
// exactly once, and so is the compensation, never before the action's
// outcome is known.
func TestGuardConcurrentDuplicates(t *testing.T) {
	for _, fc := range fences() {
		t.Run(fc.name, func(t *testing.T) {
			ctx := ctxT(t, 20*time.Second)
			f := fc.open(t)
			var fx effects
			do := saga.GuardAction(f, func(context.Context, struct{}) (struct{}, error) {
				fx.applied.Add(1)
				time.Sleep(30 * time.Millisecond) // the effect takes a while
				return struct{}{}, nil
			})
			undo := saga.GuardCompensation(f, func(context.Context, struct{}) (struct{}, error) {
				fx.undone.Add(1)
				time.Sleep(30 * time.Millisecond)
				return struct{}{}, nil
			})
			id := uuid.NewString()
			key := saga.ActionKey(id, 0, 1)
			const n = 8
			var wg sync.WaitGroup
			errs := make(chan error, 2*n)
			for i := range 2 * n {
				wg.Go(func() {
					// Actions from owners of epoch 1 and 2, and the
					// compensation of epoch 2, all at once.
					md := catga.Metadata{CorrelationID: id, IdempotencyKey: key, Epoch: uint64(1 + i%2)}
					h := do
					if i >= n+n/2 {
						md.IdempotencyKey, h = key+saga.UndoSuffix, undo
					}
					err := deliver(ctx, h, md)
					if err != nil && !refusedAsFenced(err) {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			applied, undone := fx.applied.Load(), fx.undone.Load()
			if applied > 1 || undone != applied {
				t.Fatalf("action applied %d times, compensation %d times; want each at most once and the action undone iff applied", applied, undone)
			}
			t.Logf("applied %d, undone %d", applied, undone)
		})
	}
}

// TestGuardActionOnly: many concurrent deliveries of the same action apply
// it exactly once.
func TestGuardActionOnly(t *testing.T) {
	for _, fc := range fences() {
		t.Run(fc.name, func(t *testing.T) {
			ctx := ctxT(t, 20*time.Second)
			var applied atomic.Int32
			do := saga.GuardAction(fc.open(t), func(context.Context, struct{}) (struct{}, error) {
				applied.Add(1)
				time.Sleep(20 * time.Millisecond)
				return struct{}{}, nil
			})
			id := uuid.NewString()
			md := catga.Metadata{CorrelationID: id, IdempotencyKey: saga.ActionKey(id, 0, 1), Epoch: 1}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if err := deliver(ctx, do, md); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := applied.Load(); got != 1 {
				t.Fatalf("action applied %d times, want exactly 1", got)
			}
		})
	}
}

// TestGuardLateActionUndone: an action handler outlives its reservation, the
// compensation finds nothing to undo meanwhile, and the action's Commit is
// refused: the guard undoes the effect, so none remains.
func TestGuardLateActionUndone(t *testing.T) {
	for _, fc := range fences(saga.WithReservation(100 * time.Millisecond)) {
		t.Run(fc.name, func(t *testing.T) {
			ctx := ctxT(t, 20*time.Second)
			f := fc.open(t)
			var net atomic.Int32
			entered, compensated := make(chan struct{}), make(chan struct{})
			do := saga.GuardAction(f, func(context.Context, struct{}) (struct{}, error) {
				net.Add(1)
				close(entered)
				<-compensated // outlives the reservation
				return struct{}{}, nil
			}, saga.UndoLateAction(func(context.Context, struct{}) error { net.Add(-1); return nil }))
			undo := saga.GuardCompensation(f, func(context.Context, struct{}) (struct{}, error) {
				net.Add(-1)
				return struct{}{}, nil
			})
			id := uuid.NewString()
			key := saga.ActionKey(id, 0, 1)
			done := make(chan error, 1)
			go func() { done <- deliver(ctx, do, catga.Metadata{CorrelationID: id, IdempotencyKey: key, Epoch: 1}) }()
			<-entered // the compensation waits for the reservation to expire
			if err := deliver(ctx, undo, catga.Metadata{CorrelationID: id, IdempotencyKey: key + saga.UndoSuffix, Epoch: 1}); err != nil {
				t.Fatal(err)
			}
			close(compensated)
			var rej *catga.RejectionError
			if err := <-done; !errors.As(err, &rej) || rej.Code != saga.CodeCompensated {
				t.Fatalf("late action: %v, want a compensated rejection", err)
			}
			if got := net.Load(); got != 0 {
				t.Fatalf("net effect %d after the compensation, want 0", got)
			}
		})
	}
}

// refusedAsFenced: the fence refused the delivery as it should (a stale
// epoch, or an action after its compensation).
func refusedAsFenced(err error) bool {
	var rej *catga.RejectionError
	return errors.As(err, &rej) && (rej.Code == saga.CodeStaleEpoch || rej.Code == saga.CodeCompensated)
}
