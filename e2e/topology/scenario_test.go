package topology_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// expect is what one order of the scenario must end as.
type expect struct {
	state  string // COMPLETED or CANCELLED; "" when either is right
	reason string // of a cancellation, when known
}

// TestScenarioMixedOrders places hundreds of orders from concurrent
// clients through every order peer's mapped port: most are paid and in
// stock, a tenth are declined (an empty account), a tenth compete for a
// SKU with less stock than is ordered. Then the books must balance (see
// checkBooks), and every order must be one trace across the four services
// (see checkTraces).
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

	const scarceStock, clients = 10, 20
	balances := map[string]int64{"rich": 10_000_000, "poor": 0}
	stocked := map[string]int64{"widget": 1000, "scarce": scarceStock}
	if err := openBooks(ctx, c, topo, balances, stocked); err != nil {
		t.Fatalf("setup: %v", err)
	}

	placeAt := time.Now()
	placed, failed := placeOrders(ctx, c, topo.Peers["order"], "mixed", mixedPlan(240, 30, 30), clients, 3, 0)
	placing := time.Since(placeAt)
	for _, err := range failed {
		t.Errorf("place: %v", err)
	}

	settleAt := time.Now()
	b := checkBooks(ctx, t, c, topo, placed, balances, stocked, 2*time.Minute)
	settling := time.Since(settleAt)
	if b.completedBySKU["scarce"] != scarceStock {
		t.Errorf("scarce: %d orders completed, want %d (one per unit in stock, the rest out_of_stock)",
			b.completedBySKU["scarce"], scarceStock)
	}
	fmt.Printf("scenario mixed orders: %d orders (%d clients, %d peers per service): %d completed, %d cancelled %v; "+
		"topology start %s, placing %s (%.0f orders/s), all settled and checked %s\n",
		len(placed), clients, len(topo.Peers["order"]), b.completed, b.cancelled, b.reasons,
		startup.Round(time.Millisecond), placing.Round(time.Millisecond), float64(len(placed))/placing.Seconds(),
		settling.Round(time.Millisecond))
	checkTraces(ctx, t, c, topo, b, nil, time.Minute)
}
