package topology_test

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// placement is one order of a scenario's plan.
type placement struct {
	customer string
	items    []item
	want     expect
}

// mixedPlan is happy paid-and-in-stock orders of rich, declined orders of
// poor (an empty account) and orders of rich competing for scarce (less
// stock than ordered), shuffled.
func mixedPlan(happy, declined, scarceOrders int) []placement {
	var plan []placement
	for range happy {
		plan = append(plan, placement{"rich", []item{{"widget", 2, 250}}, expect{state: "COMPLETED"}})
	}
	for range declined {
		plan = append(plan, placement{"poor", []item{{"widget", 1, 250}}, expect{"CANCELLED", "insufficient_funds"}})
	}
	for range scarceOrders {
		plan = append(plan, placement{"rich", []item{{"scarce", 1, 1000}}, expect{}})
	}
	rand.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	return plan
}

// placeOrders places plan from clients concurrent clients, each pausing
// pace between its orders, each order on a random order peer. A request that fails (a dead peer, a refused
// connection) is retried with the same Idempotency-Key on another peer, up
// to attempts times, 200 ms apart. It returns the orders placed, with what
// each must end as, and the requests that never succeeded.
//
// Like a traced client, every attempt of one order carries a W3C
// traceparent of one trace of its own (a new span id per attempt), so that
// a retry on another peer joins the order's trace instead of starting one;
// c records it with the peer that answered (see checkTraces).
func placeOrders(ctx context.Context, c *client, peers []*topology.Peer, run string, plan []placement, clients, attempts int, pace time.Duration) (map[string]expect, []error) {
	var (
		mu     sync.Mutex
		placed = map[string]expect{}
		failed []error
		work   = make(chan int)
		wg     sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			for i := range work {
				p := plan[i]
				traceID := randomHex(16)
				var (
					o      order
					err    error
					peer   *topology.Peer
					answer time.Time
				)
				for attempt := range attempts {
					if attempt > 0 {
						time.Sleep(200 * time.Millisecond)
					}
					peer = peers[rand.IntN(len(peers))]
					header := http.Header{
						"Idempotency-Key": {run + "-" + strconv.Itoa(i)},
						"Traceparent":     {"00-" + traceID + "-" + randomHex(8) + "-01"},
					}
					if _, err = c.do(ctx, http.MethodPost, peer.URL()+"/orders", header,
						map[string]any{"customer": p.customer, "items": p.items}, &o); err == nil {
						answer = time.Now()
						break
					}
				}
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					placed[o.ID] = p.want
					c.recordPlacement(o.ID, placedOrder{trace: traceID, peer: peer, at: answer})
				}
				mu.Unlock()
				time.Sleep(pace)
			}
		})
	}
	for i := range plan {
		work <- i
	}
	close(work)
	wg.Wait()
	return placed, failed
}

// openBooks creates the accounts and stock mixedPlan orders from.
func openBooks(ctx context.Context, c *client, topo *topology.Topology, balances, stocked map[string]int64) error {
	payment, inventory := topo.Peers["payment"][0].URL(), topo.Peers["inventory"][0].URL()
	for id, balance := range balances {
		if _, err := c.do(ctx, http.MethodPost, payment+"/accounts", nil, map[string]any{"id": id, "balance": balance}, nil); err != nil {
			return err
		}
	}
	for sku, q := range stocked {
		if _, err := c.do(ctx, http.MethodPost, inventory+"/stock/"+sku, nil, map[string]any{"quantity": q}, nil); err != nil {
			return err
		}
	}
	return nil
}

// randomHex is n random bytes in hex (a W3C trace id: 16, span id: 8).
func randomHex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	return hex.EncodeToString(b)
}
