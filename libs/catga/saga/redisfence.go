package saga

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga"
)

// RedisFence is a Fence shared by every instance of a participant through
// Redis (a single node or a cluster): one hash per saga, under the saga's
// {id} hash tag, updated by one Lua script per call.
type RedisFence struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ Fence = (*RedisFence)(nil)

// NewRedisFence returns a fence keyed under prefix (e.g. the participant's
// name) whose per-saga state expires ttl after its last use (default 7 days).
func NewRedisFence(c redis.UniversalClient, prefix string, ttl time.Duration) *RedisFence {
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	return &RedisFence{c: c, prefix: prefix, ttl: ttl}
}

// Key returns the hash holding saga's fence state.
func (f *RedisFence) Key(saga string) string { return f.prefix + ":fence:{" + saga + "}" }

// fenceScript: ARGV = mode (admit|commit), kind (a|c), key, epoch, ttl ms.
// Returns 0 Apply/committed, 1 Duplicate, 2 NothingToUndo, -1 stale epoch,
// -2 compensated.
var fenceScript = redis.NewScript(`
local h, mode, kind, key, epoch = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
redis.call('PEXPIRE', h, ARGV[5])
if mode == 'admit' and epoch > 0 then
  local seen = tonumber(redis.call('HGET', h, 'epoch') or '0')
  if epoch < seen then return -1 end
  if epoch > seen then redis.call('HSET', h, 'epoch', epoch) end
end
local a = redis.call('HGET', h, 'a:' .. key)
if kind == 'a' then
  if mode == 'admit' then
    if a == 'done' then return 1 end
    if a == 'tomb' then return -2 end
    return 0
  end
  if a == 'tomb' then return -2 end
  redis.call('HSET', h, 'a:' .. key, 'done')
  return 0
end
if mode == 'commit' then
  redis.call('HSET', h, 'c:' .. key, 'done')
  return 0
end
if redis.call('HGET', h, 'c:' .. key) == 'done' then return 1 end
if a == 'done' then return 0 end
redis.call('HSET', h, 'a:' .. key, 'tomb', 'c:' .. key, 'done')
return 2`)

func (f *RedisFence) run(ctx context.Context, mode string, op Op) (int64, error) {
	kind := "a"
	if op.Compensation {
		kind = "c"
	}
	n, err := fenceScript.Run(ctx, f.c, []string{f.Key(op.Saga)}, mode, kind, op.Key,
		strconv.FormatUint(op.Epoch, 10), strconv.FormatInt(f.ttl.Milliseconds(), 10)).Int64()
	if err != nil {
		return 0, fmt.Errorf("catga: redis fence: %w", err)
	}
	switch n {
	case -1:
		return 0, catga.Reject(CodeStaleEpoch, "saga %s: epoch %d is stale", op.Saga, op.Epoch)
	case -2:
		return 0, catga.Reject(CodeCompensated, "saga %s: %s was compensated", op.Saga, op.Key)
	}
	return n, nil
}

// Admit implements Fence.
func (f *RedisFence) Admit(ctx context.Context, op Op) (Admission, error) {
	n, err := f.run(ctx, "admit", op)
	return Admission(n), err
}

// Commit implements Fence.
func (f *RedisFence) Commit(ctx context.Context, op Op) error {
	_, err := f.run(ctx, "commit", op)
	return err
}

// errTxConflict: Apply lost the optimistic race on one saga's fence too
// often; retryable.
var errTxConflict = errors.New("catga: redis fence: transaction kept conflicting")

// Apply is the exactly-once path for a participant whose effect is a set of
// Redis writes: the fence decision, the effect and the commit run as one
// transaction (WATCH on the saga's fence hash, then MULTI/EXEC), so the
// effect is applied once even when the participant dies, or Redis fails
// over, between applying and committing, which Admit+Commit cannot promise.
// effect queues its writes on tx and must only touch keys in the saga's hash
// slot (keys containing "{"+op.Saga+"}"). It is called only when the
// decision is [Apply]; a failover may lose the transaction, but then it loses
// the effect and the commit together, and the retry applies it again.
func (f *RedisFence) Apply(ctx context.Context, op Op, effect func(tx redis.Pipeliner) error) (Admission, error) {
	key := f.Key(op.Saga)
	actionField, undoField := "a:"+op.Key, "c:"+op.Key
	for range 16 { // bounded: each retry means another writer changed this saga's fence
		var adm Admission
		err := f.c.Watch(ctx, func(tx *redis.Tx) error {
			vals, err := tx.HMGet(ctx, key, "epoch", actionField, undoField).Result()
			if err != nil {
				return err
			}
			seen, _ := strconv.ParseUint(str(vals[0]), 10, 64)
			if err := checkEpoch(op, seen); err != nil {
				return err
			}
			if adm, err = decide(op, str(vals[1]), str(vals[2]) == "done"); err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				if op.Epoch > seen {
					p.HSet(ctx, key, "epoch", op.Epoch)
				}
				switch {
				case adm == NothingToUndo:
					p.HSet(ctx, key, actionField, "tomb", undoField, "done")
				case adm == Apply && op.Compensation:
					if err := effect(p); err != nil {
						return err
					}
					p.HSet(ctx, key, undoField, "done")
				case adm == Apply:
					if err := effect(p); err != nil {
						return err
					}
					p.HSet(ctx, key, actionField, "done")
				}
				p.PExpire(ctx, key, f.ttl)
				return nil
			})
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil && !catga.IsRejection(err) {
			return 0, fmt.Errorf("catga: redis fence: %w", err)
		}
		return adm, err
	}
	return 0, errTxConflict
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
