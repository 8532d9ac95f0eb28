package scenario

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/catga-go/catga/bench/harness"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// ScalingConfig: responders with a fixed per-handler concurrency limit and
// a simulated I/O wait, so one peer's capacity is Concurrency/Wait and
// peers, not the CPUs, are the limit.
type ScalingConfig struct {
	Peers       []int         // e.g. 1, 2, 3
	Concurrency int           // per peer
	Wait        time.Duration // per request
	Duration    time.Duration // of each run
	Loads       []int         // offered loads (req/s) for the p99 curves
	CurvePeers  []int         // peer counts the p99 curves are measured for (e.g. 1 and 3)
}

// ScalingPoint is one peer count at one load (Load 0: the capacity run).
type ScalingPoint struct {
	Peers, Load int
	Achieved    float64
	Lat         harness.Summary
	ErrorShare  float64
}

// Scaling measures, for each peer count, capacity (a closed loop of
// 2 × peers × concurrency callers: enough to keep every handler slot busy,
// and no queue beyond that, so the answer is what the peers sustain) and,
// for CurvePeers, latency at fixed offered loads, open loop. Every point
// runs on fresh responder processes, so one run's backlog cannot weigh on
// the next.
func Scaling(ctx context.Context, cfg ScalingConfig, log io.Writer) (capacity, curves []ScalingPoint, err error) {
	srv, err := natsembed.Start(natsembed.Config{NoJetStream: true})
	if err != nil {
		return nil, nil, err
	}
	defer srv.Shutdown()
	cli, err := natstransport.Connect(natstransport.Config{URLs: []string{srv.ClientURL()}, Name: "bench-scaling-client"})
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = cli.Close() }()
	m := mediator.New()
	if err := transport.Register(m, cli, WorkRoute); err != nil {
		return nil, nil, err
	}
	op := func(ctx context.Context, seq uint64) error {
		_, err := mediator.Send[Work](ctx, m, Work{Seq: seq})
		return err
	}
	point := func(n, load int) (ScalingPoint, error) {
		ps, err := startResponders(n, srv.ClientURL(), cfg.Concurrency, cfg.Wait, fmt.Sprintf("responder-x%d-%d", n, load))
		if err != nil {
			return ScalingPoint{}, err
		}
		defer killAll(ps)
		pt := ScalingPoint{Peers: n, Load: load}
		if load == 0 {
			r, err := harness.ClosedLoop(ctx, 2*n*cfg.Concurrency, cfg.Duration, 5*time.Second, op)
			if err != nil {
				return pt, err
			}
			pt.Achieved, pt.Lat, pt.ErrorShare = r.Achieved, r.Latency.Summary(), r.ErrorShare()
		} else {
			r, err := harness.OpenLoop(ctx, harness.LoadConfig{Rate: load, Duration: cfg.Duration, Timeout: 5 * time.Second, MaxInFlight: 20000}, op)
			if err != nil {
				return pt, err
			}
			pt.Achieved, pt.Lat, pt.ErrorShare = r.Achieved, r.Latency.Summary(), r.ErrorShare()
		}
		what := fmt.Sprintf("offered %d/s", load)
		if load == 0 {
			what = fmt.Sprintf("capacity (%d callers)", 2*n*cfg.Concurrency)
		}
		fmt.Fprintf(log, "scaling %d peer(s) %s: achieved %.0f/s p50 %v p99 %v errors %.1f%%\n", n, what, pt.Achieved, pt.Lat.P50, pt.Lat.P99, pt.ErrorShare*100)
		return pt, nil
	}
	for _, n := range cfg.Peers {
		pt, err := point(n, 0)
		if err != nil {
			return capacity, curves, err
		}
		capacity = append(capacity, pt)
	}
	for _, n := range cfg.CurvePeers {
		for _, load := range cfg.Loads {
			pt, err := point(n, load)
			if err != nil {
				return capacity, curves, err
			}
			curves = append(curves, pt)
		}
	}
	return capacity, curves, nil
}

// ScalingSection renders the scaling figures, writing two charts into dir.
func ScalingSection(capacity, curves []ScalingPoint, cfg ScalingConfig, dir string) (harness.Section, []harness.Goal, float64, error) {
	perPeer := float64(cfg.Concurrency) / cfg.Wait.Seconds()
	var t1 float64
	ct := harness.Table{Header: []string{"peers", "theoretical capacity /s", "achieved /s", "efficiency", "p99 at saturation"}}
	var xs, eff, ideal []float64
	var eff3 float64
	for _, c := range capacity {
		if c.Peers == 1 {
			t1 = c.Achieved
		}
	}
	for _, c := range capacity {
		e := harness.Efficiency(c.Achieved, t1, c.Peers)
		if c.Peers == 3 {
			eff3 = e
		}
		ct.Rows = append(ct.Rows, []string{fmt.Sprint(c.Peers), fmt.Sprintf("%.0f", perPeer*float64(c.Peers)), fmt.Sprintf("%.0f", c.Achieved), pct(e), fmtDur(c.Lat.P99)})
		xs, eff, ideal = append(xs, float64(c.Peers)), append(eff, e*100), append(ideal, 100)
	}
	lt := harness.Table{Header: []string{"offered /s", "peers", "achieved /s", "p50", "p99", "max", "errors"}}
	series := map[int]*harness.Series{}
	var order []int
	for _, c := range curves {
		lt.Rows = append(lt.Rows, []string{fmt.Sprint(c.Load), fmt.Sprint(c.Peers), fmt.Sprintf("%.0f", c.Achieved), fmtDur(c.Lat.P50), fmtDur(c.Lat.P99), fmtDur(c.Lat.Max), pct(c.ErrorShare)})
		s := series[c.Peers]
		if s == nil {
			s = &harness.Series{Name: fmt.Sprintf("p99, %d peer(s)", c.Peers)}
			series[c.Peers] = s
			order = append(order, c.Peers)
		}
		s.X, s.Y = append(s.X, float64(c.Load)), append(s.Y, harness.Ms(c.Lat.P99))
	}
	effChart, p99Chart := "scaling-efficiency.svg", "scaling-p99.svg"
	if err := harness.LineChart(filepath.Join(dir, effChart), harness.LineSpec{Title: "Scaling efficiency: throughput(n) / (n × throughput(1))", XLabel: "peers", YLabel: "efficiency (%)",
		Series: []harness.Series{{Name: "measured", X: xs, Y: eff}, {Name: "ideal", X: xs, Y: ideal, Dashed: true}}}); err != nil {
		return harness.Section{}, nil, 0, err
	}
	var ss []harness.Series
	for _, n := range order {
		ss = append(ss, *series[n])
	}
	if err := harness.LineChart(filepath.Join(dir, p99Chart), harness.LineSpec{Title: "p99 at fixed offered loads", XLabel: "offered requests/s", YLabel: "p99 (ms, log)", LogY: true, Series: ss}); err != nil {
		return harness.Section{}, nil, 0, err
	}
	sec := harness.Section{
		Title: "4. Scaling",
		Text: fmt.Sprintf("Bench-only responder processes (this program run as `BENCH_ROLE=responder`) serve one route over NATS with a fixed per-handler "+
			"concurrency limit of %d (`transport.WithConcurrency`) and a simulated I/O wait of %s, so one peer can answer at most %.0f requests/s and peers, "+
			"not the 2 CPUs, are the limit; every point runs on fresh responder processes for %s. Capacity: a closed loop of 2 × peers × limit callers "+
			"(every handler slot kept busy, no queue beyond; a closed loop is right for throughput, not for latency). Efficiency = throughput(n) / "+
			"(n × throughput(1)); the baseline is the one-peer run of the same processes, with the theoretical capacity beside it. Then p99 at fixed "+
			"offered loads, open loop (latency from each request's intended start), to show whether more peers keep it flat as load grows.",
			cfg.Concurrency, cfg.Wait, perPeer, cfg.Duration),
		Tables: []harness.Table{ct, lt},
		Charts: []harness.Chart{{Path: effChart, Caption: "scaling efficiency"}, {Path: p99Chart, Caption: "p99 vs offered load"}},
	}
	g := harness.Check("Scaling efficiency at 3 peers", "≥ 90%", pct(eff3), eff3 >= 0.9)
	return sec, []harness.Goal{g}, eff3, nil
}
