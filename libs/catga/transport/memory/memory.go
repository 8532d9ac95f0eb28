package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

// Transport is an in-process transport. Several Transports may share one
// [Bus] to act as separate peers.
type Transport struct {
	bus    *Bus
	logger *slog.Logger
	mu     sync.Mutex
	closed bool
	subs   map[transport.Subscription]struct{}
}

// Bus is the shared medium, the in-process stand-in for a NATS cluster.
type Bus struct {
	mu        sync.Mutex
	queues    map[string]map[string][]*worker // subject -> queue -> members
	bcast     map[string][]*worker
	log       map[string][]*transport.Msg // durable messages by subject
	seen      map[string]*transport.Msg   // durable messages by dedup id
	consumers map[string]*group
	store     *idempotency.Memory // shared by the bus's peers, as a NATS bucket is
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	return &Bus{
		queues:    map[string]map[string][]*worker{},
		bcast:     map[string][]*worker{},
		log:       map[string][]*transport.Msg{},
		seen:      map[string]*transport.Msg{},
		consumers: map[string]*group{},
		store:     idempotency.NewMemory(),
	}
}

// Option configures a memory Transport.
type Option func(*Transport)

// WithLogger sets where recovered handler panics are logged (default
// discards).
func WithLogger(l *slog.Logger) Option { return func(t *Transport) { t.logger = l } }

// New returns a peer on bus (a new bus when nil).
func New(bus *Bus, opts ...Option) *Transport {
	if bus == nil {
		bus = NewBus()
	}
	t := &Transport{bus: bus, logger: slog.New(slog.DiscardHandler), subs: map[transport.Subscription]struct{}{}}
	for _, o := range opts {
		o(t)
	}
	return t
}

var _ transport.Transport = (*Transport)(nil)

// IdempotencyStore implements transport.StoreProvider: one store per bus,
// shared by its peers.
func (t *Transport) IdempotencyStore() (idempotency.Store, error) { return t.bus.store, nil }

type job struct {
	msg   *transport.Msg
	reply chan *transport.Msg // nil for broadcast
}

// worker is one subscription: n goroutines reading one channel. Senders
// hold mu for reading while they send, so Close (which takes it for
// writing) never closes the channel under a sender; the goroutines keep
// draining, so a blocked sender always progresses.
type worker struct {
	mu     sync.RWMutex
	closed bool
	ch     chan job
	wg     sync.WaitGroup
	once   sync.Once
	onStop func()
}

func newWorker(n int, handle func(job)) *worker {
	w := &worker{ch: make(chan job, 1024)}
	for range max(n, 1) {
		w.wg.Go(func() {
			for j := range w.ch {
				handle(j)
			}
		})
	}
	return w
}

func (w *worker) send(j job) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	w.ch <- j
	return true
}

// Close stops taking messages, handles the queued ones and waits.
func (w *worker) Close() error {
	w.once.Do(func() {
		if w.onStop != nil {
			w.onStop()
		}
		w.mu.Lock()
		w.closed = true
		close(w.ch)
		w.mu.Unlock()
		w.wg.Wait()
	})
	return nil
}

func (t *Transport) track(s transport.Subscription) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return transport.ErrClosed
	}
	t.subs[s] = struct{}{}
	return nil
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Request implements transport.Transport.
func (t *Transport) Request(ctx context.Context, req *transport.Msg) (*transport.Msg, error) {
	if t.isClosed() {
		return nil, transport.ErrClosed
	}
	b := t.bus
	b.mu.Lock()
	var targets []*worker
	for _, members := range b.queues[req.Subject] {
		if len(members) > 0 {
			targets = append(targets, members[rand.N(len(members))])
		}
	}
	b.mu.Unlock()
	reply := make(chan *transport.Msg, len(targets))
	sent := 0
	for _, w := range targets {
		if w.send(job{msg: copyMsg(req), reply: reply}) {
			sent++
		}
	}
	if sent == 0 {
		return nil, fmt.Errorf("%w for %s", transport.ErrNoResponders, req.Subject)
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("catga: %s: %w", req.Subject, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %s: %w", transport.ErrTimeout, req.Subject, ctx.Err())
	}
}

// Serve implements transport.Transport.
func (t *Transport) Serve(subject, queue string, h transport.RequestHandler, cfg transport.ServeConfig) (transport.Subscription, error) {
	if subject == "" || queue == "" {
		return nil, fmt.Errorf("%w: empty subject or queue", transport.ErrConfig)
	}
	w := newWorker(cfg.Concurrency, func(j job) {
		var r *transport.Msg
		if err := transport.Guard(subject, func() error { r = h(context.Background(), j.msg); return nil }); err != nil {
			transport.LogPanic(context.Background(), t.logger, subject, err)
			r = transport.ReplyFromError(err).Msg()
		}
		if r == nil {
			r = &transport.Msg{}
		}
		j.reply <- copyMsg(r)
	})
	b := t.bus
	w.onStop = func() {
		b.mu.Lock()
		if q := b.queues[subject]; q != nil {
			q[queue] = remove(q[queue], w)
		}
		b.mu.Unlock()
		t.untrack(w)
	}
	if err := t.track(w); err != nil {
		_ = w.Close()
		return nil, err
	}
	b.mu.Lock()
	if b.queues[subject] == nil {
		b.queues[subject] = map[string][]*worker{}
	}
	b.queues[subject][queue] = append(b.queues[subject][queue], w)
	b.mu.Unlock()
	return w, nil
}

func (t *Transport) untrack(s transport.Subscription) {
	t.mu.Lock()
	delete(t.subs, s)
	t.mu.Unlock()
}

// Broadcast implements transport.Transport.
func (t *Transport) Broadcast(_ context.Context, msg *transport.Msg) error {
	if t.isClosed() {
		return transport.ErrClosed
	}
	t.bus.mu.Lock()
	subs := append([]*worker(nil), t.bus.bcast[msg.Subject]...)
	t.bus.mu.Unlock()
	for _, w := range subs {
		w.send(job{msg: copyMsg(msg)})
	}
	return nil
}

// SubscribeBroadcast implements transport.Transport.
func (t *Transport) SubscribeBroadcast(subject string, h transport.MsgHandler) (transport.Subscription, error) {
	w := newWorker(1, func(j job) {
		if err := transport.Guard(subject, func() error { h(context.Background(), j.msg); return nil }); err != nil {
			transport.LogPanic(context.Background(), t.logger, subject, err)
		}
	})
	b := t.bus
	w.onStop = func() {
		b.mu.Lock()
		b.bcast[subject] = remove(b.bcast[subject], w)
		b.mu.Unlock()
		t.untrack(w)
	}
	if err := t.track(w); err != nil {
		_ = w.Close()
		return nil, err
	}
	b.mu.Lock()
	b.bcast[subject] = append(b.bcast[subject], w)
	b.mu.Unlock()
	return w, nil
}

// PublishDurable implements transport.Transport.
func (t *Transport) PublishDurable(_ context.Context, msg *transport.Msg) error {
	if t.isClosed() {
		return transport.ErrClosed
	}
	return t.bus.publish(copyMsg(msg))
}

func (b *Bus) publish(msg *transport.Msg) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id := msg.Header.Get(transport.HeaderNatsMsgID); id != "" {
		if stored, dup := b.seen[id]; dup {
			if stored.Subject != msg.Subject || !bytes.Equal(stored.Data, msg.Data) {
				return catga.Permanent(fmt.Errorf("%w: %s on %s", transport.ErrDuplicateID, id, msg.Subject))
			}
			return nil
		}
		b.seen[id] = msg
	}
	b.log[msg.Subject] = append(b.log[msg.Subject], msg)
	for _, g := range b.consumers {
		if g.cfg.Subject == msg.Subject {
			g.push(delivery{msg: msg, attempt: 1})
		}
	}
	return nil
}

type delivery struct {
	msg     *transport.Msg
	attempt int
}

// group is a durable consumer. It outlives its members, as a JetStream
// durable does: messages published while nobody consumes wait for the
// next member.
type group struct {
	bus     *Bus
	cfg     transport.ConsumerConfig
	mu      sync.Mutex
	cond    *sync.Cond
	pending []delivery
	timers  map[*time.Timer]struct{}
}

func (g *group) push(d delivery) {
	g.mu.Lock()
	g.pending = append(g.pending, d)
	g.mu.Unlock()
	g.cond.Signal()
}

// Consume implements transport.Transport.
func (t *Transport) Consume(cfg transport.ConsumerConfig, h transport.DurableHandler) (transport.Subscription, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	b := t.bus
	b.mu.Lock()
	g := b.consumers[cfg.Name]
	if g == nil {
		g = &group{bus: b, cfg: cfg, timers: map[*time.Timer]struct{}{}}
		g.cond = sync.NewCond(&g.mu)
		for _, m := range b.log[cfg.Subject] { // deliver all, like DeliverAllPolicy
			g.pending = append(g.pending, delivery{msg: m, attempt: 1})
		}
		b.consumers[cfg.Name] = g
	} else if g.cfg.Subject != cfg.Subject {
		b.mu.Unlock()
		return nil, fmt.Errorf("%w: consumer %s reads %s, not %s", transport.ErrConfig, cfg.Name, g.cfg.Subject, cfg.Subject)
	} else {
		g.cfg = cfg
	}
	b.mu.Unlock()
	c := &consumer{g: g, t: t, h: h, done: make(chan struct{})}
	if err := t.track(c); err != nil {
		return nil, err
	}
	for range cfg.Concurrency {
		c.wg.Go(c.run)
	}
	return c, nil
}

type consumer struct {
	g       *group
	t       *Transport
	h       transport.DurableHandler
	stopped bool // guarded by g.mu
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

func (c *consumer) run() {
	g := c.g
	for {
		g.mu.Lock()
		for len(g.pending) == 0 && !c.stopped {
			g.cond.Wait()
		}
		if c.stopped {
			g.mu.Unlock()
			return
		}
		d := g.pending[0]
		g.pending = g.pending[1:]
		cfg := g.cfg
		g.mu.Unlock()
		c.deliver(cfg, d)
	}
}

func (c *consumer) deliver(cfg transport.ConsumerConfig, d delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.HandlerTimeout)
	err := transport.Guard(cfg.Subject, func() error { return c.h(ctx, transport.Delivery{Msg: copyMsg(d.msg), Attempt: d.attempt}) })
	cancel()
	if transport.IsPanic(err) {
		transport.LogPanic(ctx, c.t.logger, cfg.Subject, err)
	}
	v := cfg.Decide(err, d.attempt)
	switch {
	case v.Ack:
	case v.Retry:
		c.g.redeliverAfter(v.Delay, delivery{msg: d.msg, attempt: d.attempt + 1})
	default:
		if err := c.g.bus.publish(deadLetter(cfg.Name, d.msg, v.DeadReason)); err != nil {
			c.t.logger.Error("catga: dead letter", "consumer", cfg.Name, "error", err)
		}
	}
}

func (g *group) redeliverAfter(delay time.Duration, d delivery) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var tm *time.Timer
	tm = time.AfterFunc(delay, func() {
		g.mu.Lock()
		delete(g.timers, tm)
		g.pending = append(g.pending, d)
		g.mu.Unlock()
		g.cond.Signal()
	})
	g.timers[tm] = struct{}{}
}

func deadLetter(consumer string, m *transport.Msg, reason string) *transport.Msg {
	h := transport.Header{}
	for k, v := range m.Header {
		h[k] = append([]string(nil), v...)
	}
	h.Set(transport.HeaderDeadReason, reason)
	h.Set(transport.HeaderDeadSubject, m.Subject)
	if id := m.Header.Get(transport.HeaderNatsMsgID); id != "" {
		h.Set(transport.HeaderNatsMsgID, "dlq-"+consumer+"-"+id)
	}
	return &transport.Msg{Subject: transport.DeadLetterSubject(consumer), Header: h, Data: m.Data}
}

// Close finishes the delivery in hand and stops; the rest stays with the
// durable consumer.
func (c *consumer) Close() error {
	c.once.Do(func() {
		c.g.mu.Lock()
		c.stopped = true
		c.g.mu.Unlock()
		c.g.cond.Broadcast()
		c.wg.Wait()
		c.t.untrack(c)
	})
	return nil
}

// Close drains every subscription of this peer. Later calls fail with
// transport.ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	subs := make([]transport.Subscription, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func remove(ws []*worker, w *worker) []*worker {
	out := ws[:0:0]
	for _, x := range ws {
		if x != w {
			out = append(out, x)
		}
	}
	return out
}

// copyMsg gives each receiver its own headers and body, as a network would.
func copyMsg(m *transport.Msg) *transport.Msg {
	h := make(transport.Header, len(m.Header))
	for k, v := range m.Header {
		h[k] = append([]string(nil), v...)
	}
	return &transport.Msg{Subject: m.Subject, Header: h, Data: append([]byte(nil), m.Data...)}
}
