package storefence

import (
	"context"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
)

// The saga.Fence methods keep reservations in the record, with expiry
// judged by each participant's clock: clocks that disagree by less than
// the reservation time are enough.

// Admit implements [saga.Fence].
func (f *Fence) Admit(ctx context.Context, op saga.Op) (saga.Admission, error) {
	var adm saga.Admission
	var refusal error
	err := f.update(ctx, op, func(rec *record) bool {
		now := time.Now()
		adm, refusal = saga.Decide(op, rec.Epoch, rec.state(op.Key, now))
		changed := op.Epoch > rec.Epoch
		if changed {
			// Also when the op must wait or is refused: a newer owner
			// exists, and older ones are fenced out from now on.
			rec.Epoch = op.Epoch
		}
		if refusal != nil {
			return changed
		}
		until := now.Add(f.reservation).UnixMilli()
		switch k := rec.key(op.Key); {
		case adm == saga.NothingToUndo:
			k.Action, k.Undone = saga.ActionTomb, true
		case adm == saga.Apply && op.Compensation:
			k.UndoHolder, k.UndoUntil = op.Token, until
		case adm == saga.Apply:
			k.ActionHolder, k.ActionUntil = op.Token, until
		default:
			return changed
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if refusal != nil {
		return 0, refusal
	}
	return adm, nil
}

// Commit implements [saga.Fence].
func (f *Fence) Commit(ctx context.Context, op saga.Op) error {
	var refusal error
	err := f.update(ctx, op, func(rec *record) bool {
		k := rec.key(op.Key)
		if !op.Compensation && k.Action == saga.ActionTomb {
			refusal = catga.Reject(saga.CodeCompensated, "saga %s: %s was compensated", op.Saga, op.Key)
			return false
		}
		k.commit(op)
		if op.Epoch != 0 && op.Epoch < rec.Epoch {
			// Recorded all the same: the effect happened.
			refusal = catga.Reject(saga.CodeStaleEpoch, "saga %s: %s committed by epoch %d, superseded by %d", op.Saga, op.Key, op.Epoch, rec.Epoch)
		}
		return true
	})
	if err != nil {
		return err
	}
	return refusal
}

// Abort implements [saga.Fence].
func (f *Fence) Abort(ctx context.Context, op saga.Op) error {
	return f.update(ctx, op, func(rec *record) bool {
		k := rec.Keys[op.Key]
		switch {
		case k == nil:
			return false
		case op.Compensation && k.UndoHolder == op.Token:
			k.UndoHolder, k.UndoUntil = "", 0
		case !op.Compensation && k.ActionHolder == op.Token:
			k.ActionHolder, k.ActionUntil = "", 0
		default:
			return false
		}
		return true
	})
}
