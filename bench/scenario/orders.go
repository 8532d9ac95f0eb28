package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/catga-go/catga/bench/harness"
)

// OrdersConfig is the end-to-end orders scenario.
type OrdersConfig struct {
	Rates     []int         // offered orders per second, one run each
	Duration  time.Duration // of each run's load
	Drain     time.Duration // how long after a run its orders may take to reach their final state
	BaseFor   time.Duration // of each rate's baseline run (GET /healthz at the same rate)
	CompEvery int           // every CompEvery-th order takes the compensation path (10: 10%)
}

// OrdersPoint is one offered rate's figures.
type OrdersPoint struct {
	Rate                    int
	Sent, Placed, Final     int
	Completed, Cancelled    int
	Errors                  int // POST failed, or no final state within the drain
	Achieved                float64
	Lat, Base               harness.Summary
	BaseErrors              int
	Behind                  time.Duration // how far the attacker fell behind its schedule at worst
	CompletedP99, CancelP99 time.Duration
}

const (
	ordersCustomers = 16
	ordersSKUs      = 16
	rareSKU         = "rare" // stocked with 1: an order of 2 is charged, then refunded
)

// Orders drives POST /orders on the order peers at each rate, open loop
// (vegeta's attacker, workers added as needed so requests leave on
// schedule), and times each order from its intended send time to the
// order.completed or order.cancelled event the order service publishes:
// the platform's answer to the customer, through payment and inventory
// (and the refund, for the ~10% that cannot be stocked). Each rate runs on
// a fresh platform from start, so that one rate's backlog does not weigh
// on the next.
func Orders(ctx context.Context, start func() (*Platform, error), cfg OrdersConfig, log io.Writer) ([]OrdersPoint, error) {
	var out []OrdersPoint
	for _, rate := range cfg.Rates {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		p, err := start()
		if err != nil {
			return out, err
		}
		pt, err := ordersOn(ctx, p, cfg, rate)
		if cerr := p.Close(); err == nil && cerr != nil {
			fmt.Fprintf(log, "orders %d/s: stopping the platform: %v\n", rate, cerr)
		}
		if err != nil {
			return out, err
		}
		fmt.Fprintf(log, "orders %4d/s: placed %d/%d final %d (cancelled %d) errors %d achieved %.0f/s p50 %v p99 %v max %v; baseline p99 %v\n",
			rate, pt.Placed, pt.Sent, pt.Final, pt.Cancelled, pt.Errors, pt.Achieved, pt.Lat.P50, pt.Lat.P99, pt.Lat.Max, pt.Base.P99)
		out = append(out, pt)
	}
	return out, nil
}

// ordersOn seeds p, listens for the orders' final events and runs rate.
func ordersOn(ctx context.Context, p *Platform, cfg OrdersConfig, rate int) (OrdersPoint, error) {
	if err := seed(ctx, p); err != nil {
		return OrdersPoint{}, err
	}
	nc, err := nats.Connect(p.NATS.ClientURL())
	if err != nil {
		return OrdersPoint{}, err
	}
	defer nc.Close()
	var finals sync.Map // order id → final
	for _, kind := range []string{"completed", "cancelled"} {
		if _, err := nc.Subscribe("catga.evt.order."+kind, func(m *nats.Msg) {
			at := time.Now()
			var e struct {
				OrderID string `json:"order_id"`
			}
			if json.Unmarshal(m.Data, &e) == nil && e.OrderID != "" {
				finals.LoadOrStore(e.OrderID, final{at: at, kind: kind})
			}
		}); err != nil {
			return OrdersPoint{}, err
		}
	}
	if err := nc.Flush(); err != nil {
		return OrdersPoint{}, err
	}
	if err := warmUp(ctx, p, &finals); err != nil {
		return OrdersPoint{}, err
	}
	return ordersAt(ctx, p, cfg, rate, &finals)
}

// warmUp places a few orders one by one and waits for their final states:
// connections, buckets, consumers and SQLite pages are warm before the
// measured run, which then times the platform, not its start-up.
func warmUp(ctx context.Context, p *Platform, finals *sync.Map) error {
	c := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for i := range 10 {
		body := fmt.Sprintf(`{"customer":"c-%d","items":[{"sku":"sku-%d","quantity":1,"unit_price":150}]}`, i%ordersCustomers, i%ordersSKUs)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Peers["order"][0].URL+"/orders", bytes.NewBufferString(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("catga: bench: warm-up order: %w", err)
		}
		var placed struct {
			ID string `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&placed)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("catga: bench: warm-up order: %s", resp.Status)
		}
		if err != nil {
			return fmt.Errorf("catga: bench: warm-up order: %w", err)
		}
		for {
			if _, ok := finals.Load(placed.ID); ok {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("catga: bench: warm-up order %s reached no final state within 60s", placed.ID)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

type final struct {
	at   time.Time
	kind string
}

func ordersAt(ctx context.Context, p *Platform, cfg OrdersConfig, rate int, finals *sync.Map) (OrdersPoint, error) {
	urls := make([]string, 0, len(p.Peers["order"]))
	for _, pr := range p.Peers["order"] {
		urls = append(urls, pr.URL)
	}
	pt := OrdersPoint{Rate: rate}
	var n atomic.Uint64
	hdr := http.Header{"Content-Type": {"application/json"}}
	tr := func(t *vegeta.Target) error {
		i := n.Add(1) - 1
		sku, qty := fmt.Sprintf("sku-%d", i%ordersSKUs), 1
		if cfg.CompEvery > 0 && i%uint64(cfg.CompEvery) == uint64(cfg.CompEvery-1) {
			sku, qty = rareSKU, 2
		}
		t.Method, t.URL, t.Header = http.MethodPost, urls[i%uint64(len(urls))]+"/orders", hdr
		t.Body = fmt.Appendf(nil, `{"customer":"c-%d","items":[{"sku":%q,"quantity":%d,"unit_price":150}]}`, i%ordersCustomers, sku, qty)
		return nil
	}
	type placed struct {
		id  string
		due time.Time
	}
	var all []placed
	began, results := attack(tr, rate, cfg.Duration, "orders")
	var worst time.Duration
	for r := range results {
		pt.Sent++
		due := harness.Intended(began, r.Seq, rate)
		worst = max(worst, r.Timestamp.Sub(due))
		var body struct {
			ID string `json:"id"`
		}
		if r.Code != http.StatusCreated || json.Unmarshal(r.Body, &body) != nil || body.ID == "" {
			pt.Errors++
			continue
		}
		pt.Placed++
		all = append(all, placed{id: body.ID, due: due})
	}
	pt.Behind = worst
	// Wait (bounded) for every placed order's final state.
	deadline := time.Now().Add(cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done := 0
		for _, o := range all {
			if _, ok := finals.Load(o.id); ok {
				done++
			}
		}
		if done == len(all) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	h, hc, hx := harness.NewHist(), harness.NewHist(), harness.NewHist()
	var last time.Time
	for _, o := range all {
		v, ok := finals.Load(o.id)
		if !ok {
			pt.Errors++
			continue
		}
		f := v.(final)
		pt.Final++
		h.Record(f.at.Sub(o.due))
		if f.kind == "cancelled" {
			pt.Cancelled++
			hx.Record(f.at.Sub(o.due))
		} else {
			pt.Completed++
			hc.Record(f.at.Sub(o.due))
		}
		if f.at.After(last) {
			last = f.at
		}
	}
	pt.Lat, pt.CompletedP99, pt.CancelP99 = h.Summary(), hc.Quantile(.99), hx.Quantile(.99)
	if pt.Final > 0 {
		pt.Achieved = float64(pt.Final) / max(last.Sub(began), cfg.Duration).Seconds()
	}
	// Baseline: the same HTTP path and rate to GET /healthz (no saga).
	if cfg.BaseFor > 0 {
		var m atomic.Uint64
		base := func(t *vegeta.Target) error {
			t.Method, t.URL = http.MethodGet, urls[(m.Add(1)-1)%uint64(len(urls))]+"/healthz"
			return nil
		}
		bb, br := attack(base, rate, cfg.BaseFor, "healthz")
		bh := harness.NewHist()
		for r := range br {
			if r.Code != http.StatusOK {
				pt.BaseErrors++
				continue
			}
			bh.Record(r.Timestamp.Add(r.Latency).Sub(harness.Intended(bb, r.Seq, rate)))
		}
		pt.Base = bh.Summary()
	}
	return pt, nil
}

// attack runs vegeta's attacker at rate for d: workers are added whenever
// all are busy (up to 10,000, a bound no run here nears), so requests leave
// on schedule and a slow answer delays no other request.
func attack(tr vegeta.Targeter, rate int, d time.Duration, name string) (time.Time, <-chan *vegeta.Result) {
	atk := vegeta.NewAttacker(vegeta.Timeout(10*time.Second), vegeta.Workers(16), vegeta.MaxWorkers(10000),
		vegeta.KeepAlive(true), vegeta.Connections(10000), vegeta.MaxBody(64<<10), vegeta.Redirects(vegeta.NoFollow))
	began := time.Now()
	return began, atk.Attack(tr, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, name)
}

// seed opens the customers' accounts and stocks the SKUs: enough for
// every order of the run, and one unit of rareSKU, which an order of two
// cannot get (so it is charged, then refunded).
func seed(ctx context.Context, p *Platform) error {
	c := &http.Client{Timeout: 10 * time.Second}
	post := func(url, body string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("catga: bench: seed POST %s: %s %s", url, resp.Status, b)
		}
		return nil
	}
	pay, inv := p.Peers["payment"][0].URL, p.Peers["inventory"][0].URL
	for i := range ordersCustomers {
		if err := post(pay+"/accounts", fmt.Sprintf(`{"id":"c-%d","balance":100000000000}`, i)); err != nil {
			return err
		}
	}
	for i := range ordersSKUs {
		if err := post(fmt.Sprintf("%s/stock/sku-%d", inv, i), `{"quantity":1000000000}`); err != nil {
			return err
		}
	}
	return post(inv+"/stock/"+rareSKU, `{"quantity":1}`)
}
