package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/outbox"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// Service describes a service to the chassis.
type Service struct {
	// Name of the service, e.g. "payment": letters, digits, '-' and '_'.
	Name string
	// Events registers the service's event (and snapshot) types, before
	// the event store opens. Optional.
	Events func(reg *eventstore.Registry) error
	// Setup wires the service into the running peer: registers mediator
	// handlers and serves routes, starts consumers, registers saga
	// definitions, mounts HTTP handlers, starts goroutines with
	// [Peer.Go]. It must not block. ctx ends when the peer starts to shut
	// down. Optional.
	Setup func(ctx context.Context, p *Peer) error
}

// Peer is a running instance of a service, handed to [Service.Setup].
type Peer struct {
	Config Config
	// Transport is the peer's NATS transport (requests, events, discovery).
	Transport *natstransport.Transport
	// Mediator holds the service's handlers; serve them over the
	// transport with transport.Serve / transport.ConsumeEvents. It
	// recovers panics and calls requests' Validate methods.
	Mediator *mediator.Mediator
	// Events is the service's event store. The peer relays its outbox.
	Events *EventStore
	// Sagas runs the service's sagas. Register definitions in Setup; the
	// peer starts the engine after Setup returns and closes it at
	// shutdown, handing its leases to the other peers.
	Sagas *saga.Engine
	// HTTP is the peer's router. The peer serves /healthz, /readyz and
	// /metrics on it and traces and measures every request.
	HTTP *http.ServeMux
	// Logger writes JSON lines with the trace and span ids of the
	// context's span.
	Logger *slog.Logger
	// Meter is the service's meter, exported on /metrics.
	Meter metric.Meter
	// TracerProvider is the peer's tracer provider (also installed as
	// OpenTelemetry's global one).
	TracerProvider trace.TracerProvider

	ctx      context.Context // ended when shutdown starts
	groupCtx context.Context // ended at shutdown's "goroutines" step
	addr     net.Addr
	// failed is closed when a goroutine fails: Run then shuts the peer down
	// in the usual order (so the others keep their context until then).
	failed   chan struct{}
	failOnce sync.Once

	goMu     sync.Mutex // orders Go's calls before the shutdown's Wait
	group    *errgroup.Group
	goClosed bool
	stopping atomic.Bool
	checks   []check
}

// Go runs fn on a goroutine owned by the peer: shutdown ends fn's context
// (after NATS is drained and the saga leases are handed off, so fn can
// still read and write the event store meanwhile) and waits for it. An
// error from fn, or a panic, stops the peer: [Run] returns it. Once the
// shutdown waits for the goroutines, Go starts nothing (and logs it).
func (p *Peer) Go(name string, fn func(ctx context.Context) error) {
	p.goMu.Lock()
	defer p.goMu.Unlock()
	if p.goClosed {
		p.Logger.Warn("goroutine not started: the peer is shutting down", "goroutine", name)
		return
	}
	p.group.Go(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("catga: %s: goroutine %s panicked: %v", p.Config.Service, name, r)
				p.failOnce.Do(func() { close(p.failed) })
			}
		}()
		if err := fn(p.groupCtx); err != nil && p.groupCtx.Err() == nil {
			p.Logger.Error("goroutine failed; stopping the peer", "goroutine", name, "err", err)
			p.failOnce.Do(func() { close(p.failed) })
			return fmt.Errorf("catga: %s: %s: %w", p.Config.Service, name, err)
		}
		return nil
	})
}

// Context ends when the peer starts to shut down.
func (p *Peer) Context() context.Context { return p.ctx }

// Addr is the address the peer's HTTP server listens on (useful with
// CATGA_HTTP_ADDR=127.0.0.1:0).
func (p *Peer) Addr() net.Addr { return p.addr }

// Option configures [Run].
type Option func(*options)

type options struct {
	logger  *slog.Logger
	tp      trace.TracerProvider
	ready   func(*Peer)
	observe func(step string)
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTracerProvider makes the peer trace into tp (a test's in-memory
// recorder, say) instead of a provider of its own configured from the
// OTEL_* environment.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tp = tp } }

// WithReady calls fn once the peer is serving: Setup returned, the saga
// engine started and the HTTP server listening.
func WithReady(fn func(*Peer)) Option { return func(o *options) { o.ready = fn } }

// Run runs one peer of svc until ctx ends or a goroutine of its fails, then
// shuts it down in order (see [Peer.shutdown]); it returns the first error
// that stopped it, or nil after a requested stop.
//
// Start-up: validate cfg (cfg.Service defaults to svc.Name), listen on
// HTTPAddr, connect to NATS (announcing the peer for discovery), set up
// telemetry, register svc's event types and open the event store, open the
// saga store, start the outbox relay, call svc.Setup, start the saga
// engine, serve HTTP.
func Run(ctx context.Context, cfg Config, svc Service, opts ...Option) (err error) {
	o := options{logger: slog.New(slog.DiscardHandler), observe: func(string) {}}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Service == "" {
		cfg.Service = svc.Name
	}
	if svc.Name != "" && svc.Name != cfg.Service {
		return fmt.Errorf("catga: config is for service %q, not %q", cfg.Service, svc.Name)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := o.logger.With("service", cfg.Service)
	r := &runner{cfg: cfg, log: log, observe: o.observe}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.shutdown())
		}
	}()
	if err := r.start(ctx, svc, o); err != nil {
		return err
	}
	if o.ready != nil {
		o.ready(r.p)
	}
	log.Info("peer started", "id", r.tr.ID(), "http", r.p.addr.String(), "events", r.p.Events.Backend(), "sagas", r.sagas.kind)

	var cause error
	select {
	case <-ctx.Done():
	case <-r.p.failed: // a goroutine failed
	case cause = <-r.serveErr:
		cause = fmt.Errorf("catga: %s: HTTP server: %w", cfg.Service, cause)
	}
	log.Info("peer stopping")
	err = errors.Join(cause, r.shutdown())
	if err == nil {
		log.Info("peer stopped")
	}
	return err
}

// runner holds what Run started, for the shutdown.
type runner struct {
	cfg     Config
	log     *slog.Logger
	observe func(step string)

	p          *Peer
	cancel     context.CancelFunc // ends p.ctx
	ln         net.Listener
	srv        *http.Server
	serveErr   chan error
	tr         *natstransport.Transport
	tel        *telemetry
	events     *EventStore
	sagas      *sagaStore
	engine     *saga.Engine
	relayStop  context.CancelFunc
	relayDone  chan struct{}
	group      *errgroup.Group
	groupCtx   context.Context
	groupStop  context.CancelFunc
	shutdownOK atomic.Bool
}

func (r *runner) start(ctx context.Context, svc Service, o options) error {
	cfg, log := r.cfg, r.log
	var err error
	if r.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return fmt.Errorf("catga: %s: %s: %w", cfg.Service, EnvHTTPAddr, err)
	}
	r.tr, err = natstransport.Connect(natstransport.Config{
		URLs: cfg.NATSURLs, Name: cfg.Service, Service: cfg.Service, Version: cfg.Version,
		Replicas:     cfg.NATSReplicas, // the idempotency bucket takes the stream's
		Metadata:     discoveryMetadata(r.ln.Addr()),
		DrainTimeout: drainBudget(cfg.ShutdownTimeout), Logger: log,
	})
	if err != nil {
		return fmt.Errorf("catga: %s: connect to NATS %v: %w", cfg.Service, redactURLs(cfg.NATSURLs), err)
	}
	if r.tel, err = newTelemetry(ctx, cfg, r.tr.ID(), o.tp); err != nil {
		return err
	}
	reg := eventstore.NewRegistry()
	if svc.Events != nil {
		if err := svc.Events(reg); err != nil {
			return fmt.Errorf("catga: %s: register events: %w", cfg.Service, err)
		}
	}
	if r.events, err = openEventStore(ctx, cfg, reg, r.tel.tp, log); err != nil {
		return err
	}
	if r.sagas, err = openSagaStore(ctx, cfg, log); err != nil {
		return err
	}
	meter := r.tel.meter()
	hook, err := sagaMetrics(meter)
	if err != nil {
		return err
	}
	r.engine = saga.New(r.sagas, saga.WithOwner(r.tr.ID()), saga.WithLogger(log),
		saga.WithTracerProvider(r.tel.tp), saga.WithHook(hook))
	relay, err := outbox.NewRelay(r.events.b, r.tr, outbox.WithName(r.tr.ID()), outbox.WithLogger(log),
		outbox.WithTracerProvider(r.tel.tp))
	if err != nil {
		return err
	}
	if err := outboxMetrics(meter, r.events, relay); err != nil {
		return err
	}

	pctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	gctx, gstop := context.WithCancel(context.WithoutCancel(ctx))
	r.groupStop = gstop
	// A plain group: a failing goroutine must not end the others' context
	// before shutdown's "goroutines" step; it stops the peer through failed.
	r.group, r.groupCtx = &errgroup.Group{}, gctx
	counted, err := handledMetrics(meter)
	if err != nil {
		return err
	}
	mw := []mediator.Middleware{counted, mediator.Recover(), mediator.Validate()}
	if cfg.TestHandlerDelay > 0 {
		log.Warn("test fault injection on: every request served waits before and after its handler",
			"env", EnvTestHandlerDelay, "delay", cfg.TestHandlerDelay.String())
		mw = append(mw, delayRequests(cfg.TestHandlerDelay))
	}
	r.p = &Peer{
		Config: cfg, Transport: r.tr, Mediator: mediator.New(mediator.WithMiddleware(mw...)),
		Events: r.events, Sagas: r.engine, HTTP: http.NewServeMux(), Logger: log, Meter: meter, TracerProvider: r.tel.tp,
		ctx: pctx, group: r.group, groupCtx: r.groupCtx, addr: r.ln.Addr(), failed: make(chan struct{}),
	}
	// The relay stops on its own, before the transport closes (see shutdown).
	rctx, rstop := context.WithCancel(r.groupCtx)
	r.relayStop, r.relayDone = rstop, make(chan struct{})
	r.p.Go("outbox-relay", func(context.Context) error {
		defer close(r.relayDone)
		return relay.Run(rctx)
	})
	r.p.Go("inbox-pruner", func(ctx context.Context) error {
		return inbox.RunPruner(ctx, r.events.b, InboxRetention, time.Hour, log)
	})

	if svc.Setup != nil {
		if err := safeSetup(pctx, svc.Setup, r.p); err != nil {
			return fmt.Errorf("catga: %s: setup: %w", cfg.Service, err)
		}
	}
	if err := r.engine.Start(); err != nil {
		return fmt.Errorf("catga: %s: saga engine: %w", cfg.Service, err)
	}
	r.p.mountConsole()
	r.p.checks = []check{
		{"nats", r.natsReady},
		{"sagas", r.sagas.ping},
		{"events", r.events.Ping},
	}
	r.srv = r.p.server(r.tel)
	r.serveErr = make(chan error, 1)
	go func() {
		if err := r.srv.Serve(r.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.serveErr <- err
		}
	}()
	return nil
}

// discoveryMetadata is what the peer announces beside its id, so that
// `catga peers` can say where each peer is: its HTTP address and host.
func discoveryMetadata(http net.Addr) map[string]string {
	md := map[string]string{"http": http.String()}
	if h, err := os.Hostname(); err == nil {
		md["host"] = h
	}
	return md
}

func safeSetup(ctx context.Context, setup func(context.Context, *Peer) error, p *Peer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return setup(ctx, p)
}

// natsReady checks the transport's connection with a round trip.
func (r *runner) natsReady(ctx context.Context) error {
	nc := r.tr.Conn()
	if !nc.IsConnected() {
		return fmt.Errorf("not connected (%s)", nc.Status())
	}
	return nc.FlushWithContext(ctx)
}

// shutdown stops the peer, within the configured shutdown timeout, in
// this order:
//
//  1. http: readiness turns 503, the peer serves on for the drain delay
//     (load balancers take it out meanwhile), then the HTTP server stops
//     taking requests, finishing those in flight;
//  2. relay: the outbox relay stops, so it never publishes on a closing
//     connection (a failed publish would hold its stream back); other
//     peers relay what remains;
//  3. nats: the transport leaves discovery and drains: consumers and
//     served routes stop taking messages and finish those in flight;
//  4. sagas: the engine stops its sagas and releases their leases, so
//     other peers resume them at once (the saga store has a connection of
//     its own, which is still up);
//  5. goroutines: the contexts of the goroutines started with Peer.Go end,
//     and they are waited for;
//  6. stores: the saga store and the event store close;
//  7. telemetry: spans and metrics are flushed.
//
// It is safe to call on a peer that only partly started, and more than once.
func (r *runner) shutdown() error {
	if !r.shutdownOK.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
	defer cancel()
	// HTTP (with the relay) and the NATS drain each get at most their
	// budget, so the saga hand-off and the telemetry flush always have the
	// rest of the timeout, however long a request or the broker hangs.
	httpCtx, cancelHTTP := context.WithTimeout(ctx, drainBudget(r.cfg.ShutdownTimeout))
	defer cancelHTTP()
	var errs []error
	step := func(name string, fn func() error) {
		r.observe(name)
		if err := fn(); err != nil {
			r.log.Warn("shutdown step failed", "step", name, "err", err)
			errs = append(errs, fmt.Errorf("catga: %s: shutdown %s: %w", r.cfg.Service, name, err))
		}
	}
	if r.cancel != nil {
		r.cancel()
	}
	if r.p != nil {
		r.p.stopping.Store(true)
	}
	if r.srv != nil {
		step("http", func() error {
			// Readiness answers 503 from here on; while balancers polling
			// it take the peer out, it still serves what they send.
			if d := min(r.cfg.DrainDelay, drainBudget(r.cfg.ShutdownTimeout)/2); d > 0 {
				r.log.Info("peer draining: not ready, serving until the listener closes", "for", d.String())
				_ = sleep(httpCtx, d)
			}
			return r.srv.Shutdown(httpCtx)
		})
	} else if r.ln != nil {
		_ = r.ln.Close()
	}
	if r.relayStop != nil {
		step("relay", func() error {
			r.relayStop()
			return waitCtx(httpCtx, r.relayDone)
		})
	}
	if r.tr != nil {
		step("nats", r.tr.Close)
	}
	if r.engine != nil {
		step("sagas", func() error { return r.engine.Close(ctx) })
	}
	var groupErr error
	if r.group != nil {
		step("goroutines", func() error {
			r.groupStop()
			r.p.goMu.Lock()
			r.p.goClosed = true
			r.p.goMu.Unlock()
			waited := make(chan error, 1)
			go func() { waited <- r.group.Wait() }()
			select {
			case groupErr = <-waited:
				return nil
			case <-ctx.Done():
				return fmt.Errorf("gave up: %w", ctx.Err())
			}
		})
	}
	step("stores", func() error {
		if r.sagas != nil {
			r.sagas.close()
		}
		if r.events != nil {
			r.events.b.close()
		}
		return nil
	})
	if r.tel != nil {
		step("telemetry", func() error { return r.tel.shutdown(ctx) })
	}
	return errors.Join(append([]error{groupErr}, errs...)...)
}

// drainBudget is the part of the shutdown timeout that stopping HTTP (with
// the relay) may take, and again the part the NATS drain may take; the
// remaining fifth is for the saga hand-off, the goroutines, the stores and
// the telemetry flush.
func drainBudget(timeout time.Duration) time.Duration { return timeout * 2 / 5 }

// waitCtx waits for done, or returns ctx's error.
func waitCtx(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gave up: %w", ctx.Err())
	}
}

// InboxRetention is how long the peer keeps inbox records (pruning older
// ones hourly): far longer than a message can be redelivered (the
// consumers' retries last minutes, the broker's duplicate window two).
const InboxRetention = 7 * 24 * time.Hour

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second
