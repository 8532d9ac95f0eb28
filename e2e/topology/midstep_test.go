package topology_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// stepDelay slows every payment and inventory step (see
// topology.HandlerDelay) so that a kill lands inside one: a peer is always
// busy with some step, before its effect or after it committed.
const stepDelay = 300 * time.Millisecond

// TestScenarioKillParticipantsMidStep kills (SIGKILL) payment and
// inventory peers again and again while their step handlers are working
// and orders flow, and starts each again after a pause. The lost attempts
// are retried on the other peers under the same message id and idempotency
// key: no order is charged or reserved twice, every saga completes or
// compensates, the books balance.
func TestScenarioKillParticipantsMidStep(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: -short runs no containers")
	}
	slow := topology.HandlerDelay(stepDelay)
	topo := topology.Start(t, topology.Options{Env: map[string]map[string]string{"payment": slow, "inventory": slow}})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := newClient()

	const scarceStock, clients = 5, 6
	balances := map[string]int64{"rich": 10_000_000, "poor": 0}
	stocked := map[string]int64{"widget": 1000, "scarce": scarceStock}
	if err := openBooks(ctx, c, topo, balances, stocked); err != nil {
		t.Fatalf("setup: %v", err)
	}

	// Per service, one peer at a time is dead: killed, down a second, started again.
	stop := make(chan struct{})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		kills = map[string]int{}
	)
	for _, s := range []string{"payment", "inventory"} {
		wg.Go(func() {
			peers := topo.Peers[s]
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(500+rand.IntN(1000)) * time.Millisecond):
				}
				p := peers[rand.IntN(len(peers))]
				if err := topo.Kill(ctx, p); err != nil {
					t.Errorf("chaos: %v", err)
					return
				}
				mu.Lock()
				kills[s]++
				mu.Unlock()
				time.Sleep(time.Second)
				if err := topo.Restart(ctx, p); err != nil {
					t.Errorf("chaos: %v", err)
					return
				}
			}
		})
	}

	placeAt := time.Now()
	placed, failed := placeOrders(ctx, c, topo.Peers["order"], "midstep", mixedPlan(70, 10, 10), clients, 3, 1500*time.Millisecond)
	placing := time.Since(placeAt)
	close(stop)
	wg.Wait()
	for _, err := range failed {
		t.Errorf("place: %v", err)
	}
	for _, s := range []string{"payment", "inventory"} {
		if kills[s] < 3 {
			t.Errorf("only %d kills of %s peers while orders flowed: the attack proved nothing", kills[s], s)
		}
	}

	settleAt := time.Now()
	b := checkBooks(ctx, t, c, topo, placed, balances, stocked, 3*time.Minute)
	if b.completedBySKU["scarce"] != scarceStock {
		t.Errorf("scarce: %d orders completed, want %d", b.completedBySKU["scarce"], scarceStock)
	}
	// A step that outlived one attempt (the transport's 2 s) lost it to a
	// kill and was finished by a retry on another peer.
	retried := slowSteps(ctx, t, c, topo, placed, 2*time.Second)
	if retried == 0 {
		t.Errorf("no charge or reservation outlived an attempt: no kill landed mid-step")
	}
	fmt.Printf("scenario kill participants mid-step: %d orders (%d clients) under %d payment and %d inventory kills "+
		"(steps slowed by %s): %d steps finished by a retry after a lost attempt; %d completed, %d cancelled %v; "+
		"placing %s, all settled and checked %s\n",
		len(placed), clients, kills["payment"], kills["inventory"], stepDelay, retried, b.completed, b.cancelled, b.reasons,
		placing.Round(time.Millisecond), time.Since(settleAt).Round(time.Millisecond))
}

// slowSteps counts the participant actions (charge, reserve) of the
// placed orders that took longer than limit from start to
// end, read from each order's saga history.
func slowSteps(ctx context.Context, t *testing.T, c *client, topo *topology.Topology, placed map[string]expect, limit time.Duration) int {
	t.Helper()
	var n int
	for id := range placed {
		var o struct {
			Saga struct {
				History []struct {
					At   time.Time `json:"at"`
					Step string    `json:"step"`
					What string    `json:"what"`
				} `json:"history"`
			} `json:"saga"`
		}
		if _, err := c.do(ctx, http.MethodGet, topo.Peers["order"][0].URL()+"/orders/"+id, nil, nil, &o); err != nil {
			t.Errorf("order %s: %v", id, err)
			continue
		}
		began := map[string]time.Time{}
		for _, h := range o.Saga.History {
			if h.Step != "charge" && h.Step != "reserve" {
				continue
			}
			switch h.What {
			case "started":
				began[h.Step] = h.At
			case "succeeded", "failed":
				if at, ok := began[h.Step]; ok && h.At.Sub(at) > limit {
					n++
				}
				delete(began, h.Step)
			}
		}
	}
	return n
}
