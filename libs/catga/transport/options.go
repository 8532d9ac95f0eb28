package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/tracing"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// Each function takes the options of its own kind, so an option that
// cannot apply there does not compile there (the nats.go jetstream
// pattern): WithRetry is a SendOption, WithLease a ServeOption, and
// WithCodec, which applies everywhere, is all of them. An option given a
// bad value makes the function return an error matching [ErrConfig]
// instead of being clamped.
type (
	// SendOption configures [Register] and [Request].
	SendOption interface{ applySend(*options) error }
	// ServeOption configures [Serve].
	ServeOption interface{ applyServe(*options) error }
	// PublishOption configures [PublishEvent] and [BroadcastEvent].
	PublishOption interface{ applyPublish(*options) error }
	// ConsumeOption configures [ConsumeEvents].
	ConsumeOption interface{ applyConsume(*options) error }
	// SubscribeOption configures [SubscribeBroadcast].
	SubscribeOption interface{ applySubscribe(*options) error }
)

// CommonOption applies wherever a message is encoded or decoded: it is
// every kind of option.
type CommonOption func(*options) error

func (f CommonOption) applySend(o *options) error      { return f(o) }
func (f CommonOption) applyServe(o *options) error     { return f(o) }
func (f CommonOption) applyPublish(o *options) error   { return f(o) }
func (f CommonOption) applyConsume(o *options) error   { return f(o) }
func (f CommonOption) applySubscribe(o *options) error { return f(o) }

// HandlerOption applies wherever a handler runs on this peer: it is a
// ServeOption, a ConsumeOption and a SubscribeOption.
type HandlerOption func(*options) error

func (f HandlerOption) applyServe(o *options) error     { return f(o) }
func (f HandlerOption) applyConsume(o *options) error   { return f(o) }
func (f HandlerOption) applySubscribe(o *options) error { return f(o) }

type sendOption func(*options) error

func (f sendOption) applySend(o *options) error { return f(o) }

type serveOption func(*options) error

func (f serveOption) applyServe(o *options) error { return f(o) }

type consumeOption func(*options) error

func (f consumeOption) applyConsume(o *options) error { return f(o) }

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

// newOptions applies opts over the defaults, with apply picking the
// method of their kind; it reports every bad value.
func newOptions[O any](opts []O, apply func(O, *options) error) (*options, error) {
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
	var errs []error
	for _, opt := range opts {
		if err := apply(opt, o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, catga.Permanent(err) // retrying cannot mend a bad value
	}
	if o.tracer == nil {
		o.tracer = tracing.New()
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func sendOptions(opts []SendOption) (*options, error) {
	return newOptions(opts, SendOption.applySend)
}

func serveOptions(opts []ServeOption) (*options, error) {
	return newOptions(opts, ServeOption.applyServe)
}

func publishOptions(opts []PublishOption) (*options, error) {
	return newOptions(opts, PublishOption.applyPublish)
}

func consumeOptions(opts []ConsumeOption) (*options, error) {
	return newOptions(opts, ConsumeOption.applyConsume)
}

func subscribeOptions(opts []SubscribeOption) (*options, error) {
	return newOptions(opts, SubscribeOption.applySubscribe)
}

func badOption(name string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, name, fmt.Sprintf(format, args...))
}

// WithCodec replaces the JSON codec. Sender and receiver must agree.
func WithCodec(c Codec) CommonOption {
	return func(o *options) error {
		if c == nil {
			return badOption("WithCodec", "nil codec")
		}
		o.codec = c
		return nil
	}
}

// WithMaxSize bounds encoded message bodies (default 1 MiB). Larger ones are
// refused on both sides with [ErrTooLarge].
func WithMaxSize(n int) CommonOption {
	return func(o *options) error {
		if n <= 0 {
			return badOption("WithMaxSize", "%d bytes (want > 0)", n)
		}
		o.maxSize = n
		return nil
	}
}

// WithTracer replaces the tracer built from the global OTel providers.
func WithTracer(t *tracing.Tracer) CommonOption {
	return func(o *options) error {
		if t == nil {
			return badOption("WithTracer", "nil tracer")
		}
		o.tracer = t
		return nil
	}
}

// WithLogger sets the logger of the handling side (default discards).
func WithLogger(l *slog.Logger) HandlerOption {
	return func(o *options) error {
		if l == nil {
			return badOption("WithLogger", "nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithRetry sets how a sender retries timeouts, no-responders and busy
// replies: at most attempts tries in all (default 4; 1 never retries),
// waiting about base, 2*base, ... (default 20ms, jittered, capped at 1s)
// between them (base is unused with 1 attempt). Retries keep the message id and never outlast the caller's
// deadline.
func WithRetry(attempts int, base time.Duration) SendOption {
	return sendOption(func(o *options) error {
		if attempts < 1 || attempts > 1 && base <= 0 {
			return badOption("WithRetry", "%d attempts, base %s (want at least 1 attempt, and a positive base to retry)", attempts, base)
		}
		o.maxAttempts, o.backoff = attempts, base
		return nil
	})
}

// WithAttemptTimeout bounds each attempt of a request (default 2s); the
// caller's deadline bounds them all.
func WithAttemptTimeout(d time.Duration) SendOption {
	return sendOption(func(o *options) error {
		if d <= 0 {
			return badOption("WithAttemptTimeout", "%s (want > 0)", d)
		}
		o.attemptTimeout = d
		return nil
	})
}

// WithIdempotency makes Serve deduplicate by message key through s (say,
// idempotency/redisstore in a deployment that runs Redis). Without it Serve
// uses the store the transport shares between its peers (see
// StoreProvider: a JetStream key-value bucket on NATS), or else a bounded
// memory store of its own.
func WithIdempotency(s idempotency.Store) ServeOption {
	return serveOption(func(o *options) error {
		if s == nil {
			return badOption("WithIdempotency", "nil store (use WithoutIdempotency to turn deduplication off)")
		}
		o.store = s
		return nil
	})
}

// WithoutIdempotency turns deduplication off in Serve (for queries).
func WithoutIdempotency() ServeOption {
	return serveOption(func(o *options) error { o.noStore = true; return nil })
}

// WithLease sets how long an unfinished claim on a message id blocks other
// peers (default 5s): the time a crashed handler's message waits before a
// retry may run it elsewhere. It also bounds the handler's context, so that
// a handler cannot keep running after its claim lapsed.
func WithLease(d time.Duration) ServeOption {
	return serveOption(func(o *options) error {
		if d <= 0 {
			return badOption("WithLease", "%s (want > 0)", d)
		}
		o.lease = d
		return nil
	})
}

// WithReplyTTL sets how long replies stay cached for duplicates (default 24h).
func WithReplyTTL(d time.Duration) ServeOption {
	return serveOption(func(o *options) error {
		if d <= 0 {
			return badOption("WithReplyTTL", "%s (want > 0)", d)
		}
		o.replyTTL = d
		return nil
	})
}

// DefaultConcurrency is how many requests Serve handles at once on a peer
// unless WithConcurrency says otherwise. More than one, so that a request
// waiting (on a slow dependency, or on another peer's claim of its message
// id) does not hold up every other request to the peer; handlers must be
// safe for concurrent use, as HTTP handlers are.
const DefaultConcurrency = 4

// WithConcurrency lets Serve handle n requests at once on this peer
// (default DefaultConcurrency; 1 handles them one at a time).
func WithConcurrency(n int) ServeOption {
	return serveOption(func(o *options) error {
		if n < 1 {
			return badOption("WithConcurrency", "%d (want at least 1)", n)
		}
		o.concurrency = n
		return nil
	})
}

// WithConsumer tunes ConsumeEvents (AckWait, MaxDeliver, the retry
// schedule, Concurrency and the rest of ConsumerConfig; Name and Subject
// are derived from the service and topic unless set).
func WithConsumer(c ConsumerConfig) ConsumeOption {
	return consumeOption(func(o *options) error {
		o.consumer = c
		return nil // ConsumeEvents validates the whole configuration
	})
}
