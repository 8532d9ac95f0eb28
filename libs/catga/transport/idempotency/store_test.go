package idempotency_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// runStoreSuite is the Store contract, run against every implementation.
func runStoreSuite(t *testing.T, newStore func(t *testing.T) idempotency.Store) {
	ctx := context.Background()
	t.Run("ClaimCompleteCached", func(t *testing.T) {
		s := newStore(t)
		claimed, cached, err := s.Claim(ctx, "k1", time.Minute)
		if err != nil || !claimed || cached != nil {
			t.Fatalf("first Claim = %v %q %v, want claimed", claimed, cached, err)
		}
		claimed, cached, err = s.Claim(ctx, "k1", time.Minute)
		if err != nil || claimed || cached != nil {
			t.Fatalf("Claim while pending = %v %q %v, want pending (false, nil)", claimed, cached, err)
		}
		if err := s.Complete(ctx, "k1", []byte("reply"), time.Minute); err != nil {
			t.Fatal(err)
		}
		claimed, cached, err = s.Claim(ctx, "k1", time.Minute)
		if err != nil || claimed || string(cached) != "reply" {
			t.Fatalf("Claim after Complete = %v %q %v, want the cached reply", claimed, cached, err)
		}
		if err := s.Release(ctx, "k1"); err != nil {
			t.Fatal(err)
		}
		if _, cached, _ := s.Claim(ctx, "k1", time.Minute); string(cached) != "reply" {
			t.Fatalf("Release removed a completed key")
		}
	})
	t.Run("EmptyReplyIsNotNil", func(t *testing.T) {
		s := newStore(t)
		_, _, _ = s.Claim(ctx, "k2", time.Minute)
		_ = s.Complete(ctx, "k2", nil, time.Minute)
		if _, cached, _ := s.Claim(ctx, "k2", time.Minute); cached == nil {
			t.Fatalf("completed with an empty reply, Claim returned nil (means pending)")
		}
	})
	t.Run("ReleaseLetsNextClaim", func(t *testing.T) {
		s := newStore(t)
		_, _, _ = s.Claim(ctx, "k3", time.Minute)
		if err := s.Release(ctx, "k3"); err != nil {
			t.Fatal(err)
		}
		if claimed, _, _ := s.Claim(ctx, "k3", time.Minute); !claimed {
			t.Fatalf("Claim after Release failed")
		}
	})
	t.Run("LeaseExpires", func(t *testing.T) {
		s := newStore(t)
		_, _, _ = s.Claim(ctx, "k4", 50*time.Millisecond)
		deadline := time.Now().Add(5 * time.Second)
		for {
			claimed, _, err := s.Claim(ctx, "k4", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if claimed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a crashed holder's claim never expired")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("RacingClaimsOneWinner", func(t *testing.T) {
		s := newStore(t)
		const racers = 16
		var (
			winners atomic.Int64
			wg      sync.WaitGroup
			start   = make(chan struct{})
		)
		for range racers {
			wg.Go(func() {
				<-start
				if claimed, _, err := s.Claim(ctx, "race", time.Minute); err == nil && claimed {
					winners.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if winners.Load() != 1 {
			t.Fatalf("%d racers claimed the key, want exactly 1", winners.Load())
		}
	})
	t.Run("EmptyKey", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Claim(ctx, "", time.Minute); err == nil {
			t.Fatal("empty key accepted")
		}
	})
}

func TestMemory(t *testing.T) {
	runStoreSuite(t, func(*testing.T) idempotency.Store { return idempotency.NewMemory() })
}

func TestRedis(t *testing.T) {
	client := redistest.Start(t)
	n := 0
	runStoreSuite(t, func(*testing.T) idempotency.Store {
		n++ // a fresh key space per test
		return idempotency.NewRedis(client, idempotency.WithPrefix(fmt.Sprintf("t%d:", n)))
	})
}

func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	s := idempotency.NewMemory(idempotency.WithMaxEntries(10))
	for i := range 100 {
		k := strconv.Itoa(i)
		_, _, _ = s.Claim(ctx, k, time.Minute)
		_ = s.Complete(ctx, k, []byte(k), time.Hour)
	}
	// The most recent keys are still deduplicated...
	if _, cached, _ := s.Claim(ctx, "99", time.Minute); string(cached) != "99" {
		t.Errorf("recent key lost: %q", cached)
	}
	// ...the oldest were evicted: the store did not grow past its bound.
	if claimed, _, _ := s.Claim(ctx, "0", time.Minute); !claimed {
		t.Errorf("key 0 of 100 still held with MaxEntries 10")
	}
}
