package nats_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/redistest"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// TestDiscovery: every serving peer answers $SRV.PING for its service.
func TestDiscovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	want := map[string]bool{}
	for range 2 {
		tr := connect(t, s.ClientURL())
		m := mediator.New()
		_ = mediator.Handle(m, func(_ context.Context, c Charge) (Charged, error) { return Charged{N: c.N}, nil })
		if _, err := transport.Serve[Charge, Charged](tr, m, "payment"); err != nil {
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
	store := idempotency.NewRedis(client)
	var runs atomic.Int64
	for _, svc := range []string{"payA", "payB"} {
		tr := connect(t, s.ClientURL())
		m := mediator.New()
		_ = mediator.Handle(m, func(ctx context.Context, c Charge) (Charged, error) {
			n := runs.Add(1)
			time.Sleep(100 * time.Millisecond) // widen the race
			return Charged{N: int(n), Peer: svc}, nil
		})
		if _, err := transport.Serve[Charge, Charged](tr, m, svc, transport.WithIdempotency(store), transport.WithConcurrency(2)); err != nil {
			t.Fatal(err)
		}
		_ = tr.Conn().Flush()
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		replies []Charged
	)
	for range 2 {
		tr := connect(t, s.ClientURL())
		m := mediator.New()
		_ = transport.Route[Charge, Charged](m, tr)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: "race-1"})
			r, err := mediator.Send[Charged](ctx, m, Charge{N: 1})
			if err != nil {
				t.Errorf("Send: %v", err)
				return
			}
			mu.Lock()
			replies = append(replies, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	if runs.Load() != 1 {
		t.Errorf("handler ran %d times for one message id, want 1", runs.Load())
	}
	if len(replies) == 2 && replies[0] != replies[1] {
		t.Errorf("callers got different replies: %+v", replies)
	}
}
