package natstransport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/catga-go/catga/libs/catga/transport"
)

// servingSub is a set of subscriptions serving one registration, with the
// handlers they are running.
type servingSub struct {
	t        *Transport
	subs     []*nats.Subscription
	svc      micro.Service // discovery registration, nil for broadcasts
	inflight sync.WaitGroup
	once     sync.Once
	err      error
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
		if s.svc != nil {
			if err := s.svc.Stop(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				s.err = err
			}
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

// Serve implements transport.Transport: cfg.Concurrency subscriptions in
// queue group queue on subject, each handled by its own goroutine, so
// Concurrency is how many requests run at once. The registration is also
// a nats.go/micro service named cfg.Service (default: queue), so
// $SRV.PING/INFO.<service> list every peer (see [Transport.ID]) with the
// subject it serves and Config.Version.
func (t *Transport) Serve(subject, queue string, h transport.RequestHandler, cfg transport.ServeConfig) (transport.Subscription, error) {
	name := cfg.Service
	if name == "" {
		name = queue
	}
	s := &servingSub{t: t}
	handle := func(m *nats.Msg) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		var reply *transport.Msg
		err := transport.Guard(subject, func() error {
			reply = h(context.Background(), &transport.Msg{Subject: m.Subject, Header: transport.Header(m.Header), Data: m.Data})
			return nil
		})
		if err != nil {
			transport.LogPanic(context.Background(), t.cfg.Logger, subject, err)
			reply = transport.ReplyFromError(err).Msg()
		}
		if m.Reply == "" {
			return
		}
		if reply == nil {
			reply = &transport.Msg{}
		}
		if len(reply.Header) == 0 {
			err = t.nc.Publish(m.Reply, reply.Data) // the common OK reply: no HPUB, no Msg
		} else {
			err = t.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Header: nats.Header(reply.Header), Data: reply.Data})
		}
		if err != nil {
			t.cfg.Logger.Warn("catga: reply", "subject", subject, "error", err)
		}
	}
	for range max(cfg.Concurrency, 1) {
		sub, err := t.nc.QueueSubscribe(subject, queue, handle)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("catga: serve %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	svc, err := micro.AddService(t.nc, micro.Config{
		Name: name, Version: t.cfg.Version, QueueGroup: queue,
		Description: "catga peer serving " + subject,
		Metadata:    map[string]string{"peer": t.id, "subject": subject, "endpoint": cfg.Endpoint},
	})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("catga: serve %s: register for discovery: %w", subject, err)
	}
	s.svc = svc
	if err := t.track(s); err != nil {
		_ = s.Close()
		return nil, err
	}
	// When Serve returns, the server knows the subscriptions (while
	// connected): requests sent from now on can reach them.
	_ = t.nc.FlushTimeout(t.cfg.ConnectTimeout)
	return s, nil
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
