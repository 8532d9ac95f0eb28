package idempotency_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/transport/idempotency"
	"github.com/catga-go/catga/libs/catga/transport/idempotency/idempotencytest"
)

func TestMemory(t *testing.T) {
	idempotencytest.Run(t, idempotencytest.Capabilities{}, func(*testing.T) func() idempotency.Store {
		s := idempotency.NewMemory()
		return func() idempotency.Store { return s }
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
