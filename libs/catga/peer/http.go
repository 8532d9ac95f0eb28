package peer

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"

	"github.com/catga-go/catga/libs/catga/console"
	"github.com/catga-go/catga/libs/catga/outbox"
)

// check is one readiness check.
type check struct {
	name string
	fn   func(ctx context.Context) error
}

// Paths the peer serves itself.
const (
	PathHealth  = "/healthz"  // 200 while the process runs
	PathReady   = "/readyz"   // 200 when NATS, the saga store and the database answer; 503 otherwise and while stopping
	PathMetrics = "/metrics"  // Prometheus exposition of the peer's OpenTelemetry metrics
	PathConsole = "/console/" // the saga console (Config.Console), on peers whose service registered sagas
)

// server mounts the peer's own endpoints and returns the HTTP server over
// the router, traced and measured by otelhttp (spans named after the
// route's pattern, e.g. "GET /orders/{id}"; probes and scrapes are left
// out).
func (p *Peer) server(tel *telemetry) *http.Server {
	p.HTTP.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	p.HTTP.HandleFunc("GET "+PathReady, p.ready)
	p.HTTP.Handle("GET "+PathMetrics, tel.metrics)
	h := otelhttp.NewHandler(p.HTTP, p.Config.Service,
		otelhttp.WithTracerProvider(tel.tp), otelhttp.WithMeterProvider(tel.mp),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case PathHealth, PathReady, PathMetrics, PathConsole + "live": // a console stream is not a request to trace
				return false
			}
			return true
		}),
	)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.Logger.Handler(), slog.LevelWarn),
	}
}

// mountConsole serves the saga console on the peer's router when the
// service registered sagas and the config does not switch it off. Its live
// streams end when the shutdown starts, so they do not hold the HTTP
// server's graceful stop.
func (p *Peer) mountConsole() {
	if p.Config.Console == ConsoleOff || len(p.Sagas.Shapes()) == 0 {
		return
	}
	opts := []console.Option{console.WithPrefix(PathConsole), console.WithTitle(p.Config.Service),
		console.WithLogger(p.Logger), console.WithDone(p.ctx.Done())}
	if p.Config.Console == ConsoleReadOnly {
		opts = append(opts, console.WithReadOnly())
	}
	p.HTTP.Handle(PathConsole, console.New(p.Sagas, opts...))
}

// ready runs the checks concurrently, each bounded by readyTimeout.
func (p *Peer) ready(w http.ResponseWriter, r *http.Request) {
	if p.stopping.Load() {
		writeStatus(w, http.StatusServiceUnavailable, map[string]any{"status": "stopping"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	results := make(map[string]string, len(p.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	for _, c := range p.checks {
		wg.Go(func() {
			res := "ok"
			if err := c.fn(ctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			results[c.name] = res
			ok = ok && res == "ok"
		})
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	if !ok {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	writeStatus(w, code, map[string]any{"status": status, "checks": results})
}

func writeStatus(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// outboxMetrics exports the outbox backlog (read from the store at each
// collection) and the relay's counters.
func outboxMetrics(m metric.Meter, es *EventStore, relay *outbox.Relay) error {
	pending, err := m.Int64ObservableGauge("catga.outbox.pending",
		metric.WithDescription("Outbox entries not yet published (all peers of the service)."))
	if err != nil {
		return err
	}
	lag, err := m.Float64ObservableGauge("catga.outbox.lag", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest unpublished outbox entry; 0 when none is pending."))
	if err != nil {
		return err
	}
	parked, err := m.Int64ObservableGauge("catga.outbox.parked",
		metric.WithDescription("Outbox entries given up on, in the dead-letter table."))
	if err != nil {
		return err
	}
	published, err := m.Int64ObservableCounter("catga.outbox.published",
		metric.WithDescription("Events this peer's relay published."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		o.ObserveInt64(published, int64(relay.Stats().Published))
		ctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		st, err := es.OutboxStats(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(pending, st.Pending)
		o.ObserveInt64(parked, st.Parked)
		var age float64
		if !st.OldestPending.IsZero() {
			age = time.Since(st.OldestPending).Seconds()
		}
		o.ObserveFloat64(lag, age)
		return nil
	}, pending, lag, parked, published)
	return err
}
