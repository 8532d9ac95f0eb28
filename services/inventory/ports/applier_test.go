package ports_test

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
)

var tokens atomic.Int64

// memApplier is a StepApplier over saga.MemoryFence: Admit, effect,
// Commit, not one transaction.
type memApplier struct {
	f     *saga.MemoryFence
	store eventstore.Store
}

func newApplier(store eventstore.Store) memApplier {
	return memApplier{f: saga.NewMemoryFence(), store: store}
}

func (a memApplier) Apply(ctx context.Context, op saga.Op, effect func(context.Context, eventstore.Store) error) (saga.Admission, error) {
	op.Token = strconv.FormatInt(tokens.Add(1), 10)
	adm, err := a.f.Admit(ctx, op)
	if err != nil || adm != saga.Apply {
		return adm, err
	}
	if err := effect(ctx, a.store); err != nil {
		_ = a.f.Abort(ctx, op)
		return adm, err
	}
	return adm, a.f.Commit(ctx, op)
}
