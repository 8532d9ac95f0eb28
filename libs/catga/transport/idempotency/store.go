package idempotency

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Store records which message ids have been handled and their replies.
//
// A claim belongs to the Store value that made it (one per peer): Renew,
// Complete and Release act on that value's own claim only.
//
// Contract:
//   - Claim atomically claims key for lease. It returns claimed=true to
//     exactly one caller while the key is unclaimed (or its lease expired);
//     that caller must run the work, Renew the claim while it runs, and
//     then call Complete or Release. For a completed key it returns
//     claimed=false and the stored reply (never nil, possibly empty).
//     While another holder's lease runs it returns claimed=false,
//     cached=nil: the caller should wait and claim again.
//   - Renew extends this store's claim on key to lease from now, if the
//     claim is still this store's (a compare-and-set). A holder renews
//     about every lease/3, so a live holder never loses its claim however
//     long its work runs; only a dead holder's claim lapses, one lease
//     after its last renewal. It returns [ErrClaimLost] if the claim is no
//     longer this store's (it lapsed and another holder took the key over,
//     or it was completed or released): the work may now run elsewhere too.
//   - Complete stores reply for ttl and ends this store's claim. If the
//     claim was taken over, it changes nothing and returns [ErrClaimLost]:
//     the new holder's claim, or its reply, stands. The store may keep
//     reply: the caller must not modify it afterwards.
//   - Release drops this store's unfinished claim, so the next Claim
//     succeeds; it removes neither a completed key nor another holder's
//     claim.
type Store interface {
	Claim(ctx context.Context, key string, lease time.Duration) (claimed bool, cached []byte, err error)
	Renew(ctx context.Context, key string, lease time.Duration) error
	Complete(ctx context.Context, key string, reply []byte, ttl time.Duration) error
	Release(ctx context.Context, key string) error
}

var (
	// ErrEmptyKey: an empty key was given.
	ErrEmptyKey = errors.New("catga: empty idempotency key")
	// ErrClaimLost: the store no longer holds the claim it was asked to
	// renew or complete; another holder may be running the same message.
	ErrClaimLost = errors.New("catga: idempotency claim lost")
)

// Memory is an in-process [Store]. It holds at most MaxEntries keys (two
// generations of MaxEntries/2: when the young one fills up, the old one is
// dropped), so a busy service cannot grow it without bound; an evicted
// completed key may run again if a duplicate comes that late. It owns no
// goroutine. All users of one Memory count as one holder: its claims are
// told apart by a token, kept per key for the latest claim it made.
type Memory struct {
	mu       sync.Mutex
	young    map[string]memEntry
	old      map[string]memEntry
	held     map[string]uint64 // key -> token of the claim made last
	token    uint64
	maxEntry int
	now      func() time.Time
}

type memEntry struct {
	done    bool
	reply   []byte
	token   uint64 // of the claim, while not done
	expires time.Time
}

// MemoryOption configures a Memory store.
type MemoryOption func(*Memory)

// WithMaxEntries bounds the keys kept (default 100_000).
func WithMaxEntries(n int) MemoryOption { return func(m *Memory) { m.maxEntry = max(n, 2) } }

// NewMemory returns an empty Memory store.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{young: map[string]memEntry{}, held: map[string]uint64{}, maxEntry: 100_000, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m
}

func (s *Memory) get(key string) (memEntry, bool) {
	if e, ok := s.young[key]; ok {
		return e, true
	}
	e, ok := s.old[key]
	return e, ok
}

func (s *Memory) put(key string, e memEntry) {
	delete(s.old, key)
	s.young[key] = e
	if len(s.young) >= s.maxEntry/2 {
		s.old, s.young = s.young, make(map[string]memEntry, len(s.young))
	}
}

// Claim implements [Store].
func (s *Memory) Claim(_ context.Context, key string, lease time.Duration) (bool, []byte, error) {
	if key == "" {
		return false, nil, ErrEmptyKey
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.get(key); ok && now.Before(e.expires) {
		if e.done {
			return false, e.reply, nil
		}
		return false, nil, nil
	}
	s.token++
	s.held[key] = s.token
	s.put(key, memEntry{token: s.token, expires: now.Add(lease)})
	return true, nil, nil
}

// own reports whether key's entry is still the claim this store made last.
// A lapsed claim nobody took over is still its own. Callers hold s.mu.
func (s *Memory) own(key string) bool {
	tok, held := s.held[key]
	e, ok := s.get(key)
	return held && ok && !e.done && e.token == tok
}

// Renew implements [Store].
func (s *Memory) Renew(_ context.Context, key string, lease time.Duration) error {
	if key == "" {
		return ErrEmptyKey
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.own(key) {
		return ErrClaimLost
	}
	e, _ := s.get(key)
	e.expires = now.Add(lease)
	s.put(key, e)
	return nil
}

// Complete implements [Store].
func (s *Memory) Complete(_ context.Context, key string, reply []byte, ttl time.Duration) error {
	if key == "" {
		return ErrEmptyKey
	}
	if reply == nil {
		reply = []byte{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	owned := s.own(key)
	delete(s.held, key)
	if !owned {
		return ErrClaimLost
	}
	s.put(key, memEntry{done: true, reply: reply, expires: s.now().Add(ttl)})
	return nil
}

// Release implements [Store].
func (s *Memory) Release(_ context.Context, key string) error {
	s.mu.Lock()
	if s.own(key) {
		delete(s.young, key)
		delete(s.old, key)
	}
	delete(s.held, key)
	s.mu.Unlock()
	return nil
}
