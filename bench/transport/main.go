// Command transport measures request-reply over NATS: raw nc.Request against
// catga's mediator.Send routed over the NATS transport, same payload, same
// embedded server, serial and with concurrent callers. Raw and ours run in
// alternating slices so that noise from other processes hits both alike.
// The last line is the summary `make bench-transport` reports:
//
//	p50_ratio=… p99_ratio=… throughput_ratio=…
//
// (serial p50 and p99 ours/raw, concurrent throughput ours/raw). Two more
// sides are printed for reference only: "hdr" is raw with one header (NATS
// sends a message with headers as HPUB/HMSG, a slower path, whatever the
// headers are), and "json" is raw plus the JSON and header work any typed
// request-reply does.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Echo is the benchmark request and response.
type Echo struct {
	ID   int    `json:"id"`
	Body string `json:"body"`
}

func main() {
	dur := flag.Duration("duration", 1500*time.Millisecond, "measuring time per mode and side")
	slices_ := flag.Int("slices", 10, "alternating slices per mode")
	conc := flag.Int("concurrency", 64, "concurrent callers")
	size := flag.Int("payload", 256, "payload body bytes")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*dur, *slices_, *conc, *size); err != nil {
		log.Print(err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type result struct {
	lat []time.Duration
	n   int
	dur time.Duration
	cpu time.Duration // process CPU time (user+system) while measuring
}

func (r *result) add(o result) {
	r.lat = append(r.lat, o.lat...)
	r.n += o.n
	r.dur += o.dur
	r.cpu += o.cpu
}

// cpuPerReq is the whole process's CPU time per request: both peers and the
// embedded server, which all live in this process.
func (r *result) cpuPerReq() time.Duration {
	if r.n == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.n)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
}

func (r *result) tput() float64 { return float64(r.n) / r.dur.Seconds() }

func run(dur time.Duration, nslices, conc, size int) error {
	srv, err := natsembed.Start(natsembed.Config{NoJetStream: true})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	url := srv.ClientURL()

	payload, _ := json.Marshal(Echo{ID: 1, Body: strings.Repeat("x", size)})

	// Raw: a plain responder echoing the bytes, a plain requester. Like
	// ours (Serve's default concurrency is 1), it is one subscription, so
	// one goroutine, answering on its own connection.
	rawSrv, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer rawSrv.Close()
	if _, err := rawSrv.Subscribe("bench.raw", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return err
	}
	_ = rawSrv.Flush()
	rawCli, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer rawCli.Close()
	raw := func(ctx context.Context) error {
		_, err := rawCli.RequestWithContext(ctx, "bench.raw", payload)
		return err
	}

	// Reference, not part of the ratios: raw with a single header and no
	// other work, to show what carrying metadata in headers costs NATS.
	if _, err := rawSrv.Subscribe("bench.hdr", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return err
	}
	var hdrSeq atomic.Int64
	rawHdr := func(ctx context.Context) error {
		h := nats.Header{"Catga-Msg-Id": {strconv.FormatInt(hdrSeq.Add(1), 10)}}
		_, err := rawCli.RequestMsgWithContext(ctx, &nats.Msg{Subject: "bench.hdr", Header: h, Data: payload})
		return err
	}

	// Reference, not part of the ratios: raw NATS doing the work any typed
	// request-reply must do (JSON both ways on both sides, message id and
	// deadline headers), to show how much of the gap that alone is.
	if _, err := rawSrv.Subscribe("bench.json", func(m *nats.Msg) {
		var e Echo
		if json.Unmarshal(m.Data, &e) != nil || m.Header.Get("Catga-Msg-Id") == "" {
			return
		}
		b, _ := json.Marshal(e)
		_ = m.Respond(b)
	}); err != nil {
		return err
	}
	_ = rawSrv.Flush()
	rawJSON := func(ctx context.Context) error {
		b, _ := json.Marshal(Echo{ID: 1, Body: strings.Repeat("x", size)})
		h := nats.Header{"Catga-Msg-Id": {uuid.NewString()}, "Content-Type": {"application/json"}}
		if d, ok := ctx.Deadline(); ok {
			h["Catga-Deadline"] = []string{strconv.FormatInt(d.UnixNano(), 10)}
		}
		r, err := rawCli.RequestMsgWithContext(ctx, &nats.Msg{Subject: "bench.json", Header: h, Data: b})
		if err != nil {
			return err
		}
		var e Echo
		return json.Unmarshal(r.Data, &e)
	}

	// Ours: Serve on one peer, Route + mediator.Send on another, defaults
	// except deduplication: an echo is a query, and queries are served
	// WithoutIdempotency (a command's default store is a JetStream bucket,
	// one write per request, which this server does not run).
	server, err := natstransport.Connect(natstransport.Config{URLs: []string{url}, Name: "bench-server"})
	if err != nil {
		return err
	}
	defer func() { _ = server.Close() }()
	sm := mediator.New()
	_ = mediator.Handle(sm, func(_ context.Context, e Echo) (Echo, error) { return e, nil })
	if _, err := transport.Serve[Echo, Echo](server, sm, "bench", transport.WithoutIdempotency()); err != nil {
		return err
	}
	_ = server.Conn().Flush()
	client, err := natstransport.Connect(natstransport.Config{URLs: []string{url}, Name: "bench-client"})
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	cm := mediator.New()
	if err := transport.Route[Echo, Echo](cm, client); err != nil {
		return err
	}
	req := Echo{ID: 1, Body: strings.Repeat("x", size)}
	ours := func(ctx context.Context) error {
		_, err := mediator.Send[Echo](ctx, cm, req)
		return err
	}

	// Warm up both paths (connections, pools, JIT-free but cache-warm).
	for _, f := range []func(context.Context) error{raw, rawHdr, rawJSON, ours} {
		if _, err := measure(f, 1, 300*time.Millisecond); err != nil {
			return err
		}
	}

	type row struct {
		mode                       string
		raw, rawHdr, rawJSON, ours result
	}
	var rows []row
	for _, workers := range []int{1, conc} {
		r := row{mode: "serial", raw: result{}, ours: result{}}
		if workers > 1 {
			r.mode = fmt.Sprintf("concurrent(%d)", workers)
		}
		slice := dur / time.Duration(nslices)
		for range nslices {
			a, err := measure(raw, workers, slice)
			if err != nil {
				return fmt.Errorf("raw: %w", err)
			}
			h, err := measure(rawHdr, workers, slice)
			if err != nil {
				return fmt.Errorf("raw+header: %w", err)
			}
			j, err := measure(rawJSON, workers, slice)
			if err != nil {
				return fmt.Errorf("raw+json: %w", err)
			}
			b, err := measure(ours, workers, slice)
			if err != nil {
				return fmt.Errorf("ours: %w", err)
			}
			r.rawHdr.add(h)
			r.rawJSON.add(j)
			r.raw.add(a)
			r.ours.add(b)
		}
		rows = append(rows, r)
	}

	w := os.Stdout
	fmt.Fprintf(w, "payload %d bytes, %s per side and mode, %d alternating slices, nats-server embedded on loopback\n", len(payload), dur, nslices)
	fmt.Fprintln(w, "raw = nc.Request echo; hdr = raw with one header (reference); json = raw plus JSON both ways and id/deadline headers (reference); ours = mediator.Send over transport/natstransport")
	fmt.Fprintf(w, "%-16s %-5s %10s %10s %12s %10s\n", "mode", "side", "p50", "p99", "req/s", "cpu/req")
	for _, r := range rows {
		for _, s := range []struct {
			name string
			res  *result
		}{{"raw", &r.raw}, {"hdr", &r.rawHdr}, {"json", &r.rawJSON}, {"ours", &r.ours}} {
			fmt.Fprintf(w, "%-16s %-5s %10s %10s %12.0f %10s\n", r.mode, s.name, s.res.pct(0.50), s.res.pct(0.99), s.res.tput(), s.res.cpuPerReq())
		}
		fmt.Fprintf(w, "%-16s %-5s %10.3f %10.3f %12.3f %10.3f\n", r.mode, "ratio",
			ratio(r.ours.pct(0.50), r.raw.pct(0.50)), ratio(r.ours.pct(0.99), r.raw.pct(0.99)), r.ours.tput()/r.raw.tput(),
			ratio(r.ours.cpuPerReq(), r.raw.cpuPerReq()))
	}
	serial, concurrent := rows[0], rows[1]
	fmt.Fprintf(w, "p50_ratio=%.3f p99_ratio=%.3f throughput_ratio=%.3f\n",
		ratio(serial.ours.pct(0.50), serial.raw.pct(0.50)),
		ratio(serial.ours.pct(0.99), serial.raw.pct(0.99)),
		concurrent.ours.tput()/concurrent.raw.tput())
	return nil
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// measure runs f from workers goroutines for d and returns every latency.
// It collects garbage first, so that each side pays for its own
// allocations rather than for the side measured before it.
func measure(f func(context.Context) error, workers int, d time.Duration) (result, error) {
	runtime.GC()
	var (
		mu       sync.Mutex
		all      []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	start, cpu0 := time.Now(), cpuTime()
	stop := start.Add(d)
	for range workers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for time.Now().Before(stop) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				t0 := time.Now()
				err := f(ctx)
				lat = append(lat, time.Since(t0))
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return result{lat: all, n: len(all), dur: time.Since(start), cpu: cpuTime() - cpu0}, firstErr
}
