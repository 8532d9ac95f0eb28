package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/internal/backoff"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/tracing"
)

// Register registers in m a handler for r's request type that sends the
// request over t to whichever peer serves r, so callers just use
// mediator.Send.
func Register[Req, Resp any](m *mediator.Mediator, t Transport, r Route[Req, Resp], opts ...SendOption) error {
	c, err := newClient(t, r, opts)
	if err != nil {
		return err
	}
	return mediator.Handle(m, c.send)
}

// Request sends req on r over t and waits for the reply, without a
// mediator.
func Request[Req, Resp any](ctx context.Context, t Transport, r Route[Req, Resp], req Req, opts ...SendOption) (Resp, error) {
	c, err := newClient(t, r, opts)
	if err != nil {
		var zero Resp
		return zero, catga.Permanent(err)
	}
	return c.send(ctx, req)
}

type client[Req, Resp any] struct {
	t       Transport
	o       *options
	subject string
	name    string
}

func newClient[Req, Resp any](t Transport, r Route[Req, Resp], opts []SendOption) (*client[Req, Resp], error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	o, err := sendOptions(opts) // its errors name the option
	if err != nil {
		return nil, err
	}
	return &client[Req, Resp]{t: t, o: o, name: r.name, subject: r.Subject()}, nil
}

func (c *client[Req, Resp]) send(ctx context.Context, req Req) (Resp, error) {
	var zero Resp
	body, err := c.o.codec.Marshal(req)
	if err != nil {
		return zero, catga.Permanent(fmt.Errorf("catga: encode %s: %w", c.name, err))
	}
	if len(body) > c.o.maxSize {
		return zero, catga.Permanent(fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, c.name, len(body), c.o.maxSize))
	}
	md := outgoingMetadata(ctx, c.subject, body, newMessageID)
	for attempt := 1; ; attempt++ {
		reply, err := c.attempt(ctx, md, body)
		if err == nil {
			var resp Resp
			if uerr := c.o.codec.Unmarshal(reply, &resp); uerr != nil {
				return zero, catga.Permanent(fmt.Errorf("%w: reply to %s: %w", ErrDecode, c.name, uerr))
			}
			return resp, nil
		}
		if !retryRequest(err) || attempt >= c.o.maxAttempts {
			return zero, err
		}
		wait := backoff.Policy{Initial: c.o.backoff, Max: c.o.maxBackoff, Jitter: 0.5}.Delay(attempt)
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return zero, err
		}
		if !backoff.Sleep(ctx, wait) {
			if errors.Is(ctx.Err(), context.Canceled) {
				return zero, fmt.Errorf("catga: %s: %w (last attempt: %w)", c.subject, ctx.Err(), err)
			}
			return zero, fmt.Errorf("%w: %s: %w (last attempt: %w)", ErrTimeout, c.subject, ctx.Err(), err)
		}
	}
}

// retryRequest: failures where the request surely or possibly did not run
// to completion (no responders, a timeout, busy) and infrastructure
// failures on the serving peer (ErrRemote: a lost database connection, a
// failover), which released their claim. The message id makes a retry of
// one that did run harmless.
func retryRequest(err error) bool {
	return errors.Is(err, ErrNoResponders) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrBusy) ||
		errors.Is(err, ErrRemote)
}

func (c *client[Req, Resp]) attempt(ctx context.Context, md catga.Metadata, body []byte) (data []byte, err error) {
	actx := ctx
	// A deadline per attempt only when the attempt ends before the caller's
	// deadline would. Its timer is made lazily (see SplitDeadline): the NATS
	// transport waits on a pooled one instead.
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > c.o.attemptTimeout {
		dc := withDeadline(ctx, time.Now().Add(c.o.attemptTimeout))
		defer dc.release()
		actx = dc
	}
	// The attempt's deadline goes on the wire, not the caller's: once this
	// attempt is given up, the serving peer (and a peer waiting on its
	// claim) should give up too, not hold a handler for the rest of the
	// caller's budget.
	h := make(Header, 8)
	addCallHeaders(ctx, h)
	writeMetadata(actx, h, md, []string{HeaderContentType, c.o.codec.ContentType()})
	actx, span := c.o.tracer.StartSend(actx, trace.SpanKindClient, c.subject, md.MessageID, h)
	defer func() { tracing.End(span, err) }()
	msg, err := c.t.Request(actx, &Msg{Subject: c.subject, Header: h, Data: body})
	if err != nil {
		return nil, err
	}
	rep, err := ReplyFromMsg(msg)
	if err != nil {
		return nil, catga.Permanent(err)
	}
	if err := rep.Err(c.subject); err != nil {
		return nil, err
	}
	return rep.Data, nil
}
