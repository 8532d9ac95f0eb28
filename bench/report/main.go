// Command report is `make bench-report`: it runs the benchmark scenarios
// (package scenario), each bounded in time and each figure next to a
// baseline from the same run, and writes bench/results/report.md with its
// SVG charts, then puts the report's summary table into the README between
// its bench-summary markers. Its last line is machine-readable:
//
//	goals_met=… goals_missed=… mediator_send_ns=… transport_p99_ratio=… orders_500_p99_ms=… scaling_efficiency_3=… responder_failover_ms=…
//
// -quick shortens every run (for the smoke test); -only runs some
// scenarios. Run as BENCH_ROLE=<role>, the binary is one of the bench-only
// processes the scaling and recovery scenarios start (see scenario.Role).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/catga-go/catga/bench/harness"
	"github.com/catga-go/catga/bench/sagabench"
	"github.com/catga-go/catga/bench/scenario"
	"github.com/catga-go/catga/bench/transportbench"
)

var allScenarios = []string{"mediator", "transport", "saga", "orders", "orders-prod", "scaling", "recovery"}

func main() {
	if role := os.Getenv(scenario.EnvRole); role != "" {
		if err := scenario.RunRole(role); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("out", "results", "directory for the report and its charts")
	readme := flag.String("readme", "../README.md", "README whose bench-summary section gets the summary table (empty: none)")
	quick := flag.Bool("quick", false, "short runs (a smoke test, not figures to publish)")
	only := flag.String("only", strings.Join(allScenarios, ","), "comma-separated scenarios to run")
	timeout := flag.Duration("timeout", 14*time.Minute, "bound of the whole run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, *out, *readme, *quick, strings.Split(*only, ",")); err != nil {
		fmt.Fprintf(os.Stderr, "bench-report: %v\n", err)
		os.Exit(1)
	}
}

// figures are the last line's values.
type figures struct {
	sendNs, transportP99, orders500P99, eff3, failoverMs float64
}

func run(ctx context.Context, out, readme string, quick bool, only []string) error {
	for _, s := range only {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	logw := io.Writer(os.Stderr)
	rep := &harness.Report{Title: "Catga-Go benchmark report", Machine: harness.Describe(), Started: time.Now()}
	if n := rep.Machine.Load1(); n > float64(rep.Machine.Cores) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("**Shared machine:** the 1-minute load average was %.1f on %d cores when this run began: "+
			"other work competed for the CPUs throughout. Tail latencies (p99, max) and absolute rates are inflated or deflated by it; "+
			"the ratios to a baseline measured in the same slices (mediator, transport) much less so. The load at the start of each scenario "+
			"is in `make bench-report`'s output.", n, rep.Machine.Cores))
	}
	if quick {
		rep.Notes = append(rep.Notes, "**Quick run (`-quick`): durations cut short; these figures are a smoke test, not to be published.**")
	}
	var fig figures
	add := func(sec harness.Section, goals []harness.Goal) {
		rep.Sections = append(rep.Sections, sec)
		rep.Goals = append(rep.Goals, goals...)
	}
	want := func(s string) bool { return slices.Contains(only, s) }
	step := func(name string) { fmt.Fprintf(logw, "== %s (load %s)\n", name, harness.LoadAvg()) }

	if want("mediator") {
		step("mediator")
		runs := 5
		if quick {
			runs = 1
		}
		sec, goals, cases, err := scenario.Mediator(runs)
		if err != nil {
			return fmt.Errorf("mediator: %w", err)
		}
		add(sec, goals)
		fig.sendNs = cases[1].NsPerOp
	}
	if want("transport") {
		step("transport")
		cfg := transportbench.Config{}
		if quick {
			cfg = transportbench.Config{Duration: 200 * time.Millisecond, Slices: 2, Concurrency: 8}
		}
		sec, goals, r, err := scenario.Transport(cfg, logw)
		if err != nil {
			return fmt.Errorf("transport: %w", err)
		}
		add(sec, goals)
		fig.transportP99 = r.P99Ratio
	}
	if want("saga") {
		step("saga")
		cfg := sagabench.Config{Duration: 4 * time.Second, Workers: 64}
		if quick {
			cfg = sagabench.Config{Duration: 300 * time.Millisecond, Workers: 8}
		}
		sec, goals, _, err := scenario.Saga(cfg, logw)
		if err != nil {
			return fmt.Errorf("saga: %w", err)
		}
		add(sec, goals)
	}
	var bins map[string]string
	if want("orders") || want("orders-prod") {
		step("build services")
		root, err := scenario.RepoRoot()
		if err != nil {
			return err
		}
		bindir, err := os.MkdirTemp("", "catga-bench-bin-*")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(bindir) }()
		if bins, err = scenario.BuildServices(ctx, root, bindir, "order", "payment", "inventory", "notification"); err != nil {
			return err
		}
	}
	if want("orders") {
		step("orders")
		cfg := scenario.OrdersConfig{Rates: []int{50, 100, 250, 500, 1000}, Duration: 6 * time.Second, Drain: 12 * time.Second, BaseFor: 3 * time.Second, CompEvery: 10}
		if quick {
			cfg = scenario.OrdersConfig{Rates: []int{50, 500}, Duration: time.Second, Drain: 10 * time.Second, BaseFor: 500 * time.Millisecond, CompEvery: 10}
		}
		pts, err := scenario.Orders(ctx, platforms(bins, 1, nil), cfg, logw)
		if err != nil {
			return fmt.Errorf("orders: %w", err)
		}
		sec, goals, err := scenario.OrdersSection(scenario.StackEmbedded, pts, cfg, 1, out)
		if err != nil {
			return err
		}
		add(sec, goals)
		for _, p := range pts {
			if p.Rate == 500 {
				fig.orders500P99 = harness.Ms(p.Lat.P99)
			}
		}
	}
	if want("orders-prod") {
		step("orders on Redis Cluster + PostgreSQL")
		cfg := scenario.OrdersConfig{Rates: []int{100, 250}, Duration: 6 * time.Second, Drain: 12 * time.Second, BaseFor: 2 * time.Second, CompEvery: 10}
		if quick {
			cfg = scenario.OrdersConfig{Rates: []int{50, 100}, Duration: time.Second, Drain: 10 * time.Second, BaseFor: 500 * time.Millisecond, CompEvery: 10}
		}
		stores, err := scenario.ProductionStores(ctx)
		if err != nil {
			return fmt.Errorf("orders-prod: %w", err)
		}
		pts, err := scenario.Orders(ctx, platforms(bins, 1, func() ([]string, error) { return stores.Fresh(ctx) }), cfg, logw)
		stores.Close()
		if err != nil {
			return fmt.Errorf("orders-prod: %w", err)
		}
		sec, goals, err := scenario.OrdersSection(scenario.StackProduction, pts, cfg, 1, out)
		if err != nil {
			return err
		}
		add(sec, goals)
	}
	if want("scaling") {
		step("scaling")
		cfg := scenario.ScalingConfig{Peers: []int{1, 2, 3}, Concurrency: 8, Wait: 10 * time.Millisecond, Duration: 4 * time.Second,
			Loads: []int{200, 500, 800, 1200, 1800}, CurvePeers: []int{1, 3}}
		if quick {
			cfg = scenario.ScalingConfig{Peers: []int{1, 3}, Concurrency: 4, Wait: 10 * time.Millisecond, Duration: 500 * time.Millisecond, Loads: []int{100, 500}, CurvePeers: []int{1, 3}}
		}
		capacity, curves, err := scenario.Scaling(ctx, cfg, logw)
		if err != nil {
			return fmt.Errorf("scaling: %w", err)
		}
		sec, goals, eff3, err := scenario.ScalingSection(capacity, curves, cfg, out)
		if err != nil {
			return err
		}
		add(sec, goals)
		fig.eff3 = eff3
	}
	if want("recovery") {
		step("recovery")
		cfg := scenario.RecoveryConfig{Runs: 3, Rate: 200, SlowStep: 2 * time.Second, LeaseTTL: 5 * time.Second}
		if quick {
			cfg.Runs = 1
		}
		rs, err := scenario.Recovery(ctx, cfg, logw)
		if err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
		sec, goals, err := scenario.RecoverySection(rs, cfg, out)
		if err != nil {
			return err
		}
		add(sec, goals)
		fig.failoverMs = harness.Ms(rs[0].Median())
	}
	rep.Took, rep.LoadEnd = time.Since(rep.Started), harness.LoadAvg()
	if err := write(rep, out, readme); err != nil {
		return err
	}
	met, missed := 0, 0
	for _, g := range rep.Goals {
		switch g.Status {
		case harness.Met:
			met++
		case harness.Missed:
			missed++
		}
	}
	fmt.Printf("goals_met=%d goals_missed=%d mediator_send_ns=%.2f transport_p99_ratio=%.3f orders_500_p99_ms=%.2f scaling_efficiency_3=%.3f responder_failover_ms=%.2f\n",
		met, missed, fig.sendNs, fig.transportP99, fig.orders500P99, fig.eff3, fig.failoverMs)
	return nil
}

// platforms starts a platform of peers peers a service in a fresh data
// directory (removed when the platform closes), with the environment env
// returns (nil: none).
func platforms(bins map[string]string, peers int, env func() ([]string, error)) func() (*scenario.Platform, error) {
	return func() (*scenario.Platform, error) {
		n := map[string]int{}
		for s := range bins {
			n[s] = peers
		}
		var e []string
		if env != nil {
			var err error
			if e, err = env(); err != nil {
				return nil, err
			}
		}
		return scenario.StartPlatform(bins, n, "", e...)
	}
}

// write writes the report and puts its summary into the README.
func write(rep *harness.Report, out, readme string) error {
	f, err := os.Create(filepath.Join(out, "report.md"))
	if err != nil {
		return err
	}
	if err := rep.Markdown(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if readme == "" {
		return nil
	}
	return harness.UpdateReadme(readme, rep)
}
