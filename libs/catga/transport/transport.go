package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
	"github.com/catga-go/catga/libs/catga/mediator"
)

// Header holds message headers. Keys are case-sensitive, as in NATS: "Catga-Msg-Id" and
// "catga-msg-id" are different keys. It has the same underlying type as nats.Header, so the
// two convert without copying.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key with value.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Msg is one message on the wire: a subject, headers and an opaque body.
type Msg struct {
	Subject string
	Header  Header
	Data    []byte
}

// RequestHandler answers one request. It must return a reply (never nil); a
// Transport sends it back to the requester.
type RequestHandler func(ctx context.Context, req *Msg) *Msg

// MsgHandler receives one broadcast message.
type MsgHandler func(ctx context.Context, msg *Msg)

// Delivery is one delivery of a durable message to a consumer.
type Delivery struct {
	*Msg
	// Attempt counts deliveries of this message to this consumer, from 1.
	Attempt int
}

// DurableHandler handles one durable delivery. Returning nil acknowledges
// it. A retryable error (see catga.IsRetryable) asks for redelivery after
// a delay; any other error, or a retryable one on the last allowed
// attempt, sends the message to the consumer's dead-letter subject with the
// error as the reason.
type DurableHandler func(ctx context.Context, d Delivery) error

// ConsumerConfig configures a durable consumer.
type ConsumerConfig struct {
	// Name of the durable consumer. Every peer of a service uses the same
	// name, so that each message is handled once per service.
	Name string
	// Subject the consumer reads.
	Subject string
	// AckWait is how long a delivery may go without news from its peer
	// before it is redelivered elsewhere. A handler still running reports
	// progress every AckWait/3, so AckWait bounds how long a crashed
	// peer's message waits, not how long a handler may take. Default 30s.
	AckWait time.Duration
	// HandlerTimeout bounds one run of the handler. Default 5m.
	HandlerTimeout time.Duration
	// MaxDeliver bounds deliveries per message before it is dead-lettered.
	// Default 10.
	MaxDeliver int
	// RetryDelay is the delay before the first redelivery after a
	// retryable error; each further one doubles it, up to MaxRetryDelay,
	// with jitter. The defaults (500ms, 30s, 10 deliveries) wait about
	// 2.5 minutes in all, enough to outlast a Redis or PostgreSQL
	// failover without dead-lettering what was in flight.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// Concurrency is how many deliveries this peer handles at once; the
	// peer holds at most that many more, pulled ahead. Default 1.
	Concurrency int
	// MaxAckPending bounds the deliveries of the consumer (all its peers)
	// that are out and not yet acknowledged. Default 1000.
	MaxAckPending int
}

// retryDelay is the wait before redelivering after err: the delay err
// suggests, or else the backoff schedule's.
func (c ConsumerConfig) retryDelay(err error, attempt int) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		if c.MaxRetryDelay > 0 {
			return min(ra.RetryAfter(), c.MaxRetryDelay)
		}
		return ra.RetryAfter()
	}
	return c.retryPolicy().Delay(attempt)
}

// retryPolicy is the schedule of redelivery delays.
func (c ConsumerConfig) retryPolicy() backoff.Policy {
	return backoff.Policy{Initial: c.RetryDelay, Max: c.MaxRetryDelay, Jitter: 0.2}
}

func (c *ConsumerConfig) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.AckWait, 30*time.Second)
	set(&c.HandlerTimeout, 5*time.Minute)
	set(&c.RetryDelay, 500*time.Millisecond)
	set(&c.MaxRetryDelay, 30*time.Second)
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 1000
	}
}

// Validate reports every problem with the configuration.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if !validToken(c.Name) {
		errs = append(errs, fmt.Errorf("%w: consumer name %q (want letters, digits, '-' or '_')", ErrConfig, c.Name))
	}
	if c.Subject == "" {
		errs = append(errs, fmt.Errorf("%w: empty consumer subject", ErrConfig))
	}
	if c.AckWait < 0 || c.HandlerTimeout < 0 || c.RetryDelay < 0 || c.MaxRetryDelay < 0 {
		errs = append(errs, fmt.Errorf("%w: negative AckWait, HandlerTimeout, RetryDelay or MaxRetryDelay", ErrConfig))
	}
	if c.MaxDeliver < 0 || c.Concurrency < 0 || c.MaxAckPending < 0 {
		errs = append(errs, fmt.Errorf("%w: negative MaxDeliver, Concurrency or MaxAckPending", ErrConfig))
	}
	return errors.Join(errs...)
}

// WithDefaults returns c with zero fields set to their defaults.
func (c ConsumerConfig) WithDefaults() ConsumerConfig {
	c.defaults()
	return c
}

// Verdict is what becomes of a durable delivery once its handler returned.
type Verdict struct {
	// Ack: handled, done.
	Ack bool
	// Retry: redeliver after Delay.
	Retry bool
	Delay time.Duration
	// DeadReason, when neither Ack nor Retry: dead-letter with it.
	DeadReason string
}

// Decide is the dead-letter rule every Transport applies to the error of
// delivery attempt (from 1): nil acknowledges; a retryable error is
// redelivered on the backoff schedule until MaxDeliver deliveries are
// spent; anything else, and the last retryable failure, is dead-lettered.
// An error that suggests its own delay (a RetryAfter() time.Duration
// method, as inbox.RetryError has) is redelivered after that delay, capped
// by MaxRetryDelay. A panic's reason names it without its stack (which the
// serving peer logs).
func (c ConsumerConfig) Decide(err error, attempt int) Verdict {
	switch {
	case err == nil:
		return Verdict{Ack: true}
	case IsPanic(err):
		return Verdict{DeadReason: mediator.ErrPanic.Error()}
	case catga.IsRetryable(err) && attempt < c.MaxDeliver:
		return Verdict{Retry: true, Delay: c.retryDelay(err, attempt)}
	case catga.IsRetryable(err):
		return Verdict{DeadReason: fmt.Sprintf("catga: gave up after %d deliveries: %s", attempt, err)}
	default:
		return Verdict{DeadReason: err.Error()}
	}
}

// Subscription is a registration that Close ends. Close drains: messages
// already delivered to the subscription are handled before it returns.
type Subscription interface {
	Close() error
}

// Transport moves messages between peers. Every peer is equal: any of them
// may send, publish, answer and consume. Implementations (memory, NATS) must
// pass the transporttest conformance suite.
//
// Contract:
//   - Request delivers req to exactly one member of every queue group serving
//     req.Subject and returns the first reply. It fails with an error matching
//     [ErrNoResponders] at once when nobody serves the subject, and with one
//     matching [ErrTimeout] when ctx's deadline passes first (both
//     retryable); when ctx is canceled, with an error matching
//     context.Canceled, not ErrTimeout.
//   - Serve registers h in the queue group queue: each request reaches one
//     member of the group. Closing the subscription, or the transport, lets
//     requests already delivered finish and be answered.
//   - Broadcast delivers msg to every SubscribeBroadcast subscriber of the
//     subject (at most once, nothing stored).
//   - PublishDurable stores msg; a message whose [HeaderNatsMsgID] was
//     already published (within the deduplication window) is stored once:
//     publishing the same subject and body again succeeds, a different
//     message under that id fails with [ErrDuplicateID].
//   - Consume delivers each stored message to one member of the named
//     consumer, with the semantics of [DurableHandler]. Dead letters go to
//     [DeadLetterSubject](name) with the reason in [HeaderDeadReason] and
//     can be consumed like any durable subject.
//   - Headers keep the case of their keys.
//   - Close drains and releases everything; later calls fail with [ErrClosed].
type Transport interface {
	Request(ctx context.Context, req *Msg) (*Msg, error)
	Serve(subject, queue string, h RequestHandler, opts ServeConfig) (Subscription, error)
	Broadcast(ctx context.Context, msg *Msg) error
	SubscribeBroadcast(subject string, h MsgHandler) (Subscription, error)
	PublishDurable(ctx context.Context, msg *Msg) error
	Consume(cfg ConsumerConfig, h DurableHandler) (Subscription, error)
	Close() error
}

// ServeConfig tunes one Serve registration.
type ServeConfig struct {
	// Concurrency is how many requests this peer handles at once for the
	// subject. Default 1 (the typed Serve passes its own default,
	// DefaultConcurrency).
	Concurrency int
	// Endpoint names the subject in the peer's discovery registration
	// (nats.go/micro on NATS; others may ignore it). The registration
	// itself is the peer's, one per peer, named and versioned by the
	// transport's configuration.
	Endpoint string
}

// DeadLetterSubject is where a durable consumer's dead letters go.
func DeadLetterSubject(consumer string) string { return "catga.dlq." + consumer }

// Sentinel errors.
var (
	// ErrNoResponders: nobody serves the subject. Retryable.
	ErrNoResponders = errors.New("catga: no responders")
	// ErrTimeout: no reply before the deadline. Retryable.
	ErrTimeout = errors.New("catga: request timed out")
	// ErrClosed: the transport or subscription is closed.
	ErrClosed = errors.New("catga: transport closed")
	// ErrConfig: an invalid configuration.
	ErrConfig = errors.New("catga: invalid transport config")
	// ErrTooLarge: a message exceeds the size limit. Permanent.
	ErrTooLarge = errors.New("catga: message too large")
	// ErrDecode: a message could not be decoded. Permanent.
	ErrDecode = errors.New("catga: cannot decode message")
	// ErrRemote: the peer failed with an infrastructure error. Retryable.
	ErrRemote = errors.New("catga: remote handler failed")
	// ErrBadRequest: the peer refused the request as malformed or for a
	// permanent reason. Not retryable.
	ErrBadRequest = errors.New("catga: bad request")
	// ErrDuplicateID: a durable message reused the id of a different
	// message within the deduplication window; it was not stored.
	// Permanent: the sender must derive distinct ids.
	ErrDuplicateID = errors.New("catga: message id reused for a different message")
	// ErrBusy: another peer is handling the same message id and did not
	// finish in time. Retryable.
	ErrBusy = errors.New("catga: message is being handled by another peer")
)

// ValidateServiceName is the one rule for service names, used by the peer
// and the transport alike: the name becomes part of durable consumer,
// queue and discovery names, so it holds letters, digits, '-' and '_'
// only.
func ValidateServiceName(name string) error {
	if !validToken(name) {
		return fmt.Errorf("%w: service name %q (want letters, digits, '-' or '_')", ErrConfig, name)
	}
	return nil
}

// validToken reports whether s is usable as a NATS consumer / endpoint name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}
