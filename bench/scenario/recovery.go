package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/catga-go/catga/bench/harness"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// RecoveryConfig bounds the recovery scenario.
type RecoveryConfig struct {
	Runs     int           // per fault; the median is reported
	Rate     int           // requests/s during a responder fault
	SlowStep time.Duration // the saga peers' slow step
	LeaseTTL time.Duration // the saga engine's (default) lease TTL, for the goal
}

// RecoveryResult is one fault's runs.
type RecoveryResult struct {
	Fault     string
	Times     []time.Duration // per run: the recovery time as the fault defines it
	Worst     []time.Duration // per run: the slowest affected request or saga
	Failed    []float64       // per run: share of requests (or sagas) that failed
	Goal      string
	GoalLimit time.Duration
}

// Median of the runs' recovery times.
func (r RecoveryResult) Median() time.Duration { return harness.MedianDuration(r.Times) }

type sample struct {
	start, end time.Time
	err        error
}

// Recovery measures responder faults (kill -9 of one of two, of two of
// four, SIGTERM of one of two) under open-loop load, and saga owner
// faults (kill -9, SIGTERM with lease handoff).
func Recovery(ctx context.Context, cfg RecoveryConfig, log io.Writer) ([]RecoveryResult, error) {
	var out []RecoveryResult
	for _, f := range []struct {
		name        string
		peers, hits int
		graceful    bool
	}{
		{"kill -9 of a responder (1 of 2)", 2, 1, false},
		{"kill -9 of half a service's peers (2 of 4)", 4, 2, false},
		{"SIGTERM of a responder (1 of 2, graceful)", 2, 1, true},
		{"NATS node of a responder killed (1 of 3 nodes)", 0, 0, false},
		{"Redis master killed under sagas (1 of 3 masters)", -1, 0, false},
	} {
		r := RecoveryResult{Fault: f.name, Goal: "≤ 50 ms", GoalLimit: 50 * time.Millisecond}
		for i := range cfg.Runs {
			var t, worst time.Duration
			var failed float64
			var err error
			switch f.peers {
			case 0:
				r.Goal, r.GoalLimit = "≤ 1 s", time.Second
				t, worst, failed, err = natsNodeFault(ctx, cfg.Rate)
			case -1:
				var nodeTimeout time.Duration
				t, worst, failed, nodeTimeout, err = redisMasterFault(ctx, cfg.Rate/2)
				r.GoalLimit = nodeTimeout + 2500*time.Millisecond
				r.Goal = fmt.Sprintf("≤ node-timeout + 2.5 s = %s", r.GoalLimit)
			default:
				t, worst, failed, err = responderFault(ctx, cfg.Rate, f.peers, f.hits, f.graceful)
			}
			if err != nil {
				return out, fmt.Errorf("%s: %w", f.name, err)
			}
			fmt.Fprintf(log, "recovery %s run %d: restored after %v, worst %v, failed %.2f%%\n", f.name, i+1, t, worst, failed*100)
			r.Times, r.Worst, r.Failed = append(r.Times, t), append(r.Worst, worst), append(r.Failed, failed)
		}
		out = append(out, r)
	}
	for _, graceful := range []bool{false, true} {
		name := "kill -9 of a saga owner (resumed by another peer)"
		if graceful {
			name = "SIGTERM of a saga owner (lease handoff)"
		}
		r := RecoveryResult{Fault: name, Goal: fmt.Sprintf("≤ lease TTL + 1 s = %s", cfg.LeaseTTL+time.Second), GoalLimit: cfg.LeaseTTL + time.Second}
		for i := range cfg.Runs {
			t, worst, failed, err := sagaOwnerFault(ctx, cfg.SlowStep, graceful, i)
			if err != nil {
				return out, fmt.Errorf("%s: %w", name, err)
			}
			fmt.Fprintf(log, "recovery %s run %d: resumed after %v (all %v), failed %.2f%%\n", name, i+1, t, worst, failed*100)
			r.Times, r.Worst, r.Failed = append(r.Times, t), append(r.Worst, worst), append(r.Failed, failed)
		}
		out = append(out, r)
	}
	return out, nil
}

// responderFault runs load at rate against peers responders, kills (or
// stops) hits of them a second in: see underFault.
func responderFault(ctx context.Context, rate, peers, hits int, graceful bool) (restored, worst time.Duration, failed float64, err error) {
	srv, err := natsembed.Start(natsembed.Config{NoJetStream: true})
	if err != nil {
		return 0, 0, 0, err
	}
	defer srv.Shutdown()
	var ps []*Proc
	for i := range peers {
		p, err := startResponder(srv.ClientURL(), fmt.Sprintf("victim-%d", i+1))
		if err != nil {
			stopAll(ps)
			return 0, 0, 0, err
		}
		ps = append(ps, p)
	}
	defer stopAll(ps)
	return underFault(ctx, rate, srv.ClientURL(), func() {
		var wg sync.WaitGroup
		for _, p := range ps[:hits] {
			wg.Go(func() {
				if graceful {
					_ = p.Stop(10 * time.Second)
				} else {
					p.Kill()
				}
			})
		}
		wg.Wait()
	})
}

// natsNodeFault runs two responders on nodes 0 and 1 of a 3-node NATS
// cluster and the client on node 2, and kills node 0 a second in: the
// responder there reconnects to another node, and the cluster drops its
// interest at once.
func natsNodeFault(ctx context.Context, rate int) (restored, worst time.Duration, failed float64, err error) {
	c, err := natsembed.StartCluster(3)
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Shutdown()
	urls := c.URLs()
	var ps []*Proc
	for i := range 2 {
		// One URL: the responder learns the others from the cluster.
		p, err := startResponder(urls[i], fmt.Sprintf("node%d-responder", i))
		if err != nil {
			stopAll(ps)
			return 0, 0, 0, err
		}
		ps = append(ps, p)
	}
	defer stopAll(ps)
	return underFault(ctx, rate, urls[2], func() { c.Kill(0) })
}

func startResponder(natsURL, name string) (*Proc, error) {
	return StartRole(RoleResponder, name, natsURL, EnvConcurrency+"=8", EnvWait+"=2ms")
}

// underFault runs load at rate for 3 s from a client on natsURL, calls
// fault a second in, and returns the time from the fault to the first
// answer to a request sent after it, the slowest request, and the share
// that failed (each request: 250 ms attempts, retried up to 8 times).
func underFault(ctx context.Context, rate int, natsURL string, fault func()) (restored, worst time.Duration, failed float64, err error) {
	cli, err := natstransport.Connect(natstransport.Config{URLs: []string{natsURL}, Name: "bench-recovery-client"})
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = cli.Close() }()
	m := mediator.New()
	if err := transport.Register(m, cli, WorkRoute, transport.WithAttemptTimeout(250*time.Millisecond), transport.WithRetry(8, 10*time.Millisecond)); err != nil {
		return 0, 0, 0, err
	}
	var mu sync.Mutex
	var samples []sample
	var at time.Time
	go func() {
		time.Sleep(time.Second)
		mu.Lock()
		at = time.Now()
		mu.Unlock()
		fault()
	}()
	res, err := harness.OpenLoop(ctx, harness.LoadConfig{Rate: rate, Duration: 3 * time.Second, Timeout: 5 * time.Second}, func(ctx context.Context, seq uint64) error {
		s := sample{start: time.Now()}
		_, s.err = mediator.Send[Work](ctx, m, Work{Seq: seq})
		s.end = time.Now()
		mu.Lock()
		samples = append(samples, s)
		mu.Unlock()
		return s.err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	if at.IsZero() {
		return 0, 0, 0, fmt.Errorf("catga: bench: the fault was never injected")
	}
	restored, ok := firstAnswerAfter(samples, at)
	if !ok {
		return 0, 0, 0, fmt.Errorf("catga: bench: no request sent after the fault was answered")
	}
	return restored, res.Latency.Max(), res.ErrorShare(), nil
}

// firstAnswerAfter is the time from at to the earliest answer to a
// request that started at or after it.
func firstAnswerAfter(samples []sample, at time.Time) (time.Duration, bool) {
	var first time.Time
	for _, s := range samples {
		if s.err == nil && !s.start.Before(at) && (first.IsZero() || s.end.Before(first)) {
			first = s.end
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return first.Sub(at), true
}

// sagaOwnerFault starts two saga peers, has the first start three sagas,
// and once their slow steps run kills (or stops) it; it returns the time
// from the fault until the other peer resumed the first and the last of
// them, and the share that never completed (within a bound).
func sagaOwnerFault(ctx context.Context, slow time.Duration, graceful bool, run int) (first, all time.Duration, failed float64, err error) {
	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		return 0, 0, 0, err
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return 0, 0, 0, err
	}
	defer nc.Close()
	events := make(chan SagaEvent, 64)
	if _, err := nc.Subscribe(SagaEventSubject, func(m *nats.Msg) {
		var e SagaEvent
		if json.Unmarshal(m.Data, &e) == nil {
			events <- e
		}
	}); err != nil {
		return 0, 0, 0, err
	}
	wait := fmt.Sprintf("%s=%s", EnvWait, slow)
	owner, err := StartRole(RoleSagaPeer, fmt.Sprintf("owner-%d", run), srv.ClientURL(), wait)
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = owner.Stop(10 * time.Second) }()
	other, err := StartRole(RoleSagaPeer, fmt.Sprintf("other-%d", run), srv.ClientURL(), wait)
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = other.Stop(10 * time.Second) }()
	const n = 3
	ids := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("saga-%d-%d", run, i)
		ids[id] = true
		r, err := nc.Request(SagaStartSubject+"."+owner.Name, []byte(id), 5*time.Second)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("catga: bench: start %s on %s: %w", id, owner.Name, err)
		}
		if string(r.Data) != "ok" {
			return 0, 0, 0, fmt.Errorf("catga: bench: start %s on %s: %s", id, owner.Name, r.Data)
		}
	}
	bound := time.After(60 * time.Second)
	started := map[string]bool{}
	for len(started) < n {
		select {
		case e := <-events:
			if e.Peer == owner.Name && e.Step == "slow" {
				started[e.Saga] = true
			}
		case <-bound:
			return 0, 0, 0, fmt.Errorf("catga: bench: the owner started %d of %d sagas", len(started), n)
		}
	}
	fault := time.Now()
	if graceful {
		go func() { _ = owner.Stop(10 * time.Second) }()
	} else {
		owner.Kill()
	}
	resumed, done := map[string]time.Time{}, map[string]bool{}
	for len(done) < n {
		select {
		case e := <-events:
			if !ids[e.Saga] || e.Peer != other.Name {
				continue
			}
			if _, ok := resumed[e.Saga]; !ok {
				resumed[e.Saga] = time.Now()
			}
			if e.Step == "done" {
				done[e.Saga] = true
			}
		case <-bound:
			return 0, 0, 0, fmt.Errorf("catga: bench: %d of %d sagas resumed, %d done within the bound", len(resumed), n, len(done))
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		}
	}
	var ts []time.Duration
	for _, at := range resumed {
		ts = append(ts, at.Sub(fault))
	}
	lo, hi := ts[0], ts[0]
	for _, t := range ts {
		lo, hi = min(lo, t), max(hi, t)
	}
	return lo, hi, float64(n-len(done)) / n, nil
}

// RecoverySection renders the recovery results with a chart in dir.
func RecoverySection(rs []RecoveryResult, cfg RecoveryConfig, dir string) (harness.Section, []harness.Goal, error) {
	t := harness.Table{Header: []string{"fault", "median recovery", "runs", "slowest affected (median)", "failed (median)", "goal"}}
	var bars []harness.Bar
	var goals []harness.Goal
	for _, r := range rs {
		var runs string
		for i, x := range r.Times {
			if i > 0 {
				runs += ", "
			}
			runs += fmtDur(x)
		}
		med := r.Median()
		t.Rows = append(t.Rows, []string{r.Fault, fmtDur(med), runs, fmtDur(harness.MedianDuration(r.Worst)), pct(harness.Median(r.Failed)), r.Goal})
		bars = append(bars, harness.Bar{Label: shortFault(r.Fault), Values: []float64{harness.Ms(med), harness.Ms(r.GoalLimit)}})
		goals = append(goals, harness.Check("Recovery: "+r.Fault, r.Goal, fmt.Sprintf("median %s over %d runs, %s failed", fmtDur(med), len(r.Times), pct(harness.Median(r.Failed))), med <= r.GoalLimit))
	}

	chart := "recovery.svg"
	if err := harness.BarChart(filepath.Join(dir, chart), harness.BarSpec{Title: "Recovery times (median of runs)", YLabel: "ms",
		Series: []string{"median", "goal"}, Bars: bars}); err != nil {
		return harness.Section{}, nil, err
	}
	sec := harness.Section{
		Title: "5. Recovery",
		Text: fmt.Sprintf("Median of %d runs per fault, each run on a fresh nats-server and fresh processes, bounded in time. "+
			"**Responders** (bench-only processes, 8 at once, 2 ms wait): one client sends open loop at %d/s for 3 s, each request with 250 ms attempts "+
			"retried up to 8 times; the fault comes 1 s in. *Recovery* = from the fault to the first answer to a request sent after it; "+
			"*slowest affected* = the slowest request of the run (one in flight at a killed peer waits out its 250 ms attempt before its retry); "+
			"*failed* = requests with no answer at all. **NATS node**: a 3-node embedded cluster (in this process), one responder connected to node 0 "+
			"and one to node 1, the client to node 2; node 0 is shut down abruptly (its clients see their connection drop, as in a crash). "+
			"**Redis master**: 3-step sagas (saga engine in this process) open loop at half that rate on a local 6-node Redis Cluster "+
			"(cluster-node-timeout 1 s); one master is SIGKILLed 1 s in; *recovery* = from the kill to the first completed saga that started after it "+
			"and whose record lives on the killed master's slots; *failed* = sagas whose `Run` returned an error (the engine's recovery may finish them later). "+
			"**Saga owners**: two saga-engine processes on NATS KV with the platform's default lease "+
			"(TTL %s, recovery every second); the owner starts 3 sagas whose first step takes %s, and once those steps run it is killed (or sent "+
			"SIGTERM, whose Close hands the leases on). *Recovery* = from the fault until the other peer resumed the first saga; *slowest affected* = "+
			"until it resumed the last; *failed* = sagas that did not complete.",
			cfg.Runs, cfg.Rate, cfg.LeaseTTL, cfg.SlowStep),
		Tables: []harness.Table{t},
		Charts: []harness.Chart{{Path: chart, Caption: "recovery times"}},
	}
	return sec, goals, nil
}

func shortFault(s string) string {
	switch {
	case len(s) > 28:
		return s[:28] + "…"
	default:
		return s
	}
}
