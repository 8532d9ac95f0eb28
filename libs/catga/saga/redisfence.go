package saga

import (
	"context"
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
