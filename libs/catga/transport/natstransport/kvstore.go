package natstransport

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// KVStore is an idempotency.Store in a JetStream key-value bucket, so it is
// shared by every peer of the cluster with nothing else to run: the
// default of Serve over this transport (see [Transport.IdempotencyStore]).
//
// A key holds "P<unix ms>" while claimed (the lease's end) and "D"+reply
// once completed. A claim is a create-if-absent; a lapsed claim is taken
// over with a compare-and-set on its revision, so exactly one peer wins.
// The holder renews its claim, and completes it, with a compare-and-set
// on the revision it holds, so that it never touches a claim another peer
// took over. Claims also carry a JetStream per-message TTL a little past
// the lease, so that a crashed holder's claim disappears by itself. Completed replies
// live for the bucket's MaxAge (the reply TTL) and the bucket holds at most
// MaxKeys messages, the oldest discarded first: its size is bounded by
// count, whatever the replies weigh.
type KVStore struct {
	kv     jetstream.KeyValue
	js     jetstream.JetStream
	bucket string

	mu   sync.Mutex
	held map[string]uint64 // keys this store claimed -> claim revision
}

var _ idempotency.Store = (*KVStore)(nil)

// KVStoreConfig configures the bucket of a [KVStore].
type KVStoreConfig struct {
	// Bucket name. Default "CATGA_IDEMPOTENCY".
	Bucket string
	// MaxKeys bounds the keys kept (claims, replies and release markers);
	// when full the oldest go first. Default 1,000,000.
	MaxKeys int64
	// ReplyTTL is how long a completed reply is kept (the bucket's
	// MaxAge). Default 24h.
	ReplyTTL time.Duration
	// Replicas of the bucket. Default 1; use 3 on a 3-node cluster.
	Replicas int
	// Storage of the bucket. Default file.
	Storage jetstream.StorageType
}

func (c *KVStoreConfig) defaults() {
	if c.Bucket == "" {
		c.Bucket = "CATGA_IDEMPOTENCY"
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 1_000_000
	}
	if c.ReplyTTL <= 0 {
		c.ReplyTTL = 24 * time.Hour
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
}

// NewKVStore opens the bucket, creating it if it does not exist. An
// existing bucket is used as it is, never reconfigured.
func NewKVStore(ctx context.Context, js jetstream.JetStream, cfg KVStoreConfig) (*KVStore, error) {
	cfg.defaults()
	// A KV bucket is a stream with this shape. It is made by hand because
	// CreateKeyValue can bound a bucket by bytes only, with DiscardNew: a
	// full bucket would refuse every claim.
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Description:       "catga idempotency claims and cached replies",
		Subjects:          []string{"$KV." + cfg.Bucket + ".>"},
		MaxMsgsPerSubject: 1,
		MaxMsgs:           cfg.MaxKeys,
		MaxBytes:          -1,
		MaxAge:            cfg.ReplyTTL,
		Discard:           jetstream.DiscardOld,
		Storage:           cfg.Storage,
		Replicas:          cfg.Replicas,
		AllowRollup:       true,
		DenyDelete:        true,
		AllowDirect:       true,
		AllowMsgTTL:       true,
		Duplicates:        2 * time.Minute,
		MaxConsumers:      -1,
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil, fmt.Errorf("catga: idempotency bucket %s: %w", cfg.Bucket, err)
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("catga: idempotency bucket %s: %w", cfg.Bucket, err)
	}
	return &KVStore{kv: kv, js: js, bucket: cfg.Bucket, held: map[string]uint64{}}, nil
}

// kvKey maps any key onto the characters KV keys allow, in bounded length.
func kvKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// claimTTL is the per-message TTL of a claim: JetStream counts whole
// seconds, and the claim's own deadline is what decides; the TTL only
// clears up after a crashed holder.
func claimTTL(lease time.Duration) time.Duration {
	return lease.Truncate(time.Second) + 2*time.Second
}

// Claim implements idempotency.Store.
func (s *KVStore) Claim(ctx context.Context, key string, lease time.Duration) (bool, []byte, error) {
	if key == "" {
		return false, nil, idempotency.ErrEmptyKey
	}
	k := kvKey(key)
	claim := claimValue(lease)
	rev, err := s.kv.Create(ctx, k, claim, jetstream.KeyTTL(claimTTL(lease)))
	if err == nil {
		s.hold(key, rev)
		return true, nil, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil, fmt.Errorf("catga: idempotency claim: %w", err)
	}
	e, err := s.kv.Get(ctx, k)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return false, nil, nil // released or expired just now: claim again
	case err != nil:
		return false, nil, fmt.Errorf("catga: idempotency claim: %w", err)
	}
	v := e.Value()
	if len(v) > 0 && v[0] == 'D' {
		return false, v[1:], nil
	}
	if until, perr := strconv.ParseInt(string(v[min(1, len(v)):]), 10, 64); perr == nil && time.Now().UnixMilli() < until {
		return false, nil, nil // another holder's lease runs
	}
	// The holder's lease lapsed: take the claim over, unless another peer
	// did first.
	rev, err = s.swap(ctx, k, claim, e.Revision(), claimTTL(lease))
	if err != nil {
		if isWrongLastSeq(err) {
			return false, nil, nil
		}
		return false, nil, fmt.Errorf("catga: idempotency claim: %w", err)
	}
	s.hold(key, rev)
	return true, nil, nil
}

// claimValue is a claim lasting lease from now.
func claimValue(lease time.Duration) []byte {
	return []byte("P" + strconv.FormatInt(time.Now().Add(lease).UnixMilli(), 10))
}

// swap replaces key k's value at revision rev, with a per-message TTL
// (kv.Update sets none, and a claim needs one).
func (s *KVStore) swap(ctx context.Context, k string, v []byte, rev uint64, ttl time.Duration) (uint64, error) {
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + s.bucket + "." + k, Data: v},
		jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// Renew implements idempotency.Store.
func (s *KVStore) Renew(ctx context.Context, key string, lease time.Duration) error {
	if key == "" {
		return idempotency.ErrEmptyKey
	}
	s.mu.Lock()
	rev, ok := s.held[key]
	s.mu.Unlock()
	if !ok {
		return idempotency.ErrClaimLost
	}
	next, err := s.swap(ctx, kvKey(key), claimValue(lease), rev, claimTTL(lease))
	switch {
	case isWrongLastSeq(err):
		s.drop(key)
		return fmt.Errorf("%w: %q", idempotency.ErrClaimLost, key)
	case err != nil:
		return fmt.Errorf("catga: idempotency renew: %w", err)
	}
	s.hold(key, next)
	return nil
}

func (s *KVStore) hold(key string, rev uint64) {
	s.mu.Lock()
	s.held[key] = rev
	s.mu.Unlock()
}

func (s *KVStore) drop(key string) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev, ok := s.held[key]
	delete(s.held, key)
	return rev, ok
}

// Complete implements idempotency.Store: a compare-and-set on the claim's
// revision, so a reply never replaces a claim (or the reply) of a peer
// that took the key over. A claim that lapsed and expired, taken over by
// nobody, leaves no key: the reply is created in its place.
func (s *KVStore) Complete(ctx context.Context, key string, reply []byte, ttl time.Duration) error {
	if key == "" {
		return idempotency.ErrEmptyKey
	}
	rev, ok := s.drop(key)
	if !ok {
		return fmt.Errorf("%w: %q", idempotency.ErrClaimLost, key)
	}
	k := kvKey(key)
	v := make([]byte, 0, 1+len(reply))
	v = append(append(v, 'D'), reply...)
	_, err := s.kv.Update(ctx, k, v, rev)
	if isWrongLastSeq(err) {
		_, err = s.kv.Create(ctx, k, v)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return fmt.Errorf("%w: %q", idempotency.ErrClaimLost, key)
	case err != nil:
		return fmt.Errorf("catga: idempotency complete: %w", err)
	}
	_ = ttl // the bucket's MaxAge is the reply TTL
	return nil
}

// Release implements idempotency.Store. It removes only the claim this
// store made: if the lease lapsed and another peer holds the key now,
// that claim stays.
func (s *KVStore) Release(ctx context.Context, key string) error {
	rev, ok := s.drop(key)
	if !ok {
		return nil
	}
	err := s.kv.Delete(ctx, kvKey(key), jetstream.LastRevision(rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !isWrongLastSeq(err) {
		return fmt.Errorf("catga: idempotency release: %w", err)
	}
	return nil
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
