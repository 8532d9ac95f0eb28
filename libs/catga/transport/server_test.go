package transport_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
	"github.com/catga-go/catga/libs/catga/transport/memory"
)

// TestServerRenewsClaim: two peers share one store; a handler ignoring its
// ctx runs 3 leases while duplicates of its message reach both peers. The
// serving peer renews its claim, so the handler runs once and every
// caller gets its reply.
func TestServerRenewsClaim(t *testing.T) {
	const lease = 200 * time.Millisecond
	bus := memory.NewBus()
	store := idempotency.NewMemory()
	var runs atomic.Int64
	for range 2 {
		tr := memory.New(bus)
		t.Cleanup(func() { _ = tr.Close() })
		m := mediator.New()
		_ = mediator.Handle(m, func(_ context.Context, c ChargePayment) (PaymentCharged, error) {
			runs.Add(1)
			time.Sleep(3 * lease) // ignores ctx, which the lease ends
			return PaymentCharged{OrderID: c.OrderID}, nil
		})
		if _, err := transport.Serve(tr, m, chargeRoute, transport.WithIdempotency(store), transport.WithLease(lease)); err != nil {
			t.Fatal(err)
		}
	}
	caller := memory.New(bus)
	t.Cleanup(func() { _ = caller.Close() })
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: "renewed"})
			got, err := transport.Request(ctx, caller, chargeRoute, ChargePayment{OrderID: "o-1"},
				transport.WithAttemptTimeout(5*time.Second), transport.WithRetry(20, 20*time.Millisecond))
			if err == nil && got.OrderID != "o-1" {
				err = errors.New("wrong reply " + got.OrderID)
			}
			errs[i] = err
		})
		time.Sleep(lease / 2) // duplicates spread over the handler's run
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("handler ran %d times, want once", n)
	}
}

// lostClaims is a store whose claims are always taken over by the time
// they are renewed, as when this peer could not reach the store for a
// whole lease.
type lostClaims struct {
	idempotency.Store
}

func (lostClaims) Renew(context.Context, string, time.Duration) error {
	return idempotency.ErrClaimLost
}

// TestLostClaimCancelsHandler: once the claim is lost (the message may now
// run on another peer) the handler's ctx is cancelled at once, with
// ErrClaimLost as its cause, not left running to the end of its lease.
func TestLostClaimCancelsHandler(t *testing.T) {
	const lease = 3 * time.Second
	bus := memory.NewBus()
	a, b := memory.New(bus), memory.New(bus)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	cause := make(chan error, 1)
	m := mediator.New()
	_ = mediator.Handle(m, func(ctx context.Context, c ChargePayment) (PaymentCharged, error) {
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return PaymentCharged{}, ctx.Err()
	})
	if _, err := transport.Serve(a, m, chargeRoute, transport.WithIdempotency(lostClaims{idempotency.NewMemory()}),
		transport.WithLease(lease)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, _ = transport.Request(ctx, b, chargeRoute, ChargePayment{OrderID: "o-1"}, transport.WithRetry(1, time.Millisecond))
	select {
	case err := <-cause:
		if !errors.Is(err, idempotency.ErrClaimLost) {
			t.Errorf("handler ctx ended with %v, want ErrClaimLost", err)
		}
		if took := time.Since(start); took > lease*2/3 {
			t.Errorf("handler cancelled after %v, want at the first renewal (lease/3 = %v)", took, lease/3)
		}
	case <-ctx.Done():
		t.Fatal("the handler never ended")
	}
}
