package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/tracing"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// Serve answers requests on r arriving over t by dispatching them into m
// with mediator.Send, in the queue group of r's subject: every peer of the
// service calls Serve and NATS balances requests between them; each
// request is handled once, by one of them. The handler's context carries
// the sender's catga.Metadata, deadline and headers. Discovery lists r
// under the peer's registration (see natstransport.Config.Service).
func Serve[Req, Resp any](t Transport, m *mediator.Mediator, r Route[Req, Resp], opts ...ServeOption) (Subscription, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	o, err := serveOptions(opts) // its errors name the option
	if err != nil {
		return nil, err
	}
	s := &server[Req, Resp]{m: m, o: o, name: r.name, subject: r.Subject(), store: o.store}
	if s.store == nil && !o.noStore {
		store, err := defaultStore(t)
		if err != nil {
			return nil, fmt.Errorf("catga: serve %s: %w", s.subject, err)
		}
		if store == nil {
			// A transport without a shared store (or a wrapper hiding
			// it): say so, since retries reaching another peer run again.
			o.logger.Warn("catga: the transport offers no shared idempotency store; deduplicating on this peer only (use WithIdempotency)", "subject", s.subject)
			store = idempotency.NewMemory()
		}
		s.store = store
	}
	// The queue group is the subject's, not the service's: a command is
	// handled once even if two services (by mistake, or while one takes
	// it over from the other) both serve it.
	return t.Serve(s.subject, queueOf(s.subject), s.handle, ServeConfig{
		Concurrency: o.concurrency, Endpoint: TokenName(s.name),
	})
}

// queueOf is the queue group of the typed servers of subject.
func queueOf(subject string) string { return "catga_" + TokenName(subject) }

// StoreProvider is implemented by a Transport that offers an idempotency
// store shared by all its peers (NATS: a JetStream key-value bucket; memory:
// one store per bus). Serve deduplicates through it unless WithIdempotency
// or WithoutIdempotency says otherwise.
type StoreProvider interface {
	IdempotencyStore() (idempotency.Store, error)
}

// defaultStore is the transport's shared store, or nil if it has none.
func defaultStore(t Transport) (idempotency.Store, error) {
	if p, ok := t.(StoreProvider); ok {
		return p.IdempotencyStore()
	}
	return nil, nil
}

type server[Req, Resp any] struct {
	m       *mediator.Mediator
	o       *options
	name    string
	subject string
	store   idempotency.Store
}

func (s *server[Req, Resp]) handle(ctx context.Context, msg *Msg) *Msg {
	req, md, deadline, rep := s.decode(msg)
	if rep != nil {
		return rep.Msg()
	}
	if !deadline.IsZero() {
		dc := withDeadline(ctx, deadline)
		defer dc.release()
		ctx = dc
	}
	ctx = inboundContext(ctx, md, msg.Header)
	ctx, span := s.o.tracer.StartReceive(ctx, trace.SpanKindServer, s.subject, md.MessageID, msg.Header)
	// Keys are scoped by subject: one message id (a saga step's, say)
	// may carry several commands, each to be applied once.
	key := md.Key()
	if key != "" {
		key = s.subject + ":" + key
	}
	r := s.run(ctx, key, req)
	var err error
	if r.Status != StatusOK {
		err = r.Err(s.subject)
	}
	tracing.End(span, err)
	return r.Msg()
}

// decode never panics: the codec contract and ReadMetadata guarantee it.
func (s *server[Req, Resp]) decode(msg *Msg) (req Req, md catga.Metadata, deadline time.Time, bad *Reply) {
	fail := func(err error) *Reply {
		return &Reply{Status: StatusBadRequest, Reason: err.Error()}
	}
	if len(msg.Data) > s.o.maxSize {
		return req, md, deadline, fail(fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(msg.Data), s.o.maxSize))
	}
	if ct := msg.Header.Get(HeaderContentType); ct != "" && ct != s.o.codec.ContentType() {
		return req, md, deadline, fail(fmt.Errorf("%w: content type %q, want %q", ErrDecode, ct, s.o.codec.ContentType()))
	}
	md, deadline, err := ReadMetadata(msg.Header)
	if err != nil {
		return req, md, deadline, fail(err)
	}
	if err := s.o.codec.Unmarshal(msg.Data, &req); err != nil {
		return req, md, deadline, fail(fmt.Errorf("%w: %s: %w", ErrDecode, s.name, err))
	}
	return req, md, deadline, nil
}

// run dispatches req once per key: the first claim runs the handler, later
// deliveries get its cached reply, concurrent ones wait for it.
func (s *server[Req, Resp]) run(ctx context.Context, key string, req Req) Reply {
	if s.store == nil || key == "" {
		return s.dispatch(ctx, req)
	}
	cached, err := s.claim(ctx, key)
	if err != nil {
		return ReplyFromError(err)
	}
	if cached != nil {
		var r Reply
		if err := r.UnmarshalBinary(cached); err != nil {
			return Reply{Status: StatusError, Reason: "catga: corrupt cached reply: " + err.Error()}
		}
		return r
	}
	// The claim is renewed while the handler runs, so that no other peer
	// runs the message meanwhile, even if the handler ignores its ctx
	// past the lease. The lease still bounds a handler that honours ctx
	// (see WithLease); a lost claim cancels it.
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > s.o.lease {
		var stop context.CancelFunc
		hctx, stop = context.WithTimeout(hctx, s.o.lease)
		defer stop()
	}
	stopRenew := s.keepClaim(ctx, key, cancel)
	r := s.dispatch(hctx, req)
	lost := stopRenew()
	// Uncancelable: the reply must be recorded even if the caller's
	// deadline just passed, or a retry would run the handler again. Store
	// clients bound their own calls (go-redis has read/write timeouts).
	sctx := context.WithoutCancel(ctx)
	// A failure is not remembered: a retry, or a redeployed fix after a
	// panic, may run the message again.
	if r.Status == StatusError || r.Status == StatusBusy || r.Code == codePanic {
		if err := s.store.Release(sctx, key); err != nil {
			s.o.logger.WarnContext(ctx, "catga: release idempotency claim", "key", key, "error", err)
		}
		return r
	}
	b, _ := r.MarshalBinary()
	err = s.store.Complete(sctx, key, b, s.o.replyTTL)
	switch {
	case errors.Is(err, idempotency.ErrClaimLost):
		// Another peer took the message over (this one could not renew
		// for a whole lease) and may have run it too: its claim or reply
		// stands, this reply is not recorded.
		s.o.logger.ErrorContext(ctx, "catga: idempotency claim lost while handling; the message may have run twice", "key", key, "subject", s.subject, "renew_error", lost)
	case err != nil:
		s.o.logger.WarnContext(ctx, "catga: store reply", "key", key, "error", err)
	}
	return r
}

// keepClaim renews this peer's claim on key every lease/3 until the
// returned stop is called; stop waits for the renewer and returns why the
// claim was lost, if it was. A lost claim cancels the handler (cancel).
// Renewal runs off ctx's cancellation: the claim must outlive the caller's
// deadline for as long as the handler runs.
func (s *server[Req, Resp]) keepClaim(ctx context.Context, key string, cancel context.CancelCauseFunc) (stop func() error) {
	ctx = context.WithoutCancel(ctx)
	done := make(chan struct{})
	var lost error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		every := max(s.o.lease/3, time.Millisecond)
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, every)
			err := s.store.Renew(rctx, key, s.o.lease)
			rcancel()
			switch {
			case errors.Is(err, idempotency.ErrClaimLost):
				lost = err
				cancel(err)
				return
			case err != nil: // the claim holds until its lease ends; try again
				s.o.logger.WarnContext(ctx, "catga: renew idempotency claim", "key", key, "error", err)
			}
		}
	}()
	return func() error {
		close(done)
		<-finished
		return lost
	}
}

// claim returns (nil, nil) once this peer holds the claim, or the cached
// reply. While another holder works it polls, bounded by ctx and twice the
// lease: a dead holder's claim has lapsed by then and the claim succeeds;
// a live one renews its claim, and the caller gets the retryable
// StatusBusy rather than holding this handler slot longer.
func (s *server[Req, Resp]) claim(ctx context.Context, key string) ([]byte, error) {
	giveUp := time.Now().Add(2 * s.o.lease)
	wait := 5 * time.Millisecond
	for {
		claimed, cached, err := s.store.Claim(ctx, key, s.o.lease)
		switch {
		case err != nil:
			return nil, err
		case claimed:
			return nil, nil
		case cached != nil:
			return cached, nil
		}
		if time.Now().After(giveUp) {
			return nil, &RemoteError{Subject: s.subject, Status: StatusBusy, Message: "message " + key + " still being handled"}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, &RemoteError{Subject: s.subject, Status: StatusBusy, Message: "message " + key + " still being handled"}
		case <-timer.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// dispatch runs the handler under a panic boundary. A failure's text is
// logged here, on the serving peer; the reply carries the status only.
func (s *server[Req, Resp]) dispatch(ctx context.Context, req Req) Reply {
	var resp Resp
	err := Guard(s.name, func() (err error) {
		resp, err = mediator.Send[Resp](ctx, s.m, req)
		return err
	})
	switch {
	case err == nil:
	case IsPanic(err):
		LogPanic(ctx, s.o.logger, s.subject, err)
	case catga.IsRetryable(err):
		s.o.logger.WarnContext(ctx, "catga: handler failed", "subject", s.subject, "error", err)
	}
	if err != nil {
		if errors.Is(err, mediator.ErrNoHandler) || errors.Is(err, mediator.ErrResponseType) {
			err = catga.Permanent(err)
		}
		return ReplyFromError(err)
	}
	data, err := s.o.codec.Marshal(resp)
	if err != nil {
		return Reply{Status: StatusBadRequest, Reason: fmt.Sprintf("catga: encode reply of %s: %v", s.name, err)}
	}
	return Reply{Status: StatusOK, Data: data}
}
