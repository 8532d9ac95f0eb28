// Package sagabench measures the saga engine: sagas per second and p50/p99
// latency of a 3-step saga with no-op steps, against the in-memory store
// and against a local 6-node Redis Cluster, and the Redis round trips per
// persisted transition. [Run] ends its output with the line
// `make bench-saga` (bench/saga) reports:
//
//	redis_sagas_per_s=… redis_p99_ms=… round_trips_per_transition=…
package sagabench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catga-go/catga/libs/catga/rediscluster"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
	sredis "github.com/catga-go/catga/libs/catga/sagastore/redis"
)

// Result is one store's figures.
type Result struct {
	name          string
	sagas         int
	perSec        float64
	p50, p99      time.Duration
	transitions   int64
	roundTrips    int64
	roundTripsPer float64
}

type data struct{ N int }

func noop(context.Context, *data) error { return nil }

// run drives sagas from workers goroutines for d and reports throughput and
// latency. transitions counts persisted writes (creates and updates).
func run(name string, store sagastore.Store, workers int, d time.Duration, roundTrips func() int64) (res Result, err error) {
	cs := &counting{Store: store}
	e := saga.New(cs)
	defer func() { err = errors.Join(err, e.Close(context.Background())) }()
	s, err := saga.Register(e, saga.Definition[data]{Name: "bench", Steps: []saga.Step[data]{
		{Name: "a", Action: noop, Compensate: noop}, {Name: "b", Action: noop, Compensate: noop}, {Name: "c", Action: noop},
	}})
	if err != nil {
		return Result{}, err
	}
	if err := e.Start(); err != nil { // the recovery loop also drops finished sagas from the index
		return Result{}, err
	}
	ctx := context.Background()
	// Warm up connections and scripts.
	for range 20 {
		if _, err := s.Run(ctx, "", data{}); err != nil {
			return Result{}, err
		}
	}
	cs.writes.Store(0)
	rt0 := roundTrips()
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				rec, err := s.Run(ctx, "", data{N: 1})
				if err != nil || rec.State != sagastore.StateCompleted {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f > 0 {
		return Result{}, fmt.Errorf("%s: %d sagas failed", name, f)
	}
	slices.Sort(lat)
	r := Result{
		name: name, sagas: len(lat), perSec: float64(len(lat)) / elapsed.Seconds(),
		p50: lat[len(lat)/2], p99: lat[len(lat)*99/100],
		transitions: cs.writes.Load(), roundTrips: roundTrips() - rt0,
	}
	if r.transitions > 0 {
		r.roundTripsPer = float64(r.roundTrips) / float64(r.transitions)
	}
	return r, nil
}

// counting counts the persisted transitions: creates and updates.
type counting struct {
	sagastore.Store
	writes atomic.Int64
}

func (c *counting) Create(ctx context.Context, rec sagastore.Record) (uint64, error) {
	c.writes.Add(1)
	return c.Store.Create(ctx, rec)
}

func (c *counting) Update(ctx context.Context, rec sagastore.Record) (uint64, error) {
	c.writes.Add(1)
	return c.Store.Update(ctx, rec)
}

// counter counts network round trips: one per command or pipeline sent to
// a node.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// Config is a run; zero fields take the defaults of `make bench-saga`.
type Config struct {
	Duration time.Duration // measuring time per store (default 4s)
	Workers  int           // concurrent sagas (default 64)
}

// Figures are what a run measured on the Redis Cluster (the goal's
// store), and the memory store's as the baseline.
type Figures struct {
	Memory, Redis Result
}

// Run measures on the memory store and a local Redis Cluster, writes a
// table and the summary line to w.
func Run(cfg Config, w io.Writer) (Figures, error) {
	if cfg.Duration <= 0 {
		cfg.Duration = 4 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	d, workers := &cfg.Duration, &cfg.Workers

	var results []Result
	mem, err := run("memory", memory.New(), *workers, *d, func() int64 { return 0 })
	if err != nil {
		return Figures{}, err
	}
	results = append(results, mem)

	c, err := rediscluster.New(rediscluster.Config{})
	if err != nil {
		return Figures{}, err
	}
	defer c.Close()
	var rt counter
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), PoolSize: *workers})
	// Count at the node clients: a cluster pipeline touching two nodes is
	// two round trips.
	rdb.OnNewNode(func(n *redis.Client) { n.AddHook(&rt) })
	if err := rdb.ForEachShard(context.Background(), func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() }); err != nil {
		return Figures{}, err
	}
	store := sredis.New(rdb)
	red, err := run("redis-cluster", store, *workers, *d, func() int64 { return rt.n.Load() })
	_ = store.Close()
	_ = rdb.Close()
	if err != nil {
		return Figures{}, err
	}
	results = append(results, red)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tsagas\tsagas/s\tp50 ms\tp99 ms\ttransitions\tround trips\trt/transition\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%d\t%d\t%.2f\t\n", r.name, r.sagas, r.perSec,
			ms(r.p50), ms(r.p99), r.transitions, r.roundTrips, r.roundTripsPer)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "3-step no-op saga, %d concurrent, %v per store; a saga is 4 persisted transitions (create+start, 2x succeed+start next, complete)\n", *workers, *d)
	fmt.Fprintf(w, "redis_sagas_per_s=%.0f redis_p99_ms=%.2f round_trips_per_transition=%.2f\n", red.perSec, ms(red.p99), red.roundTripsPer)
	return Figures{Memory: mem, Redis: red}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Sagas is how many sagas completed.
func (r Result) Sagas() int { return r.sagas }

// PerSec is completed sagas per second.
func (r Result) PerSec() float64 { return r.perSec }

// P50 and P99 are a saga's latency percentiles, start to completed.
func (r Result) P50() time.Duration { return r.p50 }

// P99 is the 99th percentile of a saga's latency.
func (r Result) P99() time.Duration { return r.p99 }

// RoundTripsPerTransition is Redis round trips per persisted transition
// (0 on the memory store).
func (r Result) RoundTripsPerTransition() float64 { return r.roundTripsPer }
