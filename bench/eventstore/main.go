// Command eventstore measures the PostgreSQL event store and outbox:
// appends per second (single events and batches of 10, several writers) and
// outbox end-to-end latency, from Append returning (commit) to the event
// arriving at a JetStream consumer, with the relay's fallback poll at 1s so
// only the LISTEN/NOTIFY wake-up can make it fast.
//
// It starts its own PostgreSQL (pgembed; set CATGA_BENCH_POSTGRES_URL to use
// a server you have) and an embedded NATS server. The last line reads
// "appends_per_s=… outbox_p50_ms=… outbox_p99_ms=…".
//
// Usage: go run ./eventstore [-duration 1s] [-writers 4] [-latency-n 400] [-rate 500]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
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
	catganats "github.com/catga-go/catga/libs/catga/transport/nats"
)

// OrderPlaced is the benchmark's event.
type OrderPlaced struct {
	OrderID string
	Amount  int
	Items   []string
}

func main() {
	duration := flag.Duration("duration", time.Second, "length of each append phase")
	writers := flag.Int("writers", 4, "concurrent appenders")
	latencyN := flag.Int("latency-n", 400, "events in each latency phase")
	rate := flag.Int("rate", 500, "events per second in the paced latency phase")
	flag.Parse()
	if err := run(*duration, *writers, *latencyN, *rate); err != nil {
		log.Fatal(err)
	}
}

func run(duration time.Duration, writers, latencyN, rate int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	url := os.Getenv("CATGA_BENCH_POSTGRES_URL")
	if url == "" {
		pg, err := pgembed.Start(ctx, pgembed.Config{})
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
	cfg.MaxConns = int32(writers + 4)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[OrderPlaced](reg, "order.placed")
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano()%1e9)
	store, err := pgstore.New(ctx, pool, reg, pgstore.WithSchema(schema))
	if err != nil {
		return err
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
	// The transport's event stream, as the transport would create it.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CATGA_EVENTS", Subjects: []string{"catga.evt.>", "catga.dlq.>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		return err
	}
	tr, err := catganats.Connect(catganats.Config{URLs: []string{ns.ClientURL()}})
	if err != nil {
		return err
	}
	defer func() { _ = tr.Close() }()

	fmt.Printf("PostgreSQL event store, schema %s, %d writers, %v per phase\n\n", schema, writers, duration)
	fmt.Printf("%-34s %12s %12s\n", "phase", "appends/s", "events/s")
	single, err := appendPhase(ctx, store, writers, 1, duration, "single")
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %12.0f %12.0f\n", "append, 1 event", single, single)
	batch, err := appendPhase(ctx, store, writers, 10, duration, "batch")
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %12.0f %12.0f\n", "append, batch of 10", batch, batch*10)

	// Drain the backlog the append phases left, timing the relay on it.
	relay, err := outbox.NewRelay(store, tr, outbox.WithPollInterval(time.Second))
	if err != nil {
		return err
	}
	start := time.Now()
	if err := relay.Drain(ctx); err != nil {
		return err
	}
	st := relay.Stats()
	fmt.Printf("%-34s %12s %12.0f\n", "relay drain, backlog above", "", float64(st.Published)/time.Since(start).Seconds())
	// A backlog on a few long streams is the slow case: each stream's events
	// go out one acknowledgement after another.
	if err := longStreams(ctx, store, 4, 2000); err != nil {
		return err
	}
	start, before := time.Now(), relay.Stats().Published
	if err := relay.Drain(ctx); err != nil {
		return err
	}
	fmt.Printf("%-34s %12s %12.0f\n", "relay drain, 4 streams x 2000", "", float64(relay.Stats().Published-before)/time.Since(start).Seconds())

	// Latency: a relay running with a 1s fallback poll; a JetStream
	// consumer notes arrival times by message id.
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
	rctx, rcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = relay.Run(rctx) })
	defer func() { rcancel(); wg.Wait() }()
	time.Sleep(100 * time.Millisecond) // let the relay listen and go idle

	fmt.Printf("\n%-34s %9s %9s %9s %9s\n", "outbox latency (commit → consumer)", "n", "p50 ms", "p99 ms", "max ms")
	seqP50, seqP99, err := latencyPhase(ctx, store, latencyN, 0, &mu, arrived, got, "sequential, one in flight")
	if err != nil {
		return err
	}
	p50, p99, err := latencyPhase(ctx, store, latencyN, rate, &mu, arrived, got, fmt.Sprintf("paced, %d events/s", rate))
	if err != nil {
		return err
	}
	_, _ = seqP50, seqP99
	fmt.Printf("\ngoal: outbox p99 < 10 ms with no polling delay (fallback poll is 1s)\n")
	fmt.Printf("appends_per_s=%.0f outbox_p50_ms=%.2f outbox_p99_ms=%.2f\n", single, p50, p99)
	return nil
}

// longStreams appends n events in batches of 10 to each of k streams.
func longStreams(ctx context.Context, store eventstore.Store, k, n int) error {
	for s := range k {
		stream := fmt.Sprintf("long-%d-%d", s, time.Now().UnixNano())
		for v := 0; v < n; v += 10 {
			evs := make([]eventstore.Event, 10)
			for i := range evs {
				evs[i] = eventstore.Event{Data: OrderPlaced{OrderID: stream, Amount: v + i}}
			}
			if _, err := store.Append(ctx, stream, int64(v), evs); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendPhase runs writers appending perAppend events per call for d and
// returns appends per second.
func appendPhase(ctx context.Context, store eventstore.Store, writers, perAppend int, d time.Duration, name string) (float64, error) {
	var count atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			// Each append starts a new stream, as each order is its own
			// aggregate: appends do not contend, and the relay can publish
			// streams in parallel.
			for i := 0; time.Now().Before(deadline); i++ {
				stream := fmt.Sprintf("%s-%d-%d", name, w, i)
				evs := make([]eventstore.Event, perAppend)
				for k := range evs {
					evs[k] = eventstore.Event{Data: OrderPlaced{OrderID: stream, Amount: k, Items: []string{"sku-1", "sku-2"}}}
				}
				if _, err := store.Append(ctx, stream, eventstore.NoStream, evs); err != nil {
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
func latencyPhase(ctx context.Context, store eventstore.Store, n, rate int, mu *sync.Mutex, arrived map[string]time.Time, got <-chan struct{}, label string) (float64, float64, error) {
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
		if _, err := store.Append(ctx, id, eventstore.NoStream, []eventstore.Event{{ID: id, Data: OrderPlaced{OrderID: id, Amount: i}}}); err != nil {
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
