package topology_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// expect is what one order of the scenario must end as.
type expect struct {
	state  string // COMPLETED or CANCELLED; "" when either is right
	reason string // of a cancellation, when known
}

// TestScenarioMixedOrders places orders from concurrent clients through
// every order peer's mapped port: most are paid and in stock, some are
// declined (an empty account), some compete for a SKU with less stock than
// is ordered. Then the books must balance (see checkBooks).
func TestScenarioMixedOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short runs no containers")
	}
	started := time.Now()
	topo := topology.Start(t, topology.Options{})
	startup := time.Since(started)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newClient()

	const (
		rich, poor   = "rich", "poor"
		widget       = "widget"
		scarce       = "scarce"
		scarceStock  = 5
		richBalance  = 10_000_000
		happyOrders  = 30
		poorOrders   = 10
		scarceOrders = 10
		clients      = 10
	)
	payment, inventory := topo.Peers["payment"][0].URL, topo.Peers["inventory"][0].URL
	setup := []struct {
		url  string
		body any
	}{
		{payment + "/accounts", map[string]any{"id": rich, "balance": richBalance}},
		{payment + "/accounts", map[string]any{"id": poor, "balance": 0}},
		{inventory + "/stock/" + widget, map[string]any{"quantity": 1000}},
		{inventory + "/stock/" + scarce, map[string]any{"quantity": scarceStock}},
	}
	for _, s := range setup {
		if _, err := c.do(ctx, http.MethodPost, s.url, nil, s.body, nil); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}

	type placement struct {
		customer string
		items    []item
		want     expect
	}
	var plan []placement
	for range happyOrders {
		plan = append(plan, placement{rich, []item{{widget, 2, 250}}, expect{state: "COMPLETED"}})
	}
	for range poorOrders {
		plan = append(plan, placement{poor, []item{{widget, 1, 250}}, expect{"CANCELLED", "insufficient_funds"}})
	}
	for range scarceOrders {
		plan = append(plan, placement{rich, []item{{scarce, 1, 1000}}, expect{}})
	}
	rand.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })

	// Concurrent clients, each order to a random order peer; a request that
	// fails in transport is retried (same Idempotency-Key) on another peer.
	orderPeers := topo.Peers["order"]
	var (
		mu      sync.Mutex
		placed  = map[string]expect{}
		failed  []error
		work    = make(chan int)
		wg      sync.WaitGroup
		placeAt = time.Now()
	)
	for range clients {
		wg.Go(func() {
			for i := range work {
				p := plan[i]
				key := http.Header{"Idempotency-Key": {"scenario-1-" + strconv.Itoa(i)}}
				var (
					o   order
					err error
				)
				for attempt := range 3 {
					peer := orderPeers[(i+attempt)%len(orderPeers)]
					if _, err = c.do(ctx, http.MethodPost, peer.URL+"/orders", key,
						map[string]any{"customer": p.customer, "items": p.items}, &o); err == nil {
						break
					}
				}
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					placed[o.ID] = p.want
				}
				mu.Unlock()
			}
		})
	}
	for i := range plan {
		work <- i
	}
	close(work)
	wg.Wait()
	placing := time.Since(placeAt)
	for _, err := range failed {
		t.Errorf("place: %v", err)
	}

	settleAt := time.Now()
	b := checkBooks(ctx, t, c, topo, placed, map[string]int64{rich: richBalance, poor: 0},
		map[string]int64{widget: 1000, scarce: scarceStock}, 2*time.Minute)
	settling := time.Since(settleAt)
	if b.completedBySKU[scarce] != scarceStock {
		t.Errorf("%s: %d orders completed, want %d (one per unit in stock, the rest out_of_stock)",
			scarce, b.completedBySKU[scarce], scarceStock)
	}
	fmt.Printf("scenario mixed orders: %d orders (%d clients, %d peers per service): %d completed, %d cancelled %v; "+
		"topology start %s, placing %s, all settled and checked %s\n",
		len(placed), clients, len(orderPeers), b.completed, b.cancelled, b.reasons,
		startup.Round(time.Millisecond), placing.Round(time.Millisecond), settling.Round(time.Millisecond))
}
