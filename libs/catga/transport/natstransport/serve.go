package natstransport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/catga-go/catga/libs/catga/transport"
)

// servingSub is a set of subscriptions serving one registration, with the
// handlers they are running.
type servingSub struct {
	t        *Transport
	subs     []*nats.Subscription
	served   bool // announced through discovery (Serve, not broadcasts)
	inflight sync.WaitGroup

	mu      sync.Mutex
	closing bool // set once Close waits for the handlers; the endpoint worker then refers requests elsewhere
	once    sync.Once
	err     error
}

// Close stops taking messages, lets the ones already delivered be handled
// (and answered), and returns when they are, or after DrainTimeout.
func (s *servingSub) Close() error {
	s.once.Do(func() {
		s.t.mu.Lock()
		delete(s.t.subs, s)
		s.t.mu.Unlock()
		// Leave discovery and the queue groups first: the server stops
		// routing here and sends new requests to the other members.
		if s.served {
			s.err = s.t.disc.remove(s)
		}
		for _, sub := range s.subs {
			if err := sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				s.err = errors.Join(s.err, err)
			}
		}
		deadline := time.Now().Add(s.t.cfg.DrainTimeout)
		for _, sub := range s.subs {
			// A drained subscription turns invalid once its last pending
			// message has been handed to (and returned from) the handler.
			for sub.IsValid() && time.Now().Before(deadline) && !s.t.nc.IsClosed() {
				time.Sleep(5 * time.Millisecond)
			}
		}
		// Only now are requests refused: the endpoint worker may still
		// deliver ones routed here before discovery let go of this peer,
		// and they are answered like the subscriptions' pending ones. (The
		// flag also orders every inflight.Add before the Wait.)
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		done := make(chan struct{})
		go func() { s.inflight.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Until(deadline)):
			s.err = errors.Join(s.err, fmt.Errorf("catga: handlers still running after %s", s.t.cfg.DrainTimeout))
		}
	})
	return s.err
}

func (t *Transport) track(s *servingSub) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.isClosing {
		return transport.ErrClosed
	}
	t.subs[s] = struct{}{}
	return nil
}

// Serve implements transport.Transport. Requests arrive on two members of
// queue group queue: a subscription of this registration and the subject's
// endpoint in the peer's discovery registration (see Config.Service), so
// $SRV.INFO.<service> lists the subject, with the peer's version, under
// cfg.Endpoint (default: the subject, made a token). Both feed one pool of
// cfg.Concurrency handlers: a request stuck in its handler holds one slot,
// not the requests queued behind it.
//
// Once Close begins, a request the endpoint still receives (micro drains
// it on its own schedule) is answered busy, which the sender retries on
// another peer; the subscription's are handled before Close returns.
func (t *Transport) Serve(subject, queue string, h transport.RequestHandler, cfg transport.ServeConfig) (transport.Subscription, error) {
	name := cfg.Endpoint
	if name == "" {
		name = transport.TokenName(subject)
	}
	s := &servingSub{t: t, served: true}
	handled := t.disc.counter(subject)
	handle := func(m *nats.Msg) {
		defer s.inflight.Done()
		defer handled.Add(1)
		var reply *transport.Msg
		err := transport.Guard(subject, func() error {
			reply = h(context.Background(), &transport.Msg{Subject: m.Subject, Header: transport.Header(m.Header), Data: m.Data})
			return nil
		})
		if err != nil {
			transport.LogPanic(context.Background(), t.cfg.Logger, subject, err)
			reply = transport.ReplyFromError(err).Msg()
		}
		t.reply(subject, m, reply)
	}
	// dispatch runs handle in a pool slot, waiting for one while all are
	// taken (the messages wait in the subscription meanwhile). The pool is
	// needed even for one slot: the queue subscription and the discovery
	// endpoint deliver from goroutines of their own.
	slots := make(chan struct{}, max(cfg.Concurrency, 1))
	dispatch := func(m *nats.Msg) {
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			handle(m)
		}()
	}
	fromSub := func(m *nats.Msg) {
		s.inflight.Add(1)
		dispatch(m)
	}
	fromEndpoint := func(m *nats.Msg) {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			t.reply(subject, m, transport.Reply{Status: transport.StatusBusy, Reason: "catga: peer leaving"}.Msg())
			return
		}
		s.inflight.Add(1)
		s.mu.Unlock()
		dispatch(m)
	}
	if err := t.track(s); err != nil {
		return nil, err
	}
	sub, err := t.nc.QueueSubscribe(subject, queue, fromSub)
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("catga: serve %s: %w", subject, err)
	}
	s.subs = []*nats.Subscription{sub}
	if err := t.disc.add(&endpoint{owner: s, name: name, subject: subject, queue: queue, handle: fromEndpoint}); err != nil {
		_ = s.Close()
		return nil, err
	}
	// When Serve returns, the server knows the subscriptions (while
	// connected): requests sent from now on can reach them.
	_ = t.nc.FlushTimeout(t.cfg.ConnectTimeout)
	return s, nil
}

// reply answers m, if it asked for an answer.
func (t *Transport) reply(subject string, m *nats.Msg, reply *transport.Msg) {
	if m.Reply == "" {
		return
	}
	if reply == nil {
		reply = &transport.Msg{}
	}
	var err error
	if len(reply.Header) == 0 {
		err = t.nc.Publish(m.Reply, reply.Data) // the common OK reply: no HPUB, no Msg
	} else {
		err = t.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Header: nats.Header(reply.Header), Data: reply.Data})
	}
	if err != nil {
		t.cfg.Logger.Warn("catga: reply", "subject", subject, "error", err)
	}
}

// SubscribeBroadcast implements transport.Transport.
func (t *Transport) SubscribeBroadcast(subject string, h transport.MsgHandler) (transport.Subscription, error) {
	s := &servingSub{t: t}
	sub, err := t.nc.Subscribe(subject, func(m *nats.Msg) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		err := transport.Guard(subject, func() error {
			h(context.Background(), &transport.Msg{Subject: m.Subject, Header: transport.Header(m.Header), Data: m.Data})
			return nil
		})
		if err != nil {
			transport.LogPanic(context.Background(), t.cfg.Logger, subject, err)
		}
	})
	if err != nil {
		return nil, mapErr(subject, err)
	}
	s.subs = []*nats.Subscription{sub}
	if err := t.track(s); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Broadcast implements transport.Transport.
func (t *Transport) Broadcast(_ context.Context, msg *transport.Msg) error {
	if err := t.nc.PublishMsg(&nats.Msg{Subject: msg.Subject, Header: nats.Header(msg.Header), Data: msg.Data}); err != nil {
		return mapErr(msg.Subject, err)
	}
	return nil
}
