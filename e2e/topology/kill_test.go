package topology_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// TestScenarioKillOrderPeers kills (SIGKILL) a random order peer again and
// again while clients place orders, restarting each after a pause: clients
// retry a failed request on another peer with the same Idempotency-Key,
// and every saga a dead peer owned must still complete or compensate (the
// books balance) in the order's one trace (see checkTraces).
func TestScenarioKillOrderPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short runs no containers")
	}
	topo := topology.Start(t, topology.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := newClient()

	const scarceStock, clients = 10, 8
	balances := map[string]int64{"rich": 10_000_000, "poor": 0}
	stocked := map[string]int64{"widget": 1000, "scarce": scarceStock}
	if err := openBooks(ctx, c, topo, balances, stocked); err != nil {
		t.Fatalf("setup: %v", err)
	}

	// One peer at a time is dead: killed, down for a second, restarted.
	stop := make(chan struct{})
	var (
		wg     sync.WaitGroup
		kills  int
		killed []kill
	)
	wg.Go(func() {
		peers := topo.Peers["order"]
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			p := peers[rand.IntN(len(peers))]
			if err := topo.Kill(ctx, p); err != nil {
				t.Errorf("chaos: %v", err)
				return
			}
			kills++
			killed = append(killed, kill{p, time.Now()})
			time.Sleep(time.Second)
			if err := topo.Restart(ctx, p); err != nil {
				t.Errorf("chaos: %v", err)
				return
			}
		}
	})

	placeAt := time.Now()
	placed, failed := placeOrders(ctx, c, topo.Peers["order"], "kill", mixedPlan(60, 20, 20), clients, 10, time.Second)
	placing := time.Since(placeAt)
	close(stop)
	wg.Wait()
	for _, err := range failed {
		t.Errorf("place (10 attempts on random peers): %v", err)
	}
	if kills < 3 {
		t.Errorf("only %d kills while orders flowed: the attack proved nothing", kills)
	}

	settleAt := time.Now()
	b := checkBooks(ctx, t, c, topo, placed, balances, stocked, 3*time.Minute)
	if b.completedBySKU["scarce"] != scarceStock {
		t.Errorf("scarce: %d orders completed, want %d", b.completedBySKU["scarce"], scarceStock)
	}
	fmt.Printf("scenario kill order peers: %d orders (%d clients) under %d kills: %d completed, %d cancelled %v; "+
		"placing %s, all settled and checked %s\n",
		len(placed), clients, kills, b.completed, b.cancelled, b.reasons,
		placing.Round(time.Millisecond), time.Since(settleAt).Round(time.Millisecond))
	checkTraces(ctx, t, c, topo, b, killed, time.Minute)
}
