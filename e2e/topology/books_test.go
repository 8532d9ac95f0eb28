package topology_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/catga-go/catga/e2e/topology"
)

// books is what checkBooks found.
type books struct {
	completed, cancelled int
	reasons              map[string]int
	completedBySKU       map[string]int64 // quantity held by completed orders
	final                map[string]order // every finished order, by id
}

// checkBooks waits (up to settle) until every placed order is COMPLETED or
// CANCELLED, then checks the invariants through the services' own HTTP
// APIs, on peers chosen at random:
//   - each order ends as expected (state and reason, where known);
//   - per customer: money charged − refunded = value of its completed
//     orders = opening balance − balance, at most one charge per order, and
//     a cancelled order's charge (if any) refunded;
//   - per SKU: nothing negative, and reserved = the quantity of completed
//     orders (a cancelled order holds no reservation);
//   - exactly one notification per finished order.
func checkBooks(ctx context.Context, t *testing.T, c *client, topo *topology.Topology,
	placed map[string]expect, balances, stocked map[string]int64, settle time.Duration,
) books {
	t.Helper()
	peer := func(service string) string {
		ps := topo.Peers[service]
		return ps[time.Now().UnixNano()%int64(len(ps))].URL()
	}
	b := books{reasons: map[string]int{}, completedBySKU: map[string]int64{}}

	// Every order reaches an end state.
	final := map[string]order{}
	deadline := time.Now().Add(settle)
	for id := range placed {
		for {
			var o order
			_, err := c.do(ctx, http.MethodGet, peer("order")+"/orders/"+id, nil, nil, &o)
			if err == nil && (o.State == "COMPLETED" || o.State == "CANCELLED") {
				final[id] = o
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("order %s: not finished within %s (state %q, err %v)", id, settle, o.State, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	completedValue := map[string]int64{}
	for id, o := range final {
		want := placed[id]
		if want.state != "" && o.State != want.state {
			t.Errorf("order %s: %s (%s), want %s", id, o.State, o.Reason, want.state)
		}
		if want.reason != "" && o.Reason != want.reason {
			t.Errorf("order %s: reason %q, want %q", id, o.Reason, want.reason)
		}
		switch o.State {
		case "COMPLETED":
			b.completed++
			completedValue[o.Customer] += o.Total
			for _, it := range o.Items {
				b.completedBySKU[it.SKU] += it.Quantity
			}
		case "CANCELLED":
			b.cancelled++
			b.reasons[o.Reason]++
		}
	}

	// Money.
	for customer, opening := range balances {
		var a account
		if _, err := c.do(ctx, http.MethodGet, peer("payment")+"/accounts/"+customer, nil, nil, &a); err != nil {
			t.Errorf("account %s: %v", customer, err)
			continue
		}
		var net int64
		for id, ch := range a.Charges {
			o, ok := final[id]
			switch {
			case !ok:
				t.Errorf("account %s: charge for an order the test did not place or that never finished: %s", customer, id)
			case o.State == "CANCELLED" && !ch.Refunded:
				t.Errorf("account %s: cancelled order %s keeps its charge of %d", customer, id, ch.Amount)
			case o.State == "COMPLETED" && (ch.Refunded || ch.Amount != o.Total):
				t.Errorf("account %s: completed order %s charged %d refunded=%v, want %d kept", customer, id, ch.Amount, ch.Refunded, o.Total)
			}
			if !ch.Refunded {
				net += ch.Amount
			}
		}
		if net != completedValue[customer] || opening-a.Balance != completedValue[customer] {
			t.Errorf("account %s: charged − refunded = %d, opening − balance = %d, completed orders' value = %d",
				customer, net, opening-a.Balance, completedValue[customer])
		}
	}

	// Stock.
	for sku, onHand := range stocked {
		var s stock
		if _, err := c.do(ctx, http.MethodGet, peer("inventory")+"/stock/"+sku, nil, nil, &s); err != nil {
			t.Errorf("stock %s: %v", sku, err)
			continue
		}
		if s.OnHand != onHand || s.Reserved != b.completedBySKU[sku] || s.Available < 0 || s.Available != s.OnHand-s.Reserved {
			t.Errorf("stock %s: %+v, want on hand %d and reserved %d (completed orders), nothing negative",
				sku, s, onHand, b.completedBySKU[sku])
		}
	}

	// Notifications: at least one arrives (asynchronously); then exactly one.
	ids := make([]string, 0, len(final))
	for id := range final {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for {
			var n notifications
			_, err := c.do(ctx, http.MethodGet, peer("notification")+"/notifications?order="+url.QueryEscape(id), nil, nil, &n)
			if err == nil && len(n.Notifications) == 1 {
				break
			}
			if err == nil && len(n.Notifications) > 1 {
				t.Errorf("order %s: %d notifications, want 1", id, len(n.Notifications))
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("order %s: no notification within %s (err %v)", id, settle, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	b.final = final
	if t.Failed() {
		t.Logf("books: %d completed, %d cancelled %v", b.completed, b.cancelled, b.reasons)
	}
	return b
}
