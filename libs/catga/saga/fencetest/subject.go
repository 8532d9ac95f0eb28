package fencetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
)

// Subject is a fence under test.
type Subject struct {
	// Apply decides on op and, when the decision is saga.Apply, runs
	// effect and records op as applied; if effect fails, op is not
	// recorded and effect's error is returned.
	Apply func(ctx context.Context, op saga.Op, effect func(ctx context.Context) error) (saga.Admission, error)
	// Fence is set for a fence that implements saga.Fence; it must be
	// built with saga.WithReservation([Reservation]).
	Fence saga.Fence
	// Tx is set for a fence that runs effects in its event store's
	// transaction.
	Tx *TxSubject
	// Committed is set for a fence whose Apply builds an optimistic
	// transaction from effect and so may call effect more than once for
	// one commit (redisfence.Fence.Apply: racing deliveries each build
	// one, and a transaction that lost a race is built again). Apply then
	// writes a record of each effect in the transaction, and Committed
	// counts those of op's key (action or compensation, per
	// op.Compensation) that committed; the suite counts effects with it
	// instead of counting calls.
	Committed func(ctx context.Context, op saga.Op) (int, error)
}

// TxSubject is a fence whose effects append in the fence's transaction.
type TxSubject struct {
	// Apply is Subject.Apply with an effect given the event store bound to
	// the fence's transaction.
	Apply func(ctx context.Context, op saga.Op, effect func(ctx context.Context, es eventstore.Store) error) (saga.Admission, error)
	// Store reads the event store outside any fence transaction. Its
	// registry must include [Registry]'s types.
	Store eventstore.Store
}

// Harness returns a fresh, empty subject for one test of the suite.
type Harness func(t *testing.T) Subject

// Applied is the event the suite's transactional effects append.
type Applied struct {
	Key string `json:"key"`
}

// Register adds the suite's event types to reg.
func Register(reg *eventstore.Registry) error {
	return eventstore.Register[Applied](reg, "fencetest.applied")
}

// FromFence adapts f as the saga guards use it: Admit, then on Apply the
// effect and Commit, or Abort if the effect failed (or panicked). Each call
// is a delivery with a token of its own.
func FromFence(f saga.Fence) func(ctx context.Context, op saga.Op, effect func(ctx context.Context) error) (saga.Admission, error) {
	return func(ctx context.Context, op saga.Op, effect func(ctx context.Context) error) (saga.Admission, error) {
		op.Token = uuid.NewString()
		adm, err := f.Admit(ctx, op)
		if err != nil || adm != saga.Apply {
			return adm, err
		}
		if err := safe(ctx, effect); err != nil {
			return 0, errors.Join(err, f.Abort(context.WithoutCancel(ctx), op))
		}
		return adm, f.Commit(ctx, op)
	}
}

// FromTx adapts a transactional fence's Apply to an effect that ignores
// the store.
func FromTx(apply func(ctx context.Context, op saga.Op, effect func(ctx context.Context, es eventstore.Store) error) (saga.Admission, error)) func(ctx context.Context, op saga.Op, effect func(ctx context.Context) error) (saga.Admission, error) {
	return func(ctx context.Context, op saga.Op, effect func(ctx context.Context) error) (saga.Admission, error) {
		return apply(ctx, op, func(ctx context.Context, _ eventstore.Store) error { return effect(ctx) })
	}
}

func safe(ctx context.Context, effect func(ctx context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = catga.Permanent(fmt.Errorf("fencetest: effect panicked: %v", p))
		}
	}()
	return effect(ctx)
}
