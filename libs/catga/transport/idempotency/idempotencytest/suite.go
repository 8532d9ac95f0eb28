// Package idempotencytest checks an idempotency.Store implementation
// against the contract of the interface.
package idempotencytest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// Capabilities says what an implementation can be checked for.
type Capabilities struct {
	// Shared: stores made by one Factory call are separate peers on one
	// backend (Redis, a JetStream bucket), not one in-process map.
	Shared bool
}

// Factory returns a function making stores (peers) on one fresh backend
// key space; it registers cleanup with t.Cleanup.
type Factory func(t *testing.T) func() idempotency.Store

// Run checks the idempotency.Store contract. Every case runs in parallel
// on its own key space.
func Run(t *testing.T, caps Capabilities, f Factory) {
	ctx := context.Background()
	newStore := func(t *testing.T) idempotency.Store {
		t.Parallel()
		return f(t)()
	}
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
	t.Run("ReleaseKeepsAnotherHoldersClaim", func(t *testing.T) {
		if !caps.Shared {
			t.Skip("the store is not shared between peers: nobody else can hold its claims")
		}
		t.Parallel()
		peers := f(t)
		a, b := peers(), peers()
		if claimed, _, err := a.Claim(ctx, "k5", time.Second); err != nil || !claimed {
			t.Fatalf("a: Claim = %v, %v", claimed, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for { // a's lease lapses; b takes the key over
			claimed, _, err := b.Claim(ctx, "k5", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if claimed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("b never got the key after a's lease lapsed")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := a.Release(ctx, "k5"); err != nil { // late: its handler gave up
			t.Fatal(err)
		}
		if claimed, cached, err := a.Claim(ctx, "k5", time.Minute); err != nil || claimed || cached != nil {
			t.Fatalf("after a's late Release, Claim = %v %q %v; want b's claim still pending", claimed, cached, err)
		}
	})
	t.Run("RenewedClaimHolds", func(t *testing.T) {
		// A holder working 3 leases, renewing every lease/3: no other
		// peer's Claim succeeds meanwhile, and its Complete is stored.
		t.Parallel()
		peers := f(t)
		a, b := peers(), peers()
		const lease = 300 * time.Millisecond
		if claimed, _, err := a.Claim(ctx, "k6", lease); err != nil || !claimed {
			t.Fatalf("a: Claim = %v, %v", claimed, err)
		}
		renewed := time.Now()
		for end := time.Now().Add(3 * lease); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if time.Since(renewed) >= lease/3 {
				if err := a.Renew(ctx, "k6", lease); err != nil {
					t.Fatalf("a: Renew of a live claim = %v", err)
				}
				renewed = time.Now()
			}
			if claimed, cached, err := b.Claim(ctx, "k6", lease); err != nil || claimed || cached != nil {
				t.Fatalf("b: Claim while a renews = %v %q %v; want pending (false, nil)", claimed, cached, err)
			}
		}
		if err := a.Complete(ctx, "k6", []byte("a"), time.Minute); err != nil {
			t.Fatalf("a: Complete after renewing = %v", err)
		}
		if _, cached, _ := b.Claim(ctx, "k6", lease); string(cached) != "a" {
			t.Fatalf("b: Claim after a completed = %q, want a's reply", cached)
		}
	})
	t.Run("DeadHolderLapses", func(t *testing.T) {
		// A holder that renewed, then died: another peer claims the key
		// about one lease after the last renewal.
		t.Parallel()
		peers := f(t)
		a, b := peers(), peers()
		const lease = 300 * time.Millisecond
		if claimed, _, err := a.Claim(ctx, "k7", lease); err != nil || !claimed {
			t.Fatalf("a: Claim = %v, %v", claimed, err)
		}
		if err := a.Renew(ctx, "k7", lease); err != nil {
			t.Fatal(err)
		}
		died := time.Now()
		for {
			claimed, _, err := b.Claim(ctx, "k7", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if claimed {
				break
			}
			if time.Since(died) > 10*lease {
				t.Fatal("a dead holder's renewed claim never lapsed")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if since := time.Since(died); since < lease*9/10 {
			t.Fatalf("b claimed %v after a's last renewal, before its lease %v ended", since, lease)
		}
		if err := a.Renew(ctx, "k7", lease); caps.Shared && !errors.Is(err, idempotency.ErrClaimLost) {
			t.Fatalf("a: Renew of a claim taken over = %v, want ErrClaimLost", err)
		}
	})
	t.Run("CompleteKeepsNewHoldersClaim", func(t *testing.T) {
		if !caps.Shared {
			t.Skip("the store is not shared between peers: nobody else can take its claims over")
		}
		// a's lease lapses while it still works (it could not renew); b
		// takes the key over. a's late Complete must not overwrite b's
		// claim, nor b's reply.
		t.Parallel()
		peers := f(t)
		a, b, c := peers(), peers(), peers()
		if claimed, _, err := a.Claim(ctx, "k8", 200*time.Millisecond); err != nil || !claimed {
			t.Fatalf("a: Claim = %v, %v", claimed, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			claimed, _, err := b.Claim(ctx, "k8", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if claimed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("b never got the key after a's lease lapsed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := a.Complete(ctx, "k8", []byte("a"), time.Minute); !errors.Is(err, idempotency.ErrClaimLost) {
			t.Errorf("a: late Complete = %v, want ErrClaimLost", err)
		}
		if claimed, cached, err := c.Claim(ctx, "k8", time.Minute); err != nil || claimed || cached != nil {
			t.Fatalf("after a's late Complete, Claim = %v %q %v; want b's claim still pending", claimed, cached, err)
		}
		if err := b.Renew(ctx, "k8", time.Minute); err != nil {
			t.Fatalf("b: Renew after a's late Complete = %v", err)
		}
		if err := b.Complete(ctx, "k8", []byte("b"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, cached, _ := c.Claim(ctx, "k8", time.Minute); string(cached) != "b" {
			t.Fatalf("reply = %q, want b's", cached)
		}
	})
	t.Run("EmptyKey", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Claim(ctx, "", time.Minute); err == nil {
			t.Fatal("empty key accepted")
		}
	})
}
