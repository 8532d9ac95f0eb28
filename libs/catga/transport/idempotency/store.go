package idempotency

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Store records which message ids have been handled and their replies.
//
// Contract:
//   - Claim atomically claims key for lease. It returns claimed=true to
//     exactly one caller while the key is unclaimed (or its lease expired);
//     that caller must run the work and then call Complete or Release. For
//     a completed key it returns claimed=false and the stored reply (never
//     nil, possibly empty). While another holder's lease runs it returns
//     claimed=false, cached=nil: the caller should wait and claim again.
//   - Complete stores reply for ttl and ends the claim. The store may keep
//     reply: the caller must not modify it afterwards.
//   - Release drops an unfinished claim, so the next Claim succeeds; it
//     does not remove a completed key.
type Store interface {
	Claim(ctx context.Context, key string, lease time.Duration) (claimed bool, cached []byte, err error)
	Complete(ctx context.Context, key string, reply []byte, ttl time.Duration) error
	Release(ctx context.Context, key string) error
}

// ErrEmptyKey: an empty key was given.
var ErrEmptyKey = errors.New("catga: empty idempotency key")

// Memory is an in-process [Store]. It holds at most MaxEntries keys (two
// generations of MaxEntries/2: when the young one fills up, the old one is
// dropped), so a busy service cannot grow it without bound; an evicted
// completed key may run again if a duplicate comes that late. It owns no
// goroutine.
type Memory struct {
	mu       sync.Mutex
	young    map[string]memEntry
	old      map[string]memEntry
	maxEntry int
	now      func() time.Time
}

type memEntry struct {
	done    bool
	reply   []byte
	expires time.Time
}

// MemoryOption configures a Memory store.
type MemoryOption func(*Memory)

// WithMaxEntries bounds the keys kept (default 100_000).
func WithMaxEntries(n int) MemoryOption { return func(m *Memory) { m.maxEntry = max(n, 2) } }

// NewMemory returns an empty Memory store.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{young: map[string]memEntry{}, maxEntry: 100_000, now: time.Now}
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
	s.put(key, memEntry{expires: now.Add(lease)})
	return true, nil, nil
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
	s.put(key, memEntry{done: true, reply: reply, expires: s.now().Add(ttl)})
	s.mu.Unlock()
	return nil
}

// Release implements [Store].
func (s *Memory) Release(_ context.Context, key string) error {
	s.mu.Lock()
	if e, ok := s.get(key); ok && !e.done {
		delete(s.young, key)
		delete(s.old, key)
	}
	s.mu.Unlock()
	return nil
}
