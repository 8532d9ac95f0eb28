// Command eventstore measures the PostgreSQL event store and outbox on a
// server with its durability settings on (fsync, synchronous_commit,
// full_page_writes):
//
//   - appends per second from concurrent appenders spread over several
//     schemas (services), with the outbox (and its relays running) and
//     without it (pgstore.WithoutOutbox), in the same run, alternating;
//   - outbox end-to-end latency, from Append returning (commit) to the
//     event arriving at a JetStream consumer, with the relays' fallback poll
//     at 1s so only the commit wake-up can make it fast.
//
// It starts its own PostgreSQL (pgembed, durable; set
// CATGA_BENCH_POSTGRES_URL to use a server you have) and an embedded NATS
// server. The last line reads "appends_per_s=… appends_no_outbox_per_s=…
// outbox_p50_ms=… outbox_p99_ms=… durable=…", durable=1 when the server
// reports all three settings on.
//
// Usage: go run ./eventstore [-duration 1.5s] [-writers 16] [-schemas 4] [-latency-n 400] [-rate 500]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgembed"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/outbox"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// OrderPlaced is the benchmark's event.
type OrderPlaced struct {
	OrderID string
	Amount  int
	Items   []string
}

func main() {
	duration := flag.Duration("duration", 1500*time.Millisecond, "length of each append phase (each runs twice)")
	writers := flag.Int("writers", 16, "concurrent appenders")
	schemas := flag.Int("schemas", 4, "schemas (services) the appenders are spread over")
	latencyN := flag.Int("latency-n", 400, "events in each latency phase")
	rate := flag.Int("rate", 500, "events per second in the paced latency phase")
	linger := flag.Duration("linger", 0, "relay linger (outbox.WithLinger); 0 is the default")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*duration, *writers, *schemas, *latencyN, *rate, *linger); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

func run(duration time.Duration, writers, schemas, latencyN, rate int, linger time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	url := os.Getenv("CATGA_BENCH_POSTGRES_URL")
	if url == "" {
		pg, err := pgembed.Start(ctx, pgembed.Config{Durable: true})
		if err != nil {
			return err
		}
		defer pg.Stop()
		url = pg.URL("postgres")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(writers + 3*schemas + 4)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	durable, settings, err := durability(ctx, pool)
	if err != nil {
		return err
	}
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[OrderPlaced](reg, "order.placed")
	run := time.Now().UnixNano() % 1e9
	var withOutbox, withoutOutbox []eventstore.Store
	var outboxes []*pgstore.Store
	for i := range schemas {
		s, err := pgstore.New(ctx, pool, reg, pgstore.WithSchema(fmt.Sprintf("bench_%d_%d", run, i)))
		if err != nil {
			return err
		}
		withOutbox, outboxes = append(withOutbox, s), append(outboxes, s)
		raw, err := pgstore.New(ctx, pool, reg, pgstore.WithSchema(fmt.Sprintf("bench_raw_%d_%d", run, i)), pgstore.WithoutOutbox())
		if err != nil {
			return err
		}
		withoutOutbox = append(withoutOutbox, raw)
	}

	ns, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The transport's event stream, as the transport creates it.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CATGA_EVENTS", Subjects: []string{"catga.evt.>", "catga.dlq.>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		return err
	}
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{ns.ClientURL()}})
	if err != nil {
		return err
	}
	defer func() { _ = tr.Close() }()

	fmt.Printf("PostgreSQL event store (%s), %d writers over %d schemas, %v per phase\n\n", settings, writers, schemas, duration)
	fmt.Printf("%-44s %12s\n", "phase", "appends/s")
	// Relays run through the outbox phases, as on a live service: the
	// outbox's cost includes publishing. One phase per round runs with the
	// relays paused, to tell the cost of the outbox rows from the relays'.
	relays := make([]*outbox.Relay, schemas)
	for i, s := range outboxes {
		if relays[i], err = outbox.NewRelay(s, tr, outbox.WithPollInterval(time.Second), outbox.WithLinger(linger)); err != nil {
			return err
		}
	}
	startRelays := func() (stop func()) {
		rctx, rcancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, r := range relays {
			wg.Go(func() { _ = r.Run(rctx) })
		}
		return func() { rcancel(); wg.Wait() }
	}
	stopRelays := startRelays()
	defer func() { stopRelays() }()
	// Warm up both kinds of store (connections, caches, plans).
	if _, err := appendPhase(ctx, withoutOutbox, writers, duration/3, "warm-raw"); err != nil {
		return err
	}
	if _, err := appendPhase(ctx, withOutbox, writers, duration/3, "warm-out"); err != nil {
		return err
	}
	if err := drained(ctx, outboxes); err != nil {
		return err
	}
	var sumOut, sumRaw, sumPaused float64
	for round := range 2 {
		raw, err := appendPhase(ctx, withoutOutbox, writers, duration, fmt.Sprintf("raw%d", round))
		if err != nil {
			return err
		}
		fmt.Printf("%-44s %12.0f\n", "append 1 event, no outbox", raw)
		stopRelays()
		paused, err := appendPhase(ctx, withOutbox, writers, duration, fmt.Sprintf("paused%d", round))
		if err != nil {
			return err
		}
		fmt.Printf("%-44s %12.0f\n", "append 1 event, outbox, relays paused", paused)
		stopRelays = startRelays()
		if err := drained(ctx, outboxes); err != nil {
			return err
		}
		out, err := appendPhase(ctx, withOutbox, writers, duration, fmt.Sprintf("out%d", round))
		if err != nil {
			return err
		}
		fmt.Printf("%-44s %12.0f\n", "append 1 event, outbox, relays running", out)
		sumRaw, sumOut, sumPaused = sumRaw+raw, sumOut+out, sumPaused+paused
		if err := drained(ctx, outboxes); err != nil {
			return err
		}
	}
	fmt.Printf("%-44s %11.1f%%\n", "cost of the outbox rows alone", 100*(1-sumPaused/sumRaw))
	appendsOut, appendsRaw := sumOut/2, sumRaw/2
	fmt.Printf("%-44s %11.1f%%\n", "outbox cost on append throughput", 100*(1-appendsOut/appendsRaw))

	// Latency: a JetStream consumer notes arrival times by message id.
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	got := make(chan struct{}, 1)
	cons, err := js.OrderedConsumer(ctx, "CATGA_EVENTS", jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		mu.Lock()
		arrived[m.Headers().Get(jetstream.MsgIDHeader)] = now
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	time.Sleep(100 * time.Millisecond) // let the relays go idle

	fmt.Printf("\n%-34s %9s %9s %9s %9s\n", "outbox latency (commit → consumer)", "n", "p50 ms", "p99 ms", "max ms")
	if _, _, err := latencyPhase(ctx, withOutbox, latencyN, 0, &mu, arrived, got, "sequential, one in flight"); err != nil {
		return err
	}
	p50, p99, err := latencyPhase(ctx, withOutbox, latencyN, rate, &mu, arrived, got, fmt.Sprintf("paced, %d events/s", rate))
	if err != nil {
		return err
	}
	fmt.Printf("\ngoals: outbox costs <= 15%% of append throughput; outbox p99 < 10 ms (fallback poll is 1s)\n")
	d := 0
	if durable {
		d = 1
	}
	fmt.Printf("appends_per_s=%.0f appends_no_outbox_per_s=%.0f outbox_p50_ms=%.2f outbox_p99_ms=%.2f durable=%d\n", appendsOut, appendsRaw, p50, p99, d)
	return nil
}

// durability reports whether the server runs with fsync, synchronous_commit
// and full_page_writes on.
func durability(ctx context.Context, pool *pgxpool.Pool) (bool, string, error) {
	var fsync, sync, fpw string
	err := pool.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')`).Scan(&fsync, &sync, &fpw)
	if err != nil {
		return false, "", err
	}
	settings := fmt.Sprintf("fsync=%s synchronous_commit=%s full_page_writes=%s", fsync, sync, fpw)
	return fsync == "on" && sync == "on" && fpw == "on", settings, nil
}

// drained waits until the relays have published every outbox entry.
func drained(ctx context.Context, stores []*pgstore.Store) error {
	for _, s := range stores {
		for {
			st, err := s.OutboxStats(ctx)
			if err != nil {
				return err
			}
			if st.Pending == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// appendPhase runs writers, spread over stores, each appending one event
// per call to a new stream for d, and returns appends per second.
func appendPhase(ctx context.Context, stores []eventstore.Store, writers int, d time.Duration, name string) (float64, error) {
	var count atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range writers {
		store := stores[w%len(stores)]
		wg.Go(func() {
			// Each append starts a new stream, as each order is its own
			// aggregate: appends do not contend.
			for i := 0; time.Now().Before(deadline); i++ {
				stream := fmt.Sprintf("%s-%d-%d", name, w, i)
				ev := eventstore.Event{Data: OrderPlaced{OrderID: stream, Amount: i, Items: []string{"sku-1", "sku-2"}}}
				if _, err := store.Append(ctx, stream, eventstore.NoStream, []eventstore.Event{ev}); err != nil {
					errs[w] = err
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(start).Seconds(), errors.Join(errs...)
}

// latencyPhase appends n single events to fresh streams — one at a time
// (rate 0) or paced at rate per second — and returns p50 and p99 of commit →
// arrival in milliseconds.
func latencyPhase(ctx context.Context, stores []eventstore.Store, n, rate int, mu *sync.Mutex, arrived map[string]time.Time, got <-chan struct{}, label string) (float64, float64, error) {
	committed := make(map[string]time.Time, n)
	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	next := time.Now()
	prefix := fmt.Sprintf("lat-%d-%d", rate, time.Now().UnixNano())
	for i := range n {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
		}
		id := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := stores[i%len(stores)].Append(ctx, id, eventstore.NoStream, []eventstore.Event{{ID: id, Data: OrderPlaced{OrderID: id, Amount: i}}}); err != nil {
			return 0, 0, err
		}
		committed[id] = time.Now()
		if rate == 0 {
			if err := waitArrived(ctx, mu, arrived, got, id); err != nil {
				return 0, 0, err
			}
		}
	}
	lat := make([]float64, 0, n)
	for id, c := range committed {
		if err := waitArrived(ctx, mu, arrived, got, id); err != nil {
			return 0, 0, err
		}
		mu.Lock()
		a := arrived[id]
		mu.Unlock()
		// The event can arrive before Append returns to us: the relay is
		// woken at commit, not when the client hears about it.
		lat = append(lat, max(a.Sub(c), 0).Seconds()*1000)
	}
	slices.Sort(lat)
	p50, p99, mx := pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1]
	fmt.Printf("%-34s %9d %9.2f %9.2f %9.2f\n", label, n, p50, p99, mx)
	return p50, p99, nil
}

func waitArrived(ctx context.Context, mu *sync.Mutex, arrived map[string]time.Time, got <-chan struct{}, id string) error {
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		mu.Lock()
		_, ok := arrived[id]
		mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-got:
		case <-time.After(5 * time.Millisecond):
		case <-timeout.C:
			return fmt.Errorf("event %s never arrived", id)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}
