package natstransport_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
)

// TestDefaultStoreHoldsAcrossPeers: two peers serve with the default
// idempotency store; each handler takes longer than the caller's attempt
// timeout, so every request is retried, and a retry lands on either peer
// while the first attempt still runs. With the default store shared
// through JetStream each request has its effect once and every caller
// gets its reply.
func TestDefaultStoreHoldsAcrossPeers(t *testing.T) {
	c := startCluster(t)
	for i, name := range []string{"r1", "r2"} {
		tr := c.peerOn(t, i, name)
		m := mediator.New()
		_ = mediator.Handle(m, func(ctx context.Context, req Charge) (Charged, error) {
			time.Sleep(600 * time.Millisecond) // longer than an attempt
			md, _ := catga.MetadataFrom(ctx)
			c.led.apply(md.MessageID, name)
			return Charged{N: req.N, Peer: name}, nil
		})
		if _, err := transport.Serve(tr, m, chargeRoute, transport.WithConcurrency(8)); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		if err := tr.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}
	_, m := c.caller(t, 2, transport.WithAttemptTimeout(200*time.Millisecond), transport.WithRetry(40, 20*time.Millisecond))
	const n = 12
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = fmt.Sprintf("cross-peer-%d-%d", time.Now().UnixNano(), i)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			resp, err := mediator.Send[Charged](catga.WithMetadata(ctx, catga.Metadata{MessageID: ids[i]}), m, Charge{N: i})
			if err == nil && resp.N != i {
				err = fmt.Errorf("reply carries %d", resp.N)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	c.led.checkOnce(t, ids)
	t.Logf("effects: r1 %d, r2 %d", c.led.peerCount("r1"), c.led.peerCount("r2"))
}
