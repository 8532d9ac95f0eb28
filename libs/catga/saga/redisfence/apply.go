package redisfence

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
)

// maxAttempts bounds Apply's optimistic retries: each one means another
// writer changed a watched key between the reads and EXEC.
const maxAttempts = 16

// errTxConflict: Apply lost the optimistic race on one saga's fence too
// often; retryable.
var errTxConflict = errors.New("catga: redis fence: transaction kept conflicting")

// Apply is the exactly-once path for a participant whose effect is a set of
// Redis writes: the fence decision, the effect's writes and the fence record
// commit in one transaction (WATCH on the saga's fence hash, then
// MULTI/EXEC), so the effect is applied once even when the participant dies,
// or Redis fails over, between applying and committing, which Admit+Commit
// cannot promise. A failover may lose the transaction, but then it loses the
// writes and the record together, and the retry applies them again.
//
// effect queues its writes on tx and does nothing else. It is called only
// when the decision is [saga.Apply], and it may be called more than once
// for one commit: racing deliveries of one key each build a transaction and
// one commits (the others are told Duplicate), and a transaction that lost
// the race to another writer of the fence hash is built again. Only the
// writes of the transaction that commits take effect, so a side effect
// outside tx (a call to another system, a counter in memory) is not
// fenced: it may happen several times, or for a delivery answered
// Duplicate. Keys must be in the saga's hash slot on a cluster (contain
// "{"+op.Saga+"}"). The rest is as [Fence.ApplyWatched].
func (f *Fence) Apply(ctx context.Context, op saga.Op, effect func(tx redis.Pipeliner) error) (saga.Admission, error) {
	return f.ApplyWatched(ctx, op, nil, func(_ context.Context, _ *redis.Tx, p redis.Pipeliner) error { return effect(p) })
}

// ApplyWatched is [Fence.Apply] for an effect that reads state to decide
// what to write ("reserve if stock >= n"): the keys in watch are WATCHed
// with the fence hash, effect reads them through tx (before the
// transaction) and queues its writes on p, and if any watched key changes
// before EXEC the whole decision, reads and effect included, runs again.
// On a cluster every key must hash to the saga's slot (contain
// "{"+op.Saga+"}").
//
// The answers are those of [saga.Decide]:
//   - Duplicate: op was applied before; effect is not called.
//   - NothingToUndo: a compensation whose action never applied; effect is
//     not called, and the action is refused from now on (CodeCompensated).
//   - A refusal (CodeStaleEpoch, CodeCompensated) or [saga.ErrInProgress]
//     (a delivery admitted through [Fence.Admit] holds the key) is
//     returned as the error.
//   - If effect returns an error (a rejection, to refuse the op from what
//     it read) or panics (a permanent error), nothing it queued is written
//     and op is not recorded: the key can be applied later.
//
// In every case an epoch newer than any seen for the saga is recorded, so
// that older owners are refused from then on, as by [Fence.Admit].
//
// Redis does not roll a transaction back when one of its commands fails at
// EXEC (WRONGTYPE, say): the other writes and the fence record stay, and
// the command's error is returned.
func (f *Fence) ApplyWatched(ctx context.Context, op saga.Op, watch []string,
	effect func(ctx context.Context, tx *redis.Tx, p redis.Pipeliner) error) (saga.Admission, error) {
	keys := append([]string{f.Key(op.Saga)}, watch...)
	for range maxAttempts {
		a := attempt{ctx: ctx, f: f, op: op, effect: effect}
		err := f.c.Watch(ctx, a.run, keys...)
		switch {
		case a.failed != nil: // before TxFailedErr: effect's error is its own
			return 0, f.raise(ctx, op, a.seen, a.failed)
		case errors.Is(err, redis.TxFailedErr):
			continue
		case err != nil:
			return 0, fmt.Errorf("catga: redis fence: %w", err)
		case a.refusal != nil:
			return 0, f.raise(ctx, op, a.seen, a.refusal)
		}
		return a.adm, nil
	}
	return 0, errTxConflict
}

// attempt is one optimistic transaction of ApplyWatched.
type attempt struct {
	ctx     context.Context
	f       *Fence
	op      saga.Op
	effect  func(ctx context.Context, tx *redis.Tx, p redis.Pipeliner) error
	seen    uint64 // the saga's epoch as read
	adm     saga.Admission
	refusal error // saga.Decide's: nothing was written
	failed  error // effect's: nothing was written
}

// run is the Watch callback: read, decide, and queue the effect and the
// fence record in MULTI.
func (a *attempt) run(tx *redis.Tx) error {
	ctx, op, key := a.ctx, a.op, a.f.Key(a.op.Saga)
	actionField, undoField := "a:"+op.Key, "c:"+op.Key
	vals, err := tx.HMGet(ctx, key, "epoch", actionField, undoField, "ra:"+op.Key, "rc:"+op.Key).Result()
	if err != nil {
		return err
	}
	now, err := tx.Time(ctx).Result()
	if err != nil {
		return err
	}
	a.seen, _ = strconv.ParseUint(str(vals[0]), 10, 64)
	a.adm, a.refusal = saga.Decide(op, a.seen, saga.KeyState{
		Action: saga.ActionState(str(vals[1])), Undone: str(vals[2]) == "done",
		ActionHolder: holder(vals[3], now), UndoHolder: holder(vals[4], now),
	})
	if a.refusal != nil {
		return nil //nolint:nilerr // a refusal is the fence's answer (a.refusal), not a failed transaction
	}
	_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if op.Epoch > a.seen {
			p.HSet(ctx, key, "epoch", op.Epoch)
		}
		switch a.adm {
		case saga.NothingToUndo:
			p.HSet(ctx, key, actionField, "tomb", undoField, "done")
		case saga.Apply:
			if a.failed = call(ctx, a.effect, tx, p); a.failed != nil {
				return a.failed // p is discarded: nothing queued is sent
			}
			field := actionField
			if op.Compensation {
				field = undoField
			}
			p.HSet(ctx, key, field, "done")
		}
		p.PExpire(ctx, key, a.f.ttl) // after the writes: see fenceScript
		return nil
	})
	return err
}

// call runs effect, turning a panic into a permanent error.
func call(ctx context.Context, effect func(ctx context.Context, tx *redis.Tx, p redis.Pipeliner) error, tx *redis.Tx, p redis.Pipeliner) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = catga.Permanent(fmt.Errorf("catga: redis fence: effect panicked: %v", r))
		}
	}()
	return effect(ctx, tx, p)
}

// raiseScript records an epoch newer than the saga's, as fenceScript's
// admit does before any refusal. ARGV = epoch, ttl ms.
var raiseScript = redis.NewScript(`
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// raise returns cause, the reason op was not applied, after recording op's
// epoch if it is newer than seen: a newer owner fences older ones out even
// when its own op is refused or fails.
func (f *Fence) raise(ctx context.Context, op saga.Op, seen uint64, cause error) error {
	if op.Epoch <= seen {
		return cause
	}
	err := raiseScript.Run(ctx, f.c, []string{f.Key(op.Saga)},
		strconv.FormatUint(op.Epoch, 10), strconv.FormatInt(f.ttl.Milliseconds(), 10)).Err()
	if err != nil {
		return errors.Join(cause, fmt.Errorf("catga: redis fence: recording epoch %d: %w", op.Epoch, err))
	}
	return cause
}
