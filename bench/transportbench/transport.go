// Package transportbench measures request-reply over NATS: catga's mediator.Send
// routed over the NATS transport against raw nc.Request (bytes echoed) and
// against a same-codec baseline (raw nats.go plus the transport's JSON
// codec both ways on both sides and the same headers), same payload, same
// embedded server, serial and with concurrent callers. Every slice runs
// each side once, in a random order, so that noise from other processes
// hits all alike; the ratios are the median of the per-slice ratios, with
// their spread (min..max) printed beside them. [Run] ends its output
// with the summary line `make bench-transport` (bench/transport) reports:
//
//	p50_ratio=… p99_ratio=… throughput_ratio=… codec_p50_ratio=… codec_p99_ratio=… codec_throughput_ratio=…
//
// (serial p50 and p99 and concurrent throughput, ours over raw, then ours
// over the same-codec baseline). "hdr", raw with one header (NATS sends a
// message with headers as HPUB/HMSG, a slower path), is printed for
// reference only.
package transportbench

import (
	"context"
	"encoding/json"
	"io"

	"fmt"

	"math/rand/v2"
	"runtime"

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

var echoRoute = transport.NewRoute[Echo, Echo]("bench.echo")

// Config is a run. Zero fields take the defaults of `make bench-transport`.
type Config struct {
	Duration    time.Duration // measuring time per mode and side (default 1.5s)
	Slices      int           // alternating slices per mode (default 10)
	Concurrency int           // concurrent callers (default 64)
	Payload     int           // payload body bytes (default 256)
}

// Side is one side's totals in one mode.
type Side struct {
	Mode, Name string // mode: "serial" or "concurrent(N)"; name: raw, hdr, codec, ours
	P50, P99   time.Duration
	PerSec     float64
	CPUPerReq  time.Duration
}

// Result is what [Run] measured: the ratios of its summary line (medians
// of the per-slice ratios) and every side's totals.
type Result struct {
	P50Ratio, P99Ratio, ThroughputRatio                float64 // ours / raw: serial p50, p99; concurrent throughput
	CodecP50Ratio, CodecP99Ratio, CodecThroughputRatio float64 // ours / codec
	Sides                                              []Side
}

// Run measures, writes its table and summary line to w, and returns the
// figures.
func Run(cfg Config, w io.Writer) (Result, error) {
	if cfg.Duration <= 0 {
		cfg.Duration = 1500 * time.Millisecond
	}
	if cfg.Slices <= 0 {
		cfg.Slices = 10
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Payload <= 0 {
		cfg.Payload = 256
	}
	return run(w, cfg.Duration, cfg.Slices, cfg.Concurrency, cfg.Payload)
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

func run(w io.Writer, dur time.Duration, nslices, conc, size int) (Result, error) {
	srv, err := natsembed.Start(natsembed.Config{NoJetStream: true})
	if err != nil {
		return Result{}, err
	}
	defer srv.Shutdown()
	url := srv.ClientURL()

	body := strings.Repeat("x", size)
	payload, _ := json.Marshal(Echo{ID: 1, Body: body})

	// Raw: a plain responder echoing the bytes, a plain requester: one
	// subscription, so one goroutine, answering on its own connection, as a
	// plain nats.go service is written. Ours runs with its defaults
	// (transport.DefaultConcurrency handlers at once).
	rawSrv, err := nats.Connect(url)
	if err != nil {
		return Result{}, err
	}
	defer rawSrv.Close()
	if _, err := rawSrv.Subscribe("bench.raw", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return Result{}, err
	}
	_ = rawSrv.Flush()
	rawCli, err := nats.Connect(url)
	if err != nil {
		return Result{}, err
	}
	defer rawCli.Close()
	raw := func(ctx context.Context) error {
		_, err := rawCli.RequestWithContext(ctx, "bench.raw", payload)
		return err
	}

	// Reference, not part of the ratios: raw with a single header and no
	// other work, to show what carrying metadata in headers costs NATS.
	if _, err := rawSrv.Subscribe("bench.hdr", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return Result{}, err
	}
	var hdrSeq atomic.Int64
	rawHdr := func(ctx context.Context) error {
		h := nats.Header{"Catga-Msg-Id": {strconv.FormatInt(hdrSeq.Add(1), 10)}}
		_, err := rawCli.RequestMsgWithContext(ctx, &nats.Msg{Subject: "bench.hdr", Header: h, Data: payload})
		return err
	}

	// Same-codec baseline: raw nats.go doing what any typed request-reply
	// must: the transport's JSON codec both ways on both sides and the
	// headers ours sends (message and correlation id, content type, time
	// left), read back on the serving side.
	codec := transport.JSON{}
	if _, err := rawSrv.QueueSubscribe("bench.codec", "bench", func(m *nats.Msg) {
		var e Echo
		if codec.Unmarshal(m.Data, &e) != nil || m.Header.Get(transport.HeaderMsgID) == "" {
			return
		}
		if _, err := strconv.ParseInt(m.Header.Get(transport.HeaderTimeout), 10, 64); err != nil {
			return
		}
		b, _ := codec.Marshal(e)
		_ = m.Respond(b)
	}); err != nil {
		return Result{}, err
	}
	_ = rawSrv.Flush()
	rawCodec := func(ctx context.Context) error {
		b, _ := codec.Marshal(Echo{ID: 1, Body: body})
		id := uuid.NewString()
		h := nats.Header{transport.HeaderMsgID: {id}, transport.HeaderCorrelationID: {id}, transport.HeaderContentType: {codec.ContentType()}}
		if d, ok := ctx.Deadline(); ok {
			h[transport.HeaderTimeout] = []string{strconv.FormatInt(int64(time.Until(d)), 10)}
		}
		r, err := rawCli.RequestMsgWithContext(ctx, &nats.Msg{Subject: "bench.codec", Header: h, Data: b})
		if err != nil {
			return err
		}
		var e Echo
		return codec.Unmarshal(r.Data, &e)
	}

	// Ours: Serve on one peer, Route + mediator.Send on another, defaults
	// except deduplication: an echo is a query, and queries are served
	// WithoutIdempotency (a command's default store is a JetStream bucket,
	// one write per request, which this server does not run).
	server, err := natstransport.Connect(natstransport.Config{URLs: []string{url}, Name: "bench-server"})
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = server.Close() }()
	sm := mediator.New()
	_ = mediator.Handle(sm, func(_ context.Context, e Echo) (Echo, error) { return e, nil })
	if _, err := transport.Serve(server, sm, echoRoute, transport.WithoutIdempotency()); err != nil {
		return Result{}, err
	}
	_ = server.Conn().Flush()
	client, err := natstransport.Connect(natstransport.Config{URLs: []string{url}, Name: "bench-client"})
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = client.Close() }()
	cm := mediator.New()
	if err := transport.Register(cm, client, echoRoute); err != nil {
		return Result{}, err
	}
	req := Echo{ID: 1, Body: body}
	ours := func(ctx context.Context) error {
		_, err := mediator.Send[Echo](ctx, cm, req)
		return err
	}

	sides := []side{{name: "raw", f: raw}, {name: "hdr", f: rawHdr}, {name: "codec", f: rawCodec}, {name: "ours", f: ours}}
	// Warm up every path (connections, pools, caches).
	for _, sd := range sides {
		if _, err := measure(sd.f, 1, 300*time.Millisecond); err != nil {
			return Result{}, fmt.Errorf("%s: %w", sd.name, err)
		}
	}

	var rows []row
	for _, workers := range []int{1, conc} {
		r := row{mode: "serial", total: map[string]*result{}, p50: ratios{}, p99: ratios{}, tput: ratios{}}
		if workers > 1 {
			r.mode = fmt.Sprintf("concurrent(%d)", workers)
		}
		for _, sd := range sides {
			r.total[sd.name] = &result{}
		}
		slice := dur / time.Duration(nslices)
		for range nslices {
			order := slices.Clone(sides)
			rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			got := map[string]result{}
			for _, sd := range order {
				res, err := measure(sd.f, workers, slice)
				if err != nil {
					return Result{}, fmt.Errorf("%s: %w", sd.name, err)
				}
				got[sd.name] = res
				r.total[sd.name].add(res)
			}
			for _, base := range []string{"raw", "codec"} {
				o, b := got["ours"], got[base]
				r.p50[base] = append(r.p50[base], ratio(o.pct(0.50), b.pct(0.50)))
				r.p99[base] = append(r.p99[base], ratio(o.pct(0.99), b.pct(0.99)))
				r.tput[base] = append(r.tput[base], o.tput()/b.tput())
			}
		}
		rows = append(rows, r)
	}

	fmt.Fprintf(w, "payload %d bytes, %s per side and mode, %d slices (sides in random order in each), nats-server embedded on loopback\n", len(payload), dur, nslices)
	fmt.Fprintln(w, "raw = nc.Request echo; hdr = raw with one header (reference); codec = raw plus the transport's JSON codec and headers (same-codec baseline); ours = mediator.Send over transport/natstransport")
	fmt.Fprintf(w, "%-16s %-14s %10s %10s %12s %10s\n", "mode", "side", "p50", "p99", "req/s", "cpu/req")
	for _, r := range rows {
		for _, sd := range sides {
			res := r.total[sd.name]
			fmt.Fprintf(w, "%-16s %-14s %10s %10s %12.0f %10s\n", r.mode, sd.name, res.pct(0.50), res.pct(0.99), res.tput(), res.cpuPerReq())
		}
		for _, base := range []string{"raw", "codec"} {
			fmt.Fprintf(w, "%-16s %-14s %10s %10s %12s\n", r.mode, "ours/"+base, spread(r.p50[base]), spread(r.p99[base]), spread(r.tput[base]))
		}
	}
	serial, concurrent := rows[0], rows[1]
	fmt.Fprintf(w, "p50_ratio=%.3f p99_ratio=%.3f throughput_ratio=%.3f codec_p50_ratio=%.3f codec_p99_ratio=%.3f codec_throughput_ratio=%.3f\n",
		median(serial.p50["raw"]), median(serial.p99["raw"]), median(concurrent.tput["raw"]),
		median(serial.p50["codec"]), median(serial.p99["codec"]), median(concurrent.tput["codec"]))
	res := Result{
		P50Ratio: median(serial.p50["raw"]), P99Ratio: median(serial.p99["raw"]), ThroughputRatio: median(concurrent.tput["raw"]),
		CodecP50Ratio: median(serial.p50["codec"]), CodecP99Ratio: median(serial.p99["codec"]), CodecThroughputRatio: median(concurrent.tput["codec"]),
	}
	for _, r := range rows {
		for _, sd := range sides {
			t := r.total[sd.name]
			res.Sides = append(res.Sides, Side{Mode: r.mode, Name: sd.name, P50: t.pct(0.50), P99: t.pct(0.99), PerSec: t.tput(), CPUPerReq: t.cpuPerReq()})
		}
	}
	return res, nil
}

type side struct {
	name string
	f    func(context.Context) error
}

// row is one mode: every side's totals and, per baseline, the per-slice
// ratios of ours to it.
type row struct {
	mode           string
	total          map[string]*result
	p50, p99, tput ratios
}

type ratios map[string][]float64

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread prints the median and the range of per-slice ratios.
func spread(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f[%.2f..%.2f]", median(xs), slices.Min(xs), slices.Max(xs))
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
