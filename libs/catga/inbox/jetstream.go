package inbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
	"github.com/catga-go/catga/libs/catga/transport"
)

// DeadLetterPublisher stores a dead letter; jetstream.JetStream satisfies
// it. The subject it is given must be captured by a stream
// (transport.DeadLetterSubject, catga.dlq.<consumer>, is, in the
// transport's stream).
type DeadLetterPublisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// JetStreamConfig is what [JetStreamHandler] needs to know of its consumer.
type JetStreamConfig struct {
	// MaxDeliver is the consumer's MaxDeliver: the delivery that reaches it
	// is dead-lettered instead of retried. Default 5.
	MaxDeliver int
	// RetryInitial and RetryMax shape the exponential, jittered delay
	// before a retryable failure is redelivered (defaults 500ms, 30s), so
	// that a short database outage does not burn the deliveries.
	RetryInitial, RetryMax time.Duration
	// DeadLetters stores dead letters (required).
	DeadLetters DeadLetterPublisher
}

// Validate reports every problem with the configuration.
func (c JetStreamConfig) Validate() error {
	var errs []error
	if c.MaxDeliver < 0 || c.RetryInitial < 0 || c.RetryMax < c.RetryInitial {
		errs = append(errs, errors.New("catga: inbox: negative MaxDeliver or retry delay, or RetryMax below RetryInitial"))
	}
	if c.DeadLetters == nil {
		errs = append(errs, errors.New("catga: inbox: nil dead-letter publisher"))
	}
	return errors.Join(errs...)
}

// JetStreamHandler is [Handler] for a consumer that reads JetStream
// directly rather than through the transport. It acknowledges as Handler
// returns nil, redelivers a retryable failure after an exponential delay
// (NakWithDelay), and sends the rest — permanent failures, rejections, no
// message id, the last allowed delivery — to transport.DeadLetterSubject
// (consumer) with the reason, as the transport's consumers do, then
// terminates the message. If storing the dead letter fails, the message is
// redelivered instead of lost.
func JetStreamHandler[Tx any](in Inbox[Tx], consumer string, cfg JetStreamConfig, effect func(ctx context.Context, tx Tx, msg jetstream.Msg) error, opts ...HandlerOption) (func(jetstream.Msg), error) {
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = 5
	}
	if cfg.RetryInitial == 0 {
		cfg.RetryInitial = 500 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = max(30*time.Second, cfg.RetryInitial)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc := newHandlerConfig(opts)
	retry := backoff.Policy{Initial: cfg.RetryInitial, Max: cfg.RetryMax, Jitter: 0.2}
	return func(msg jetstream.Msg) {
		attempt := 1
		var seq uint64
		if meta, err := msg.Metadata(); err == nil {
			attempt, seq = int(meta.NumDelivered), meta.Sequence.Stream
		}
		h := msg.Headers()
		md, _, err := transport.ReadMetadata(transport.Header(h))
		if err == nil && md.MessageID == "" {
			md.MessageID = h.Get(HeaderMsgID)
		}
		switch {
		case err != nil:
			err = catga.Permanent(err)
		case md.MessageID == "":
			err = catga.Permanent(fmt.Errorf("%w: consumer %s, subject %s", ErrNoMessageID, consumer, msg.Subject()))
		default:
			err = process(hc, context.Background(), in, consumer, md, h, func(ctx context.Context, tx Tx) error { return effect(ctx, tx, msg) })
		}
		switch {
		case err == nil:
			_ = msg.Ack()
		case catga.IsRetryable(err) && attempt < cfg.MaxDeliver:
			hc.log.Debug("catga: inbox: message will be redelivered", "consumer", consumer, "id", md.MessageID, "attempt", attempt, "err", err)
			_ = msg.NakWithDelay(retry.Delay(attempt))
		default:
			reason := err.Error()
			if catga.IsRetryable(err) {
				reason = fmt.Sprintf("catga: gave up after %d deliveries: %s", attempt, reason)
			}
			hc.log.Warn("catga: inbox: message dead-lettered", "consumer", consumer, "id", md.MessageID, "reason", reason)
			deadLetter(cfg.DeadLetters, consumer, msg, seq, reason, retry.Delay(attempt))
		}
	}, nil
}

// deadLetter stores msg on the consumer's dead-letter subject with the
// reason, then terminates it; if that fails it is redelivered after wait.
func deadLetter(pub DeadLetterPublisher, consumer string, msg jetstream.Msg, seq uint64, reason string, wait time.Duration) {
	h := nats.Header{}
	for k, v := range msg.Headers() {
		h[k] = v
	}
	h.Set(transport.HeaderDeadReason, reason)
	h.Set(transport.HeaderDeadSubject, msg.Subject())
	h.Set(transport.HeaderNatsMsgID, "dlq-"+consumer+"-"+strconv.FormatUint(seq, 10))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pub.PublishMsg(ctx, &nats.Msg{Subject: transport.DeadLetterSubject(consumer), Header: h, Data: msg.Data()}); err != nil {
		_ = msg.NakWithDelay(wait)
		return
	}
	_ = msg.TermWithReason(reason)
}
