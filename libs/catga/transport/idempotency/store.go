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

// Memory is an in-process [Store]. Expired entries are swept lazily, so it
// owns no goroutine.
type Memory struct {
	mu      sync.Mutex
	entries map[string]memEntry
	now     func() time.Time
	swept   time.Time
}

type memEntry struct {
	done    bool
	reply   []byte
	expires time.Time
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{entries: make(map[string]memEntry), now: time.Now}
}

// Claim implements [Store].
func (s *Memory) Claim(_ context.Context, key string, lease time.Duration) (bool, []byte, error) {
	if key == "" {
		return false, nil, ErrEmptyKey
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if e, ok := s.entries[key]; ok && now.Before(e.expires) {
		if e.done {
			return false, e.reply, nil
		}
		return false, nil, nil
	}
	s.entries[key] = memEntry{expires: now.Add(lease)}
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
	s.entries[key] = memEntry{done: true, reply: reply, expires: s.now().Add(ttl)}
	s.mu.Unlock()
	return nil
}

// Release implements [Store].
func (s *Memory) Release(_ context.Context, key string) error {
	s.mu.Lock()
	if e, ok := s.entries[key]; ok && !e.done {
		delete(s.entries, key)
	}
	s.mu.Unlock()
	return nil
}

// sweep drops expired entries at most once a second, so its O(n) cost is
// spread over every operation of that second.
func (s *Memory) sweep(now time.Time) {
	if now.Sub(s.swept) < time.Second {
		return
	}
	s.swept = now
	for k, e := range s.entries {
		if !now.Before(e.expires) {
			delete(s.entries, k)
		}
	}
}
