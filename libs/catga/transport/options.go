package transport

import (
	"log/slog"
	"time"

	"github.com/catga-go/catga/libs/catga/tracing"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// Option configures Route, Serve and the event functions. Each says where it
// applies; elsewhere it is ignored.
type Option func(*options)

type options struct {
	codec          Codec
	maxSize        int
	maxAttempts    int
	attemptTimeout time.Duration
	backoff        time.Duration
	maxBackoff     time.Duration
	store          idempotency.Store
	noStore        bool
	lease          time.Duration
	replyTTL       time.Duration
	concurrency    int
	consumer       ConsumerConfig
	tracer         *tracing.Tracer
	logger         *slog.Logger
}

func newOptions(opts []Option) *options {
	o := &options{
		codec:          JSON{},
		maxSize:        1 << 20,
		maxAttempts:    4,
		attemptTimeout: 2 * time.Second,
		backoff:        20 * time.Millisecond,
		maxBackoff:     time.Second,
		lease:          5 * time.Second,
		replyTTL:       24 * time.Hour,
		concurrency:    DefaultConcurrency,
	}
	for _, opt := range opts {
		opt(o)
	}
	if o.tracer == nil {
		o.tracer = tracing.New()
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithCodec replaces the JSON codec. Sender and receiver must agree.
func WithCodec(c Codec) Option { return func(o *options) { o.codec = c } }

// WithMaxSize bounds encoded message bodies (default 1 MiB). Larger ones are
// refused on both sides with [ErrTooLarge].
func WithMaxSize(n int) Option { return func(o *options) { o.maxSize = n } }

// WithRetry sets how a sender retries timeouts, no-responders and busy
// replies: at most attempts tries in all (default 4), waiting about base,
// 2*base, ... (default 20ms, jittered, capped at 1s) between them. Retries
// keep the message id and never outlast the caller's deadline.
func WithRetry(attempts int, base time.Duration) Option {
	return func(o *options) { o.maxAttempts, o.backoff = max(attempts, 1), base }
}

// WithAttemptTimeout bounds each attempt of a request (default 2s); the
// caller's deadline bounds them all.
func WithAttemptTimeout(d time.Duration) Option { return func(o *options) { o.attemptTimeout = d } }

// WithIdempotency makes Serve deduplicate by message key through s (say,
// idempotency/redisstore in a deployment that runs Redis). Without it Serve uses the store the
// transport shares between its peers (see StoreProvider: a JetStream
// key-value bucket on NATS), or else a bounded memory store of its own.
func WithIdempotency(s idempotency.Store) Option { return func(o *options) { o.store = s } }

// WithoutIdempotency turns deduplication off in Serve.
func WithoutIdempotency() Option { return func(o *options) { o.noStore = true } }

// WithLease sets how long an unfinished claim on a message id blocks other
// peers (default 5s): the time a crashed handler's message waits before a
// retry may run it elsewhere. It also bounds the handler's context, so that
// a handler cannot keep running after its claim lapsed.
func WithLease(d time.Duration) Option { return func(o *options) { o.lease = d } }

// WithReplyTTL sets how long replies stay cached for duplicates (default 24h).
func WithReplyTTL(d time.Duration) Option { return func(o *options) { o.replyTTL = d } }

// DefaultConcurrency is how many requests Serve handles at once on a peer
// unless WithConcurrency says otherwise. More than one, so that a request
// waiting (on a slow dependency, or on another peer's claim of its message
// id) does not hold up every other request to the peer; handlers must be
// safe for concurrent use, as HTTP handlers are.
const DefaultConcurrency = 4

// WithConcurrency lets Serve handle n requests at once on this peer
// (default DefaultConcurrency; 1 handles them one at a time).
func WithConcurrency(n int) Option { return func(o *options) { o.concurrency = max(n, 1) } }

// WithConsumer tunes ConsumeEvents (AckWait, MaxDeliver, the retry schedule,
// Concurrency and the rest of transport.ConsumerConfig; Name
// and Subject are derived unless set).
func WithConsumer(c ConsumerConfig) Option { return func(o *options) { o.consumer = c } }

// WithTracer replaces the tracer built from the global OTel providers.
func WithTracer(t *tracing.Tracer) Option { return func(o *options) { o.tracer = t } }

// WithLogger sets the logger (default discards).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }
