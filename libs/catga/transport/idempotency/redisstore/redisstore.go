// Package redisstore is an idempotency.Store in Redis (standalone, Sentinel
// or Cluster, through redis.UniversalClient), for deployments that run
// Redis anyway. It is its own package so that services without Redis do
// not link go-redis.
package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

var _ idempotency.Store = (*Store)(nil)

// Store is an idempotency.Store shared by every peer using the same Redis. A key holds
// "P"+token while claimed (with the lease as its TTL) and "D"+reply once
// completed (with the reply TTL), so a claim is one atomic SET NX and a
// crashed holder's claim expires with its lease. The token, random per
// claim, lets Renew, Complete and Release act on this store's own claim
// only (a check-and-set in Lua), never on the one another peer took after
// this one's lease lapsed.
type Store struct {
	client redis.UniversalClient
	prefix string

	mu   sync.Mutex
	held map[string]string // key -> token of this store's claim
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the key prefix (default "catga:idem:").
func WithPrefix(p string) Option { return func(r *Store) { r.prefix = p } }

// New returns a store over client.
func New(client redis.UniversalClient, opts ...Option) *Store {
	r := &Store{client: client, prefix: "catga:idem:", held: map[string]string{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// claimScript: SET NX the pending marker ARGV[2], or return what is there.
var claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[1]) then
  return {1, ''}
end
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
  return {1, ''}
end
return {0, v}
`)

// releaseScript deletes the key only while it holds this claim (ARGV[1]).
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// renewScript extends the claim ARGV[1] to ARGV[2] ms, while it is this
// store's.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// completeScript stores the reply ARGV[2] for ARGV[3] ms in place of the
// claim ARGV[1], unless another holder took the key over. A key that is
// gone (a claim that lapsed and expired, taken by nobody) takes the reply.
var completeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or not v then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// Claim implements idempotency.Store.
func (r *Store) Claim(ctx context.Context, key string, lease time.Duration) (bool, []byte, error) {
	if key == "" {
		return false, nil, idempotency.ErrEmptyKey
	}
	ms := max(lease.Milliseconds(), 1)
	token := "P" + strconv.FormatUint(rand.Uint64(), 36)
	res, err := claimScript.Run(ctx, r.client, []string{r.prefix + key}, ms, token).Slice()
	if err != nil {
		return false, nil, fmt.Errorf("catga: idempotency claim %q: %w", key, err)
	}
	if len(res) != 2 {
		return false, nil, fmt.Errorf("catga: idempotency claim %q: unexpected reply %v", key, res)
	}
	if n, _ := res[0].(int64); n == 1 {
		r.mu.Lock()
		r.held[key] = token
		r.mu.Unlock()
		return true, nil, nil
	}
	v, _ := res[1].(string)
	if len(v) > 0 && v[0] == 'D' {
		return false, []byte(v[1:]), nil
	}
	return false, nil, nil
}

// Renew implements idempotency.Store.
func (r *Store) Renew(ctx context.Context, key string, lease time.Duration) error {
	if key == "" {
		return idempotency.ErrEmptyKey
	}
	r.mu.Lock()
	token, ok := r.held[key]
	r.mu.Unlock()
	if !ok {
		return idempotency.ErrClaimLost
	}
	n, err := renewScript.Run(ctx, r.client, []string{r.prefix + key}, token, max(lease.Milliseconds(), 1)).Int()
	if err != nil {
		return fmt.Errorf("catga: idempotency renew %q: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", idempotency.ErrClaimLost, key)
	}
	return nil
}

// Complete implements idempotency.Store.
func (r *Store) Complete(ctx context.Context, key string, reply []byte, ttl time.Duration) error {
	if key == "" {
		return idempotency.ErrEmptyKey
	}
	r.mu.Lock()
	token, ok := r.held[key]
	delete(r.held, key)
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", idempotency.ErrClaimLost, key)
	}
	v := make([]byte, 0, 1+len(reply))
	v = append(append(v, 'D'), reply...)
	n, err := completeScript.Run(ctx, r.client, []string{r.prefix + key}, token, v, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return fmt.Errorf("catga: idempotency complete %q: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", idempotency.ErrClaimLost, key)
	}
	return nil
}

// Release implements idempotency.Store: it drops this store's own claim only.
func (r *Store) Release(ctx context.Context, key string) error {
	r.mu.Lock()
	token, ok := r.held[key]
	delete(r.held, key)
	r.mu.Unlock()
	if !ok {
		return nil
	}
	if err := releaseScript.Run(ctx, r.client, []string{r.prefix + key}, token).Err(); err != nil {
		return fmt.Errorf("catga: idempotency release %q: %w", key, err)
	}
	return nil
}
