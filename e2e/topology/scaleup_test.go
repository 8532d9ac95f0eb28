package topology_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// TestScenarioScaleUp starts one more peer of order, payment and inventory
// while clients place orders, with the configuration the others have and
// nothing changed anywhere else: each new peer must take a share of its
// service's work, read from its own /metrics (sagas the order peer
// finished, charges and reservations the payment and inventory peers
// served over NATS). Then the books must balance.
func TestScenarioScaleUp(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short runs no containers")
	}
	topo := topology.Start(t, topology.Options{Peers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newClient()

	balances := map[string]int64{"rich": 10_000_000, "poor": 0}
	stocked := map[string]int64{"widget": 100_000}
	if err := openBooks(ctx, c, topo, balances, stocked); err != nil {
		t.Fatalf("setup: %v", err)
	}
	lb := newBalancer(c, topo.Peers["order"], 100*time.Millisecond)
	defer lb.close()

	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		placed   = map[string]expect{}
		failures []error
		seq      atomic.Int64
		plan     = mixedPlan(9, 1, 0)
	)
	for range 4 {
		wg.Go(func() {
			for range 500 { // bounded whatever the timing
				select {
				case <-stop:
					return
				default:
				}
				i := int(seq.Add(1))
				p := plan[i%len(plan)]
				var o order
				_, err := lb.do(ctx, http.MethodPost, "/orders", http.Header{"Idempotency-Key": {"up-" + strconv.Itoa(i)}},
					map[string]any{"customer": p.customer, "items": p.items}, &o)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					placed[o.ID] = p.want
				}
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		})
	}

	time.Sleep(2 * time.Second)
	added := map[string]*topology.Peer{}
	var startups []string
	for _, s := range []string{"order", "payment", "inventory"} {
		at := time.Now()
		p, err := topo.StartPeer(ctx, t, s, nil)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("scale-up: %v", err)
		}
		startups = append(startups, fmt.Sprintf("%s %s", s, time.Since(at).Round(time.Millisecond)))
		added[s] = p
		if s == "order" {
			lb.add(p) // the balancer learns of it, as an orchestrator's endpoints would
		}
	}
	time.Sleep(8 * time.Second) // the load goes on with every new peer in
	close(stop)
	wg.Wait()
	for _, err := range failures {
		t.Errorf("place: %v", err)
	}
	b := checkBooks(ctx, t, c, topo, placed, balances, stocked, 2*time.Minute)

	// What each service's peers did, the new one's part of it.
	work := []struct{ service, what, metric, label string }{
		{"order", "sagas finished", "catga_saga_outcomes_total", `saga="order"`},
		{"payment", "charges served", "catga_messages_handled_total", `type="contracts.Charge"`},
		{"inventory", "reservations served", "catga_messages_handled_total", `type="contracts.Reserve"`},
	}
	var shares []string
	for _, w := range work {
		var total, mine float64
		for _, p := range topo.Peers[w.service] {
			n, err := counter(ctx, p, w.metric, w.label)
			if err != nil {
				t.Fatalf("%s metrics: %v", p.Name, err)
			}
			total += n
			if p == added[w.service] {
				mine = n
			}
		}
		if mine == 0 {
			t.Errorf("the new %s peer took no share of the work: 0 of %.0f %s", w.service, total, w.what)
		}
		shares = append(shares, fmt.Sprintf("%s %.0f of %.0f %s", w.service, mine, total, w.what))
	}
	fmt.Printf("scenario scale-up: a third peer of order, payment and inventory started under load (ready in %s); "+
		"the new peers did: %s; %d orders: %d completed, %d cancelled %v\n",
		strings.Join(startups, ", "), strings.Join(shares, "; "), len(placed), b.completed, b.cancelled, b.reasons)
}
