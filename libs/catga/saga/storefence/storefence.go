package storefence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
)

// Backend is an event store that keeps one opaque record per fence id in
// its own database. *pgstore.Store and *sqlitestore.Store implement it.
//
// Contract: FenceTx runs fn in a new transaction in which id's record is
// locked, so that calls for one id run one after the other (across
// processes sharing the database). fn gets the store bound to that
// transaction (appends made through it commit with the transaction, loads
// see its writes) and the record (nil if none), and returns the record to
// keep (nil: leave it). If fn returns an error, the transaction rolls back
// and FenceTx returns the error unchanged; if the commit fails, nothing of
// the transaction is kept. After a commit, outbox relays are woken.
type Backend interface {
	FenceTx(ctx context.Context, id string, fn func(ctx context.Context, es eventstore.Store, record []byte) ([]byte, error)) error
}

// Fence is the saga fence over an event store. Its [Fence.Apply] is
// exactly-once; it also implements [saga.Fence] (Admit, Commit, Abort) for
// participants whose effects are not appends to this store.
type Fence struct {
	b           Backend
	reservation time.Duration
}

var _ saga.Fence = (*Fence)(nil)

// New returns a fence keeping its records in b's database.
// [saga.WithReservation] sets how long Admit reserves a key.
func New(b Backend, opts ...saga.FenceOption) (*Fence, error) {
	if b == nil {
		return nil, errors.New("catga: storefence: nil backend")
	}
	return &Fence{b: b, reservation: saga.ApplyFenceOptions(opts...).Reservation}, nil
}

// errUnchanged rolls back a fence transaction that has nothing to record.
var errUnchanged = errors.New("catga: storefence: nothing to record")

// Apply decides on op by the rules of [saga.Decide] and, when the decision
// is [saga.Apply], runs effect and records op as applied, in one
// transaction holding the saga's fence lock: concurrent deliveries of one
// key wait for each other, and effect's appends through es (Append,
// AppendMulti, and so eventstore.Aggregate's Handle and HandleMulti) commit
// with the fence record or not at all.
//
//   - Duplicate: op was applied before; effect does not run.
//   - NothingToUndo: a compensation whose action never applied; effect does
//     not run, and the action is refused from now on (CodeCompensated).
//   - A refusal (CodeStaleEpoch, CodeCompensated) is returned as the error;
//     an epoch newer than any seen for the saga is recorded all the same.
//   - If effect fails (or panics), nothing it did is kept and its error is
//     returned; the key can be applied later. Only an epoch newer than seen
//     is recorded, in a transaction of its own.
//
// A Commit of the transaction that fails (the process dies, the context
// ends) leaves nothing written: the next delivery applies op again.
func (f *Fence) Apply(ctx context.Context, op saga.Op, effect func(ctx context.Context, es eventstore.Store) error) (saga.Admission, error) {
	if op.Saga == "" || op.Key == "" {
		return 0, catga.Permanent(fmt.Errorf("%w: saga op without saga id or key", eventstore.ErrInvalidArgument))
	}
	var (
		adm     saga.Admission
		refusal error
		raised  bool
		failed  bool
	)
	err := f.b.FenceTx(ctx, op.Saga, func(ctx context.Context, es eventstore.Store, raw []byte) ([]byte, error) {
		rec, err := decode(raw)
		if err != nil {
			return nil, corrupt(op, err)
		}
		adm, refusal = saga.Decide(op, rec.Epoch, rec.state(op.Key, time.Now()))
		raised = op.Epoch > rec.Epoch
		if raised {
			rec.Epoch = op.Epoch
		}
		switch {
		case refusal != nil, adm == saga.Duplicate:
			if !raised {
				return nil, errUnchanged
			}
			// Recorded although refused: a newer owner fences older ones
			// out at once.
		case adm == saga.NothingToUndo:
			k := rec.key(op.Key)
			k.Action, k.Undone = saga.ActionTomb, true
		default:
			if err := run(ctx, effect, es); err != nil {
				failed = true
				return nil, err
			}
			rec.key(op.Key).commit(op)
		}
		return rec.encode()
	})
	switch {
	case errors.Is(err, errUnchanged):
	case failed && raised:
		if rerr := f.raise(ctx, op); rerr != nil {
			return 0, errors.Join(err, rerr)
		}
		return 0, err
	case err != nil:
		return 0, err
	}
	if refusal != nil {
		return 0, refusal
	}
	return adm, nil
}

// raise records op's epoch if it is newer than the saga's.
func (f *Fence) raise(ctx context.Context, op saga.Op) error {
	return f.update(ctx, op, func(rec *record) bool {
		if op.Epoch <= rec.Epoch {
			return false
		}
		rec.Epoch = op.Epoch
		return true
	})
}

// update changes op's saga record with change, which reports whether it
// changed anything, in a transaction of its own.
func (f *Fence) update(ctx context.Context, op saga.Op, change func(rec *record) bool) error {
	err := f.b.FenceTx(ctx, op.Saga, func(_ context.Context, _ eventstore.Store, raw []byte) ([]byte, error) {
		rec, err := decode(raw)
		if err != nil {
			return nil, corrupt(op, err)
		}
		if !change(rec) {
			return nil, errUnchanged
		}
		return rec.encode()
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

func corrupt(op saga.Op, err error) error {
	return catga.Permanent(fmt.Errorf("catga: storefence: saga %s: unreadable fence record: %w", op.Saga, err))
}

// run calls effect, turning a panic into a permanent error.
func run(ctx context.Context, effect func(ctx context.Context, es eventstore.Store) error, es eventstore.Store) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = catga.Permanent(fmt.Errorf("catga: storefence: effect panicked: %v", p))
		}
	}()
	return effect(ctx, es)
}
