package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/inbox"
)

// ErrPublish wraps failures to get a JetStream acknowledgement.
var ErrPublish = errors.New("catga: outbox: publish failed")

// Publisher is the part of jetstream.JetStream the relay uses.
type Publisher interface {
	PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
}

// DefaultSubject publishes an event on "events.<type>".
func DefaultSubject(rec eventstore.Record) string { return "events." + rec.Type }

// Option configures a [Relay].
type Option func(*Config)

// Config is the relay's configuration; build it with options.
type Config struct {
	Subject        func(eventstore.Record) string
	BatchSize      int           // entries per claim (default 256)
	PollInterval   time.Duration // fallback poll (default 1s)
	PublishTimeout time.Duration // per claim, for all acks (default 5s)
	RetryBackoff   time.Duration // pause after a failed claim (default 200ms)
	Name           string        // relay owner id (default a new UUID)
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
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
	if c.PollInterval <= 0 || c.PublishTimeout <= 0 || c.RetryBackoff <= 0 {
		errs = append(errs, errors.New("catga: outbox: intervals and timeouts must be positive"))
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
// [DefaultSubject]). The JetStream stream must capture it.
func WithSubject(f func(eventstore.Record) string) Option { return func(c *Config) { c.Subject = f } }

// WithBatchSize sets how many entries one claim takes.
func WithBatchSize(n int) Option { return func(c *Config) { c.BatchSize = n } }

// WithPollInterval sets the fallback poll interval, which bounds the delay
// when a wake-up is lost.
func WithPollInterval(d time.Duration) Option { return func(c *Config) { c.PollInterval = d } }

// WithPublishTimeout bounds how long a claim waits for acknowledgements.
func WithPublishTimeout(d time.Duration) Option { return func(c *Config) { c.PublishTimeout = d } }

// WithRetryBackoff sets the pause after a failed claim.
func WithRetryBackoff(d time.Duration) Option { return func(c *Config) { c.RetryBackoff = d } }

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
	Published  uint64 // acknowledged as new by JetStream
	Duplicates uint64 // acknowledged as duplicates (a republish after a crash)
	Failed     uint64 // publish errors or missing acknowledgements
	Claims     uint64 // claims that marked entries published
}

// Relay publishes pending outbox entries to JetStream. Run one per peer per
// store; they cooperate through the store.
type Relay struct {
	src    eventstore.Outbox
	pub    Publisher
	cfg    Config
	tracer trace.Tracer

	published, duplicates, failed, claims atomic.Uint64
}

// NewRelay returns a relay from src to pub (a jetstream.JetStream).
func NewRelay(src eventstore.Outbox, pub Publisher, opts ...Option) (*Relay, error) {
	cfg := Config{
		Subject: DefaultSubject, BatchSize: 256, PollInterval: time.Second,
		PublishTimeout: 5 * time.Second, RetryBackoff: 200 * time.Millisecond,
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
	return &Relay{src: src, pub: pub, cfg: cfg, tracer: cfg.TracerProvider.Tracer("github.com/catga-go/catga/libs/catga/outbox")}, nil
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{Published: r.published.Load(), Duplicates: r.duplicates.Load(), Failed: r.failed.Load(), Claims: r.claims.Load()}
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
	for {
		err := r.Drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.cfg.Logger.Warn("catga: outbox: relay round failed", "relay", r.cfg.Name, "err", err)
			if !sleep(ctx, r.cfg.RetryBackoff) {
				return nil
			}
		}
		poll.Reset(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-poll.C:
		}
	}
}

// Drain claims and publishes until nothing is left to claim (or another
// relay holds what is left), a claim fails, or ctx ends.
func (r *Relay) Drain(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := r.src.Claim(ctx, r.cfg.Name, r.cfg.BatchSize, r.publish)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		r.claims.Add(1)
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
	for ctx.Err() == nil {
		l, err := r.src.Listen(ctx)
		if first {
			close(listening)
			first = false
		}
		if err != nil {
			r.cfg.Logger.Warn("catga: outbox: listen failed; polling", "relay", r.cfg.Name, "err", err)
			if !sleep(ctx, r.cfg.PollInterval) {
				return
			}
			continue
		}
		for {
			if err = l.Wait(ctx); err != nil {
				break
			}
			signal()
		}
		_ = l.Close()
		if ctx.Err() != nil {
			return
		}
		r.cfg.Logger.Warn("catga: outbox: listener broke; reconnecting", "relay", r.cfg.Name, "err", err)
		signal() // commits may have gone unnoticed while it was broken
		if !sleep(ctx, r.cfg.RetryBackoff) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type inflight struct {
	stream int // index into queues
	rec    *eventstore.Record
	fut    jetstream.PubAckFuture
}

// publish sends recs in waves: wave k holds the k-th entry of every stream
// in the claim, so streams go out in parallel while each stream's next event
// waits for the previous one's acknowledgement. A stream whose event fails
// stops there; the rest of it stays pending and keeps its order.
func (r *Relay) publish(ctx context.Context, recs []eventstore.Record) ([]int64, error) {
	ctx, span := r.tracer.Start(ctx, "catga.outbox.publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.Int("catga.outbox.entries", len(recs))))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()

	index := map[string]int{}
	var queues [][]*eventstore.Record
	for i := range recs {
		k, ok := index[recs[i].StreamID]
		if !ok {
			k = len(queues)
			index[recs[i].StreamID] = k
			queues = append(queues, nil)
		}
		queues[k] = append(queues[k], &recs[i])
	}
	active := make([]int, len(queues))
	for i := range active {
		active[i] = i
	}
	done := make([]int64, 0, len(recs))
	var errs []error
	for wave := 0; len(active) > 0; wave++ {
		batch := make([]inflight, 0, len(active))
		for _, k := range active {
			rec := queues[k][wave]
			fut, err := r.pub.PublishMsgAsync(r.message(rec), jetstream.WithMsgID(rec.ID))
			if err != nil {
				r.failed.Add(1)
				errs = append(errs, fmt.Errorf("%w: %s@%d: %w", ErrPublish, rec.StreamID, rec.Version, err))
				continue
			}
			batch = append(batch, inflight{stream: k, rec: rec, fut: fut})
		}
		next := active[:0:0]
		for _, f := range batch {
			select {
			case ack := <-f.fut.Ok():
				if ack.Duplicate {
					r.duplicates.Add(1)
				} else {
					r.published.Add(1)
				}
				done = append(done, f.rec.Position)
				if wave+1 < len(queues[f.stream]) {
					next = append(next, f.stream)
				}
			case err := <-f.fut.Err():
				r.failed.Add(1)
				errs = append(errs, fmt.Errorf("%w: %s@%d: %w", ErrPublish, f.rec.StreamID, f.rec.Version, err))
			case <-ctx.Done():
				r.failed.Add(1)
				errs = append(errs, fmt.Errorf("%w: %s@%d: no ack: %w", ErrPublish, f.rec.StreamID, f.rec.Version, ctx.Err()))
			}
		}
		active = next
	}
	err := errors.Join(errs...)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	return done, err
}

func (r *Relay) message(rec *eventstore.Record) *nats.Msg {
	msg := nats.NewMsg(r.cfg.Subject(*rec))
	msg.Data = rec.Data
	msg.Header.Set(inbox.HeaderEventType, rec.Type)
	msg.Header.Set(inbox.HeaderStream, rec.StreamID)
	msg.Header.Set(inbox.HeaderVersion, strconv.FormatInt(rec.Version, 10))
	msg.Header.Set(inbox.HeaderPosition, strconv.FormatInt(rec.Position, 10))
	if rec.CorrelationID != "" {
		msg.Header.Set(inbox.HeaderCorrelationID, rec.CorrelationID)
	}
	if rec.CausationID != "" {
		msg.Header.Set(inbox.HeaderCausationID, rec.CausationID)
	}
	for k, v := range rec.Trace {
		msg.Header[k] = []string{v} // as stored: W3C keys are lower case, and Set would canonicalise them
	}
	return msg
}
