package natstransport_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/idempotency/redisstore"
)

// TestDiscovery: every serving peer answers $SRV.PING for its service.
func TestDiscovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	want := map[string]bool{}
	for range 2 {
		tr := connectAs(t, "payment", s.ClientURL())
		m := mediator.New()
		_ = mediator.Handle(m, func(_ context.Context, c Charge) (Charged, error) { return Charged{N: c.N}, nil })
		if _, err := transport.Serve(tr, m, chargeRoute); err != nil {
			t.Fatal(err)
		}
		_ = tr.Conn().Flush()
		want[tr.ID()] = true
	}
	asker := connect(t, s.ClientURL())
	pings, err := asker.Peers(context.Background(), "payment", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range pings {
		if p.Name != "payment" {
			t.Errorf("ping from service %q", p.Name)
		}
		got[p.Metadata["peer"]] = true
	}
	for id := range want {
		if !got[id] {
			t.Errorf("peer %s missing from $SRV.PING.payment answers %+v", id, pings)
		}
	}
}

// TestRacingPeersRedis: two peers of two services (so both receive every
// request) share a Redis idempotency store; two callers race the same
// message id. The handler runs once and every caller gets its reply.
func TestRacingPeersRedis(t *testing.T) {
	client := redistest.Start(t)
	s := startServer(t)
	store := redisstore.New(client)
	var runs atomic.Int64
	for _, svc := range []string{"payA", "payB"} {
		tr := connectAs(t, svc, s.ClientURL())
		m := mediator.New()
		_ = mediator.Handle(m, func(ctx context.Context, c Charge) (Charged, error) {
			n := runs.Add(1)
			time.Sleep(100 * time.Millisecond) // widen the race
			return Charged{N: int(n), Peer: svc}, nil
		})
		if _, err := transport.Serve(tr, m, chargeRoute, transport.WithIdempotency(store), transport.WithConcurrency(2)); err != nil {
			t.Fatal(err)
		}
		_ = tr.Conn().Flush()
	}
	// Both services share the command's queue group, so two concurrent
	// sends of one id land on different peers about half the time; ten ids
	// make a cross-peer race all but certain.
	const ids = 10
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		replies = map[string][]Charged{}
	)
	callers := make([]*mediator.Mediator, 2)
	for i := range callers {
		tr := connect(t, s.ClientURL())
		callers[i] = mediator.New()
		_ = transport.Register(callers[i], tr, chargeRoute)
	}
	for i := range ids {
		id := fmt.Sprintf("race-%d", i)
		for _, m := range callers {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: id})
				r, err := mediator.Send[Charged](ctx, m, Charge{N: 1})
				if err != nil {
					t.Errorf("Send: %v", err)
					return
				}
				mu.Lock()
				replies[id] = append(replies[id], r)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if runs.Load() != ids {
		t.Errorf("handler ran %d times for %d message ids, want %d", runs.Load(), ids, ids)
	}
	for id, r := range replies {
		if len(r) == 2 && r[0] != r[1] {
			t.Errorf("callers of %s got different replies: %+v", id, r)
		}
	}
}

// TestTwoServicesServeOneType: two services serve the same type, without
// deduplication (a query); a request runs once, not once per service.
func TestTwoServicesServeOneType(t *testing.T) {
	s := startServer(t)
	var runs atomic.Int64
	for _, svc := range []string{"payments", "payments-v2"} {
		tr := connectAs(t, svc, s.ClientURL())
		m := mediator.New()
		_ = mediator.Handle(m, func(_ context.Context, c Charge) (Charged, error) { runs.Add(1); return Charged{N: c.N}, nil })
		if _, err := transport.Serve(tr, m, chargeRoute, transport.WithoutIdempotency()); err != nil {
			t.Fatal(err)
		}
	}
	m := mediator.New()
	_ = transport.Register(m, connect(t, s.ClientURL()), chargeRoute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := mediator.Send[Charged](ctx, m, Charge{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let a second service's run land
	if n := runs.Load(); n != 5 {
		t.Errorf("5 requests ran %d times", n)
	}
}

// TestConcurrencyOneRunsOneAtATime: WithConcurrency(1) holds however the
// request arrives (the queue subscription or the discovery endpoint, each
// delivering from its own goroutine).
func TestConcurrencyOneRunsOneAtATime(t *testing.T) {
	s := startServer(t)
	var active, most atomic.Int64
	m := mediator.New()
	_ = mediator.Handle(m, func(_ context.Context, c Charge) (Charged, error) {
		n := active.Add(1)
		for {
			if old := most.Load(); n <= old || most.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		active.Add(-1)
		return Charged{N: c.N}, nil
	})
	if _, err := transport.Serve(connect(t, s.ClientURL()), m, chargeRoute,
		transport.WithConcurrency(1), transport.WithoutIdempotency()); err != nil {
		t.Fatal(err)
	}
	caller := mediator.New()
	_ = transport.Register(caller, connect(t, s.ClientURL()), chargeRoute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var g errgroup.Group
	for i := range 24 {
		g.Go(func() error {
			_, err := mediator.Send[Charged](ctx, caller, Charge{N: i})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := most.Load(); n != 1 {
		t.Errorf("%d handlers ran at once with WithConcurrency(1)", n)
	}
}
