package topology_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// TestScenarioGracefulScaleDown stops (SIGTERM) one peer of every service,
// one at a time, while clients place orders and read accounts, stock and
// notifications through a load balancer per service (see balancer): not
// one client request may fail, every stopped peer must exit 0, and the
// books must balance. The stopped peers are started again at the end, so
// the books are read from a whole topology.
func TestScenarioGracefulScaleDown(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short runs no containers")
	}
	topo := topology.Start(t, topology.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newClient()

	const scarceStock = 5
	balances := map[string]int64{"rich": 10_000_000, "poor": 0}
	stocked := map[string]int64{"widget": 100_000, "scarce": scarceStock}
	if err := openBooks(ctx, c, topo, balances, stocked); err != nil {
		t.Fatalf("setup: %v", err)
	}
	lbs := map[string]*balancer{}
	for _, s := range topology.Services {
		lbs[s] = newBalancer(c, topo.Peers[s], 100*time.Millisecond)
		defer lbs[s].close()
	}

	// Steady load until stop: order placers and readers of every service.
	var (
		stop             = make(chan struct{})
		wg               sync.WaitGroup
		mu               sync.Mutex
		placed           = map[string]expect{}
		failures         []error
		requests         atomic.Int64
		seq              atomic.Int64
		lastOrder        atomic.Value // an order id for the notification reads
		placers, readers = 4, 2
		maxPerWorker     = 400 // bounds the load whatever the timing
		orderPlan        = mixedPlan(40, 5, 5)
		fail             = func(err error) { mu.Lock(); failures = append(failures, err); mu.Unlock() }
		running          = func() bool {
			select {
			case <-stop:
				return false
			default:
				return true
			}
		}
	)
	lastOrder.Store("")
	for range placers {
		wg.Go(func() {
			for range maxPerWorker {
				if !running() {
					return
				}
				i := int(seq.Add(1))
				p := orderPlan[i%len(orderPlan)]
				var o order
				key := http.Header{"Idempotency-Key": {"down-" + strconv.Itoa(i)}}
				_, err := lbs["order"].do(ctx, http.MethodPost, "/orders", key, map[string]any{"customer": p.customer, "items": p.items}, &o)
				requests.Add(1)
				if err != nil {
					fail(fmt.Errorf("place %d: %w", i, err))
				} else {
					mu.Lock()
					placed[o.ID] = p.want
					mu.Unlock()
					lastOrder.Store(o.ID)
				}
				time.Sleep(150 * time.Millisecond)
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for range maxPerWorker {
				if !running() {
					return
				}
				last := lastOrder.Load().(string)
				for _, r := range []struct{ service, path string }{
					{"payment", "/accounts/rich"},
					{"inventory", "/stock/widget"},
					{"notification", "/notifications?order=" + url.QueryEscape(last)},
					{"order", "/orders?state=COMPLETED&limit=5"},
				} {
					if r.service == "notification" && last == "" {
						continue
					}
					_, err := lbs[r.service].do(ctx, http.MethodGet, r.path, nil, nil, nil)
					requests.Add(1)
					if err != nil {
						fail(fmt.Errorf("read %s %s: %w", r.service, r.path, err))
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}

	// One peer of every service at a time: SIGTERM, wait for its exit.
	time.Sleep(2 * time.Second)
	var (
		stopped []*topology.Peer
		took    []time.Duration
	)
	for _, s := range topology.Services {
		p := topo.Peers[s][rand.IntN(len(topo.Peers[s]))]
		at := time.Now()
		code, err := topo.Stop(ctx, p, 30*time.Second)
		if err != nil {
			t.Errorf("scale-down: %v", err)
			break
		}
		if code != 0 {
			t.Errorf("scale-down: %s exited %d after SIGTERM, want 0", p.Name, code)
		}
		stopped = append(stopped, p)
		took = append(took, time.Since(at).Round(time.Millisecond))
		time.Sleep(2 * time.Second) // the load goes on with this peer gone
	}
	close(stop)
	wg.Wait()

	for _, err := range failures {
		t.Errorf("client request failed: %v", err)
	}
	var rerouted int64
	for _, lb := range lbs {
		rerouted += lb.rerouted.Load()
	}
	// The topology whole again for the checks (and the next test's peace).
	for _, p := range stopped {
		if err := topo.Restart(ctx, p); err != nil {
			t.Fatalf("restart: %v", err)
		}
	}
	b := checkBooks(ctx, t, c, topo, placed, balances, stocked, 2*time.Minute)
	// Only the scarce orders may end either way (expect{}): as many complete
	// as there is stock for, the others are out of stock.
	scarceOrders := 0
	for _, want := range placed {
		if want == (expect{}) {
			scarceOrders++
		}
	}
	if want := int64(min(scarceOrders, scarceStock)); b.completedBySKU["scarce"] != want {
		t.Errorf("scarce: %d of %d orders completed, want %d (stock %d)", b.completedBySKU["scarce"], scarceOrders, want, scarceStock)
	}
	fmt.Printf("scenario graceful scale-down: %d peers stopped by SIGTERM one at a time (exit in %v) under load: "+
		"%d client requests, %d failed, %d rerouted after a refused connection; %d orders: %d completed, %d cancelled %v\n",
		len(stopped), took, requests.Load(), len(failures), rerouted, len(placed), b.completed, b.cancelled, b.reasons)
}
