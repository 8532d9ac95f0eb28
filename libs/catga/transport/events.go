package transport

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/tracing"
)

// Identified is implemented by events that carry their own id. It becomes
// the message id, and so the deduplication id.
type Identified interface {
	EventID() string
}

// PublishEvent stores ev durably (JetStream on NATS) on the topic's
// subject. The message id (the event's [Identified] id, else the one
// in ctx's catga.Metadata, else a new one) is the deduplication id, so
// publishing the same event twice stores it once.
func PublishEvent[E any](ctx context.Context, t Transport, topic Topic[E], ev E, opts ...PublishOption) error {
	if err := topic.Validate(); err != nil {
		return catga.Permanent(err)
	}
	o, err := publishOptions(opts) // its errors name the option
	if err != nil {
		return err
	}
	subject := topic.Subject()
	msg, err := eventMsg(ctx, o, subject, ev)
	if err != nil {
		return err
	}
	_, span := o.tracer.StartSend(ctx, trace.SpanKindProducer, subject, msg.Header.Get(HeaderMsgID), msg.Header)
	err = t.PublishDurable(ctx, msg)
	tracing.End(span, err)
	return err
}

// BroadcastEvent sends ev to every instance subscribed with
// SubscribeBroadcast (core NATS, nothing stored: for cache invalidation and
// the like).
func BroadcastEvent[E any](ctx context.Context, t Transport, topic Topic[E], ev E, opts ...PublishOption) error {
	if err := topic.Validate(); err != nil {
		return catga.Permanent(err)
	}
	o, err := publishOptions(opts) // its errors name the option
	if err != nil {
		return err
	}
	subject := topic.BroadcastSubject()
	msg, err := eventMsg(ctx, o, subject, ev)
	if err != nil {
		return err
	}
	_, span := o.tracer.StartSend(ctx, trace.SpanKindProducer, subject, msg.Header.Get(HeaderMsgID), msg.Header)
	err = t.Broadcast(ctx, msg)
	tracing.End(span, err)
	return err
}

func eventMsg[E any](ctx context.Context, o *options, subject string, ev E) (*Msg, error) {
	body, err := o.codec.Marshal(ev)
	if err != nil {
		return nil, catga.Permanent(fmt.Errorf("catga: encode %s: %w", subject, err))
	}
	if len(body) > o.maxSize {
		return nil, catga.Permanent(fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, subject, len(body), o.maxSize))
	}
	md := outgoingMetadata(ctx, subject, body, newMessageID)
	if id, ok := any(ev).(Identified); ok && id.EventID() != "" {
		md.MessageID = id.EventID()
	}
	h := Header{}
	addCallHeaders(ctx, h)
	h[HeaderContentType] = []string{o.codec.ContentType()}
	h[HeaderNatsMsgID] = []string{md.MessageID}
	WriteMetadata(context.WithoutCancel(ctx), h, md) // an event has no deadline
	return &Msg{Subject: subject, Header: h, Data: body}, nil
}

// ConsumeEvents dispatches durable events of type E into m with
// mediator.Publish through the durable consumer of service: the peers of one
// service share it, so each event is handled once per service. A handler
// error that is retryable gets the event redelivered; a rejection, a
// permanent error, an undecodable message, or the last allowed attempt sends
// it to the dead-letter subject with the reason.
func ConsumeEvents[E any](t Transport, m *mediator.Mediator, service string, topic Topic[E], opts ...ConsumeOption) (Subscription, error) {
	if err := topic.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateServiceName(service); err != nil {
		return nil, err
	}
	o, err := consumeOptions(opts) // its errors name the option
	if err != nil {
		return nil, err
	}
	cfg := o.consumer
	if cfg.Subject == "" {
		cfg.Subject = topic.Subject()
	}
	if cfg.Name == "" {
		cfg.Name = topic.Consumer(service)
	}
	if err := cfg.Validate(); err != nil {
		return nil, catga.Permanent(err)
	}
	h := eventHandler[E](m, o, cfg.Subject)
	return t.Consume(cfg.WithDefaults(), func(ctx context.Context, d Delivery) error { return h(ctx, d.Msg) })
}

// SubscribeBroadcast dispatches every broadcast event of type E into m.
// Failures are logged: there is nobody to report them to.
func SubscribeBroadcast[E any](t Transport, m *mediator.Mediator, topic Topic[E], opts ...SubscribeOption) (Subscription, error) {
	if err := topic.Validate(); err != nil {
		return nil, err
	}
	o, err := subscribeOptions(opts) // its errors name the option
	if err != nil {
		return nil, err
	}
	subject := topic.BroadcastSubject()
	h := eventHandler[E](m, o, subject)
	return t.SubscribeBroadcast(subject, func(ctx context.Context, msg *Msg) {
		if err := h(ctx, msg); err != nil {
			o.logger.ErrorContext(ctx, "catga: broadcast handler failed", "subject", subject, "error", err)
		}
	})
}

func eventHandler[E any](m *mediator.Mediator, o *options, subject string) func(context.Context, *Msg) error {
	return func(ctx context.Context, msg *Msg) (err error) {
		if len(msg.Data) > o.maxSize {
			return catga.Permanent(fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(msg.Data), o.maxSize))
		}
		md, _, err := ReadMetadata(msg.Header)
		if err != nil {
			return catga.Permanent(err)
		}
		var ev E
		if err := o.codec.Unmarshal(msg.Data, &ev); err != nil {
			return catga.Permanent(fmt.Errorf("%w: %s: %w", ErrDecode, subject, err))
		}
		ctx = inboundContext(ctx, md, msg.Header)
		ctx, span := o.tracer.StartReceive(ctx, trace.SpanKindConsumer, subject, md.MessageID, msg.Header)
		defer func() { tracing.End(span, err) }()
		err = Guard(subject, func() error { return mediator.Publish(ctx, m, ev) })
		if IsPanic(err) {
			LogPanic(ctx, o.logger, subject, err)
			return catga.Permanent(mediator.ErrPanic) // the stack stays in the log, not in the dead letter
		}
		return err
	}
}
