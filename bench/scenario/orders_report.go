package scenario

import (
	"fmt"
	"path/filepath"

	"github.com/catga-go/catga/bench/harness"
)

// Stacks the orders scenario runs on.
const (
	StackEmbedded   = "embedded"
	StackProduction = "production"
)

// OrdersSection renders the orders points on stack, writing the latency
// chart into dir; on the embedded stack it judges the goal: ≥ 500
// orders/s with p99 ≤ 50 ms.
func OrdersSection(stack string, pts []OrdersPoint, cfg OrdersConfig, peers int, dir string) (harness.Section, []harness.Goal, error) {
	t := harness.Table{Header: []string{"offered /s", "achieved /s", "sent", "final (cancelled)", "errors",
		"p50", "p95", "p99", "max", "p99 completed / cancelled", "baseline p50 / p99", "attacker behind at worst"}}
	var xs, p50, p99, mx, b99, goal []float64
	for _, p := range pts {
		t.Rows = append(t.Rows, []string{fmt.Sprint(p.Rate), fmt.Sprintf("%.0f", p.Achieved), fmt.Sprint(p.Sent),
			fmt.Sprintf("%d (%d)", p.Final, p.Cancelled), fmt.Sprintf("%d (%s)", p.Errors, pct(share(p.Errors, p.Sent))),
			fmtDur(p.Lat.P50), fmtDur(p.Lat.P95), fmtDur(p.Lat.P99), fmtDur(p.Lat.Max),
			fmtDur(p.CompletedP99) + " / " + fmtDur(p.CancelP99), fmtDur(p.Base.P50) + " / " + fmtDur(p.Base.P99), fmtDur(p.Behind)})
		xs = append(xs, float64(p.Rate))
		p50 = append(p50, harness.Ms(p.Lat.P50))
		p99 = append(p99, harness.Ms(p.Lat.P99))
		mx = append(mx, harness.Ms(p.Lat.Max))
		b99 = append(b99, harness.Ms(p.Base.P99))
		goal = append(goal, 50)
	}
	chart := "orders-latency-" + stack + ".svg"
	if err := harness.LineChart(filepath.Join(dir, chart), harness.LineSpec{
		Title: "Orders end to end: POST → final state (" + stack + " stack)", XLabel: "offered orders/s", YLabel: "latency (ms, log)", LogY: true,
		Series: []harness.Series{{Name: "p50", X: xs, Y: p50}, {Name: "p99", X: xs, Y: p99}, {Name: "max", X: xs, Y: mx},
			{Name: "baseline p99 (GET /healthz)", X: xs, Y: b99}, {Name: "goal p99 50 ms", X: xs, Y: goal, Dashed: true}},
	}); err != nil {
		return harness.Section{}, nil, err
	}
	if stack == StackProduction {
		sec := harness.Section{
			Title: "3b. Orders end to end (Redis Cluster + PostgreSQL)",
			Text: fmt.Sprintf("The same scenario (%s per rate, every %dth order compensated, latency from the intended send to the final event, "+
				"baseline `GET /healthz`) with the production stores: saga state on a local 6-node Redis Cluster and the event stores, outboxes and "+
				"inboxes on one local PostgreSQL server (durable settings: fsync and synchronous commit on), NATS embedded; %d peer(s) a service. "+
				"No goal is set for this stack; it is here to compare.", cfg.Duration, cfg.CompEvery, peers),
			Tables: []harness.Table{t},
			Charts: []harness.Chart{{Path: chart, Caption: "orders latency vs offered load, production stores"}},
		}
		return sec, nil, nil
	}
	sec := harness.Section{
		Title: "3. Orders end to end (embedded stack)",
		Text: fmt.Sprintf("The four services as processes, %d peer(s) each, on the embedded stack (`make run`'s: embedded nats-server with JetStream, "+
			"saga state in NATS KV, a SQLite event store per service), in the same process tree as the load generator on the same 2 cores. "+
			"`POST /orders` at each offered rate for %s, open loop: vegeta's attacker adds workers whenever all are busy, so requests leave on schedule "+
			"whatever the answers. Every %dth order asks for two units of a SKU stocked with one: it is charged, cannot be reserved, is refunded and "+
			"cancelled (the compensation path). An order's latency runs from its **intended** send time (the pacer's schedule, not when it actually left) "+
			"to the `order.completed`/`order.cancelled` event the order service publishes, received by a NATS subscription: a stall is charged to every "+
			"order it delays (no coordinated omission), and there is no polling. Orders with no final state within %s count as errors. "+
			"Achieved = final states per second. Baseline: `GET /healthz` on the same peers at the same rate (%s), the HTTP floor without a saga. "+
			"*Attacker behind* is how late the latest request left against its schedule (the latencies include it).",
			peers, cfg.Duration, cfg.CompEvery, cfg.Drain, cfg.BaseFor),
		Tables: []harness.Table{t},
		Charts: []harness.Chart{{Path: chart, Caption: "orders latency vs offered load"}},
	}
	var g harness.Goal
	var at *OrdersPoint
	for i := range pts {
		if pts[i].Rate == 500 {
			at = &pts[i]
		}
	}
	if at == nil {
		g = harness.Unmeasured("Orders end to end, embedded stack", "≥ 500/s with p99 ≤ 50 ms", "no run at 500/s")
	} else {
		ok := at.Achieved >= 0.98*500 && harness.Ms(at.Lat.P99) <= 50 && at.Errors == 0
		g = harness.Check("Orders end to end, embedded stack", "≥ 500/s with p99 ≤ 50 ms",
			fmt.Sprintf("offered 500/s: achieved %.0f/s, p99 %s, %d errors", at.Achieved, fmtDur(at.Lat.P99), at.Errors), ok)
	}
	return sec, []harness.Goal{g}, nil
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
