package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
	"github.com/catga-go/catga/libs/catga/tracing"
	"github.com/catga-go/catga/libs/catga/transport"
)

var (
	// ErrPublish wraps failures to get an event stored by the broker.
	ErrPublish = errors.New("catga: outbox: publish failed")
	// ErrClaim wraps failures of the store to claim or to record a claim.
	ErrClaim = errors.New("catga: outbox: claim failed")
)

// Publisher stores a message durably: the durable-event half of a
// transport. [transport.Transport] satisfies it (NATS: a JetStream publish
// acknowledged by the stream), so the relay publishes on the same path as
// [transport.PublishEvent] and the events reach [transport.ConsumeEvents].
//
// Contract: PublishDurable returns nil once msg is stored; a message whose
// Nats-Msg-Id header was already stored (within the deduplication window)
// is stored once. It is safe for concurrent use.
type Publisher interface {
	PublishDurable(ctx context.Context, msg *transport.Msg) error
}

// DefaultSubject publishes an event on transport.EventPrefix + its type
// name ("catga.evt.order.placed"), where [transport.ConsumeEvents] reads
// the events of a topic named as the event is registered (see
// transport.NewTopic).
func DefaultSubject(rec eventstore.Record) string { return transport.EventPrefix + rec.Type }

// Option configures a [Relay].
type Option func(*Config)

// Config is the relay's configuration; build it with options.
type Config struct {
	Subject        func(eventstore.Record) string
	BatchSize      int           // entries per claim (default 256)
	PollInterval   time.Duration // fallback poll (default 1s)
	PublishTimeout time.Duration // per claim, for all publishes (default 5s)
	// MaxAttempts bounds the publishes of one entry before it is parked in
	// the store's dead-letter table (default 100). An error marked
	// permanent parks it at once.
	MaxAttempts int
	// Linger is how long a woken relay waits before claiming, so that
	// commits arriving together are published in one claim (default 0).
	Linger time.Duration
	// RetryInitial and RetryMax shape the exponential, jittered wait after
	// a failure: of a claim (the database) before the relay tries again,
	// and of an entry before its stream is tried again (defaults 200ms, 30s).
	RetryInitial, RetryMax time.Duration
	Name                   string // relay owner id (default a new UUID)
	Logger                 *slog.Logger
	TracerProvider         trace.TracerProvider
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Subject == nil {
		errs = append(errs, errors.New("catga: outbox: nil subject function"))
	}
	if c.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("catga: outbox: batch size %d must be positive", c.BatchSize))
	}
	if c.MaxAttempts <= 0 {
		errs = append(errs, fmt.Errorf("catga: outbox: max attempts %d must be positive", c.MaxAttempts))
	}
	if c.Linger < 0 {
		errs = append(errs, errors.New("catga: outbox: negative linger"))
	}
	if c.PollInterval <= 0 || c.PublishTimeout <= 0 || c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		errs = append(errs, errors.New("catga: outbox: intervals and timeouts must be positive, retry max at least retry initial"))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("catga: outbox: empty relay name"))
	}
	if c.Logger == nil || c.TracerProvider == nil {
		errs = append(errs, errors.New("catga: outbox: nil logger or tracer provider"))
	}
	return errors.Join(errs...)
}

// WithSubject sets the subject an event is published on (default
// [DefaultSubject]). The broker's durable stream must capture it.
func WithSubject(f func(eventstore.Record) string) Option { return func(c *Config) { c.Subject = f } }

// WithBatchSize sets how many entries one claim takes.
func WithBatchSize(n int) Option { return func(c *Config) { c.BatchSize = n } }

// WithPollInterval sets the fallback poll interval, which bounds the delay
// when a wake-up is lost.
func WithPollInterval(d time.Duration) Option { return func(c *Config) { c.PollInterval = d } }

// WithPublishTimeout bounds how long a claim waits for its publishes.
func WithPublishTimeout(d time.Duration) Option { return func(c *Config) { c.PublishTimeout = d } }

// WithLinger sets how long a woken relay waits for more commits before it
// claims (0: claim at once).
func WithLinger(d time.Duration) Option { return func(c *Config) { c.Linger = d } }

// WithMaxAttempts bounds the publishes of one entry before it is parked.
func WithMaxAttempts(n int) Option { return func(c *Config) { c.MaxAttempts = n } }

// WithRetry sets the exponential wait after a failure, from initial up to
// max.
func WithRetry(initial, max time.Duration) Option {
	return func(c *Config) { c.RetryInitial, c.RetryMax = initial, max }
}

// WithName sets the relay's owner id (used for leases and logs).
func WithName(name string) Option { return func(c *Config) { c.Name = name } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *Config) { c.TracerProvider = tp }
}

// Stats counts a relay's work since it was created.
type Stats struct {
	Published uint64 // stored by the broker (republished copies included)
	Failed    uint64 // failed publishes (each held for a retry or parked)
	Parked    uint64 // entries given up on, moved to the dead-letter table
	Claims    uint64 // claims that handed entries to the relay
}

// Relay publishes pending outbox entries through a [Publisher]. Run one per
// peer per store; they cooperate through the store.
type Relay struct {
	src    eventstore.Outbox
	pub    Publisher
	cfg    Config
	retry  backoff.Policy
	tracer trace.Tracer
	msgs   *tracing.Tracer // per-message producer spans, in the appending request's trace

	published, failed, parked, claims atomic.Uint64
}

// NewRelay returns a relay from src to pub (typically the service's
// transport).
func NewRelay(src eventstore.Outbox, pub Publisher, opts ...Option) (*Relay, error) {
	cfg := Config{
		Subject: DefaultSubject, BatchSize: 256, PollInterval: time.Second,
		PublishTimeout: 5 * time.Second, MaxAttempts: 100, RetryInitial: 200 * time.Millisecond, RetryMax: 30 * time.Second,
		Name: uuid.NewString(), Logger: slog.New(slog.DiscardHandler), TracerProvider: otel.GetTracerProvider(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil || pub == nil {
		return nil, errors.New("catga: outbox: nil source or publisher")
	}
	return &Relay{
		src: src, pub: pub, cfg: cfg,
		retry:  backoff.Policy{Initial: cfg.RetryInitial, Max: cfg.RetryMax, Jitter: 0.2},
		tracer: cfg.TracerProvider.Tracer("github.com/catga-go/catga/libs/catga/outbox"),
		msgs:   tracing.New(tracing.WithTracerProvider(cfg.TracerProvider)),
	}, nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{Published: r.published.Load(), Failed: r.failed.Load(), Parked: r.parked.Load(), Claims: r.claims.Load()}
}

// Run relays until ctx ends, then returns nil. It drains the outbox at
// start, after every wake-up and every poll interval. It owns one
// listener goroutine and waits for it before returning.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	listening := make(chan struct{})
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { r.listen(lctx, wake, listening) })
	// Listen before the first drain, so a commit in between wakes us.
	select {
	case <-listening:
	case <-ctx.Done():
		return nil
	}
	poll := time.NewTimer(r.cfg.PollInterval)
	defer poll.Stop()
	failures := 0
	for {
		err := r.Drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			failures = 0
		case errors.Is(err, ErrClaim):
			failures++
			r.cfg.Logger.Warn("catga: outbox: relay round failed", "relay", r.cfg.Name, "err", err)
			if !backoff.Sleep(ctx, r.retry.Delay(failures)) {
				return nil
			}
		default:
			// Entries that failed to publish are held in the store, each
			// stream on its own schedule: nothing to wait for here.
			failures = 0
			r.cfg.Logger.Warn("catga: outbox: publishes failed", "relay", r.cfg.Name, "err", err)
		}
		poll.Reset(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			if !backoff.Sleep(ctx, r.cfg.Linger) {
				return nil
			}
		case <-poll.C:
		}
	}
}

// Drain claims and publishes until nothing is left to claim (or another
// relay holds what is left, or it waits for a retry), a claim fails, or ctx
// ends. A failed publish does not stop it: the entry's stream is held (or
// the entry parked) and the others go on; a stream that failed is not tried
// again in the same Drain. It reports the failures at the end in an error
// wrapping [ErrPublish], and a failed claim in one wrapping [ErrClaim].
func (r *Relay) Drain(ctx context.Context) error {
	var failures []error
	failed := map[string]bool{}
	for ctx.Err() == nil {
		res, err := r.src.Claim(ctx, r.cfg.Name, r.cfg.BatchSize, func(ctx context.Context, entries []eventstore.Pending) (eventstore.Outcome, error) {
			fresh := entries[:0:0]
			for _, e := range entries {
				if !failed[e.StreamID] {
					fresh = append(fresh, e)
				}
			}
			out, errs := r.publish(ctx, fresh)
			for _, f := range errs {
				failed[f.stream] = true
				failures = append(failures, f.err)
			}
			return out, nil
		})
		if res.Claimed > 0 {
			r.claims.Add(1)
		}
		r.parked.Add(uint64(res.Parked))
		if err != nil {
			return errors.Join(append(failures, fmt.Errorf("%w: %w", ErrClaim, err))...)
		}
		if res.Published+res.Held+res.Parked == 0 {
			return errors.Join(failures...)
		}
	}
	return ctx.Err()
}

// listen keeps a listener open and turns its wake-ups into signals on wake.
// It closes listening after its first attempt, successful or not.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}, listening chan struct{}) {
	first := true
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	broken := 0
	for ctx.Err() == nil {
		l, err := r.src.Listen(ctx)
		if first {
			close(listening)
			first = false
		}
		if err != nil {
			broken++
			r.cfg.Logger.Warn("catga: outbox: listen failed; polling", "relay", r.cfg.Name, "err", err)
			if !backoff.Sleep(ctx, r.retry.Delay(broken)) {
				return
			}
			continue
		}
		for {
			if err = l.Wait(ctx); err != nil {
				break
			}
			broken = 0
			signal()
		}
		_ = l.Close()
		if ctx.Err() != nil {
			return
		}
		broken++
		r.cfg.Logger.Warn("catga: outbox: listener broke; reconnecting", "relay", r.cfg.Name, "err", err)
		signal() // commits may have gone unnoticed while it was broken
		if !backoff.Sleep(ctx, r.retry.Delay(broken)) {
			return
		}
	}
}

// streamError is a failed publish and its stream.
type streamError struct {
	stream string
	err    error
}

// publishOne publishes rec under a producer span whose parent is the
// appending request's span (from the stored trace context), so a consumer
// of the event joins that request's trace through this span.
func (r *Relay) publishOne(ctx context.Context, rec *eventstore.Record) error {
	subject := r.cfg.Subject(*rec)
	msg := message(subject, rec)
	ctx, span := r.msgs.StartSend(r.msgs.Extract(ctx, msg.Header), trace.SpanKindProducer, subject, rec.ID, msg.Header)
	err := r.pub.PublishDurable(ctx, msg)
	tracing.End(span, err)
	return err
}

// publish sends entries in waves: wave k holds the k-th entry of every
// stream in the claim, published concurrently, so streams go out in
// parallel while each stream's next event waits for the previous one to be
// stored. A stream whose event fails stops there: the failure is reported
// (held for a retry, or parked when permanent or out of attempts) and the
// rest of the stream stays pending, in order.
func (r *Relay) publish(ctx context.Context, entries []eventstore.Pending) (eventstore.Outcome, []streamError) {
	if len(entries) == 0 {
		return eventstore.Outcome{}, nil
	}
	// The batch is the relay's own work; each message gets a producer span
	// of its own in the trace of the request that appended its event.
	ctx, span := r.tracer.Start(ctx, "catga.outbox.publish", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.Int("catga.outbox.entries", len(entries))))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()

	index := map[string]int{}
	var queues [][]*eventstore.Pending
	for i := range entries {
		k, ok := index[entries[i].StreamID]
		if !ok {
			k = len(queues)
			index[entries[i].StreamID] = k
			queues = append(queues, nil)
		}
		queues[k] = append(queues[k], &entries[i])
	}
	active := make([]int, len(queues))
	for i := range active {
		active[i] = i
	}
	var out eventstore.Outcome
	var errs []streamError
	results := make([]error, len(queues))
	for wave := 0; len(active) > 0; wave++ {
		var wg sync.WaitGroup
		for _, k := range active {
			e := queues[k][wave]
			wg.Go(func() { results[k] = r.publishOne(ctx, &e.Record) })
		}
		wg.Wait()
		next := active[:0]
		for _, k := range active {
			e := queues[k][wave]
			if err := results[k]; err != nil {
				r.failed.Add(1)
				err = fmt.Errorf("%w: %s@%d: %w", ErrPublish, e.StreamID, e.Version, err)
				errs = append(errs, streamError{stream: e.StreamID, err: err})
				attempts := e.Attempts + 1
				out.Failed = append(out.Failed, eventstore.Failure{
					Position: e.Position, Reason: err.Error(), RetryAfter: r.retry.Delay(attempts),
					Park: attempts >= r.cfg.MaxAttempts || !catga.IsRetryable(err),
				})
				continue
			}
			r.published.Add(1)
			out.Published = append(out.Published, e.Position)
			if wave+1 < len(queues[k]) {
				next = append(next, k)
			}
		}
		active = next
	}
	if len(errs) > 0 {
		span.RecordError(errs[0].err)
		span.SetStatus(codes.Error, fmt.Sprintf("%d publishes failed", len(errs)))
	}
	return out, errs
}
