package redisfence

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/saga"
)

// Fence keeps one hash per saga, under the saga's {id} hash tag, updated by
// one Lua script per Admit, Commit or Abort and by one MULTI/EXEC per
// Apply. Reservation expiry is judged by the Redis server's clock, so
// participants' clocks need not agree.
type Fence struct {
	c           redis.UniversalClient
	prefix      string
	ttl         time.Duration
	reservation time.Duration
}

var _ saga.Fence = (*Fence)(nil)

// New returns a fence keyed under prefix (e.g. the participant's name)
// whose per-saga state expires ttl after its last use (default 7 days).
func New(c redis.UniversalClient, prefix string, ttl time.Duration, opts ...saga.FenceOption) *Fence {
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	return &Fence{c: c, prefix: prefix, ttl: ttl, reservation: saga.ApplyFenceOptions(opts...).Reservation}
}

// Key returns the hash holding saga's fence state.
func (f *Fence) Key(saga string) string { return f.prefix + ":fence:{" + saga + "}" }

// fenceScript states the rules of saga.Decide in Lua (the shared scenario
// tests hold both to the same answers). Fields: epoch, a:<key> (done|tomb),
// c:<key> (done), ra:<key> and rc:<key> (reservations, "<token>|<until ms>").
// ARGV = mode (admit|commit|abort), kind (a|c), key, epoch, ttl ms, token,
// reservation ms. Returns 0 Apply/ok, 1 Duplicate, 2 NothingToUndo, -1 stale
// epoch (on commit: recorded, but superseded), -2 compensated, -3 in progress. PEXPIRE runs last: on a missing key
// it would do nothing, and the hash the call creates would never expire.
var fenceScript = redis.NewScript(`
local h, mode, kind, key, epoch, token = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function holder(field)
  local v = redis.call('HGET', h, field)
  if not v then return '' end
  local sep = string.find(v, '|', 1, true)
  if tonumber(string.sub(v, sep + 1)) <= now then return '' end
  return string.sub(v, 1, sep - 1)
end
local function done(r)
  if redis.call('EXISTS', h) == 1 then redis.call('PEXPIRE', h, ARGV[5]) end
  return r
end
local mine = (kind == 'a') and ('ra:' .. key) or ('rc:' .. key)
if mode == 'abort' then
  if holder(mine) == token then redis.call('HDEL', h, mine) end
  return done(0)
end
local a = redis.call('HGET', h, 'a:' .. key)
local seen = tonumber(redis.call('HGET', h, 'epoch') or '0')
if mode == 'commit' then
  if kind == 'a' then
    if a == 'tomb' then return done(-2) end
    redis.call('HSET', h, 'a:' .. key, 'done')
  else
    redis.call('HSET', h, 'c:' .. key, 'done')
  end
  redis.call('HDEL', h, mine)
  if epoch > 0 and epoch < seen then return done(-1) end
  return done(0)
end
if epoch > 0 and epoch < seen then return done(-1) end
-- Recorded before any refusal: a newer owner fences out older ones at once.
if epoch > seen then redis.call('HSET', h, 'epoch', epoch) end
local ah = holder('ra:' .. key)
local r
if kind == 'a' then
  if a == 'tomb' then return done(-2) end
  if a == 'done' then r = 1
  elseif ah ~= '' and ah ~= token then return done(-3)
  else r = 0 end
else
  local ch = holder('rc:' .. key)
  if redis.call('HGET', h, 'c:' .. key) == 'done' then r = 1
  elseif ah ~= '' or (ch ~= '' and ch ~= token) then return done(-3)
  elseif a == 'done' then r = 0
  else r = 2 end
end
if r == 0 then redis.call('HSET', h, mine, token .. '|' .. (now + tonumber(ARGV[7]))) end
if r == 2 then redis.call('HSET', h, 'a:' .. key, 'tomb', 'c:' .. key, 'done') end
return done(r)`)

func (f *Fence) run(ctx context.Context, mode string, op saga.Op) (int64, error) {
	kind := "a"
	if op.Compensation {
		kind = "c"
	}
	n, err := fenceScript.Run(ctx, f.c, []string{f.Key(op.Saga)}, mode, kind, op.Key,
		strconv.FormatUint(op.Epoch, 10), strconv.FormatInt(f.ttl.Milliseconds(), 10), op.Token,
		strconv.FormatInt(f.reservation.Milliseconds(), 10)).Int64()
	if err != nil {
		return 0, fmt.Errorf("catga: redis fence: %w", err)
	}
	switch n {
	case -1:
		return 0, catga.Reject(saga.CodeStaleEpoch, "saga %s: epoch %d is stale", op.Saga, op.Epoch)
	case -2:
		return 0, catga.Reject(saga.CodeCompensated, "saga %s: %s was compensated", op.Saga, op.Key)
	case -3:
		return 0, fmt.Errorf("%w: %s", saga.ErrInProgress, op.Key)
	}
	return n, nil
}

// Admit implements saga.Fence.
func (f *Fence) Admit(ctx context.Context, op saga.Op) (saga.Admission, error) {
	n, err := f.run(ctx, "admit", op)
	return saga.Admission(n), err
}

// Commit implements saga.Fence.
func (f *Fence) Commit(ctx context.Context, op saga.Op) error {
	_, err := f.run(ctx, "commit", op)
	return err
}

// Abort implements saga.Fence.
func (f *Fence) Abort(ctx context.Context, op saga.Op) error {
	_, err := f.run(ctx, "abort", op)
	return err
}

// holder returns the token of a live reservation "<token>|<until ms>".
func holder(v any, now time.Time) string {
	tok, until, ok := strings.Cut(str(v), "|")
	ms, err := strconv.ParseInt(until, 10, 64)
	if !ok || err != nil || ms <= now.UnixMilli() {
		return ""
	}
	return tok
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
