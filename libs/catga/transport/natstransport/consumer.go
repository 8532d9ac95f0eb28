package natstransport

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/internal/backoff"
	"github.com/catga-go/catga/libs/catga/transport"
)

// Dead-letter headers beyond the reason and subject: where and when the
// message was stored, and how often it was delivered.
const (
	HeaderDeadStream   = "Catga-Dead-Stream"
	HeaderDeadSequence = "Catga-Dead-Sequence"
	HeaderDeadTime     = "Catga-Dead-Time" // RFC 3339, when the original was stored
	HeaderDeadAttempts = "Catga-Dead-Attempts"
	HeaderDeadConsumer = "Catga-Dead-Consumer"
)

type consumerSub struct {
	t        *Transport
	cc       jetstream.ConsumeContext
	inflight sync.WaitGroup // deliveries being handled
	once     sync.Once
}

// Close stops pulling, lets the deliveries in hand finish (bounded by
// DrainTimeout) and returns; what was pulled ahead and not started is
// redelivered by the server.
func (c *consumerSub) Close() error {
	c.once.Do(func() {
		c.cc.Drain()
		done := make(chan struct{})
		go func() {
			<-c.cc.Closed()
			c.inflight.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(c.t.cfg.DrainTimeout):
		}
		c.t.mu.Lock()
		delete(c.t.consumers, c)
		c.t.mu.Unlock()
	})
	return nil
}

// Consume implements transport.Transport with a durable pull consumer.
//
// The peer pulls at most Concurrency messages ahead and handles up to
// Concurrency at once, so nothing waits in a buffer long enough to pass
// AckWait unhandled; a running handler reports progress every AckWait/3.
// A retryable failure is redelivered on the backoff schedule (see
// transport.ConsumerConfig.Decide). The delivery budget is counted here,
// not by the server (whose MaxDeliver is unlimited): a message past it is
// dead-lettered, and if the dead-letter publish fails it is redelivered
// and tried again, never abandoned.
func (t *Transport) Consume(cfg transport.ConsumerConfig, h transport.DurableHandler) (transport.Subscription, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := t.ensureStream(ctx); err != nil {
		return nil, err
	}
	var cons jetstream.Consumer
	err := retrySetup(ctx, func(ctx context.Context) (err error) {
		cons, err = t.js.CreateOrUpdateConsumer(ctx, t.cfg.Stream, jetstream.ConsumerConfig{
			Durable:       cfg.Name,
			FilterSubject: cfg.Subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       cfg.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: cfg.MaxAckPending,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("catga: consumer %s: %w", cfg.Name, err)
	}
	c := &consumerSub{t: t}
	slots := make(chan struct{}, cfg.Concurrency)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		// Progress is reported from the moment the message is here, so
		// that waiting for a free slot does not count against AckWait.
		stop := progress(m, cfg.AckWait)
		c.inflight.Add(1)
		slots <- struct{}{} // blocks the pull loop while every slot is busy
		go func() {
			defer func() { stop(); <-slots; c.inflight.Done() }()
			t.deliver(cfg, m, h)
		}()
	}, jetstream.PullMaxMessages(cfg.Concurrency), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("catga: consume %s: %w", cfg.Name, err)
	}
	c.cc = cc
	t.mu.Lock()
	closing := t.isClosing
	if !closing {
		t.consumers[c] = struct{}{}
	}
	t.mu.Unlock()
	if closing {
		cc.Stop()
		return nil, transport.ErrClosed
	}
	return c, nil
}

func (t *Transport) deliver(cfg transport.ConsumerConfig, m jetstream.Msg, h transport.DurableHandler) {
	attempt := 1
	var meta *jetstream.MsgMetadata
	if md, err := m.Metadata(); err == nil {
		meta, attempt = md, int(md.NumDelivered)
	}
	msg := &transport.Msg{Subject: m.Subject(), Header: transport.Header(m.Headers()), Data: m.Data()}
	if attempt > cfg.MaxDeliver {
		// Earlier deliveries were lost to AckWait (a crashed or hung
		// peer) or the dead-letter publish failed: the budget is spent.
		t.deadLetter(cfg, m, msg, meta, attempt, fmt.Sprintf("catga: not acknowledged within %s in %d deliveries", cfg.AckWait, cfg.MaxDeliver))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.HandlerTimeout)
	err := transport.Guard(cfg.Subject, func() error { return h(ctx, transport.Delivery{Msg: msg, Attempt: attempt}) })
	cancel()
	if transport.IsPanic(err) {
		transport.LogPanic(ctx, t.cfg.Logger, cfg.Subject, err)
	}
	v := cfg.Decide(err, attempt)
	switch {
	case v.Ack:
		if aerr := m.Ack(); aerr != nil {
			t.cfg.Logger.Warn("catga: ack", "consumer", cfg.Name, "error", aerr)
		}
	case v.Retry:
		t.cfg.Logger.Warn("catga: delivery failed, redelivering", "consumer", cfg.Name, "attempt", attempt, "in", v.Delay, "error", err)
		_ = m.NakWithDelay(v.Delay)
	default:
		t.deadLetter(cfg, m, msg, meta, attempt, v.DeadReason)
	}
}

// progress tells the server every AckWait/3 that m is still being worked
// on, so that a long handler's message is not redelivered elsewhere. The
// returned func stops it.
func progress(m jetstream.Msg, ackWait time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(max(ackWait/3, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = m.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// deadPolicy spaces the redeliveries of a message whose dead-letter
// publish failed.
var deadPolicy = backoff.Policy{Initial: time.Second, Max: 30 * time.Second, Jitter: 0.2}

// deadLetter publishes the message to the consumer's dead-letter subject
// with the reason and where it came from, then terminates it. If that
// publish fails the message is redelivered later (the server's delivery
// count is unlimited) and dead-lettered then: it is never dropped.
func (t *Transport) deadLetter(cfg transport.ConsumerConfig, m jetstream.Msg, msg *transport.Msg, meta *jetstream.MsgMetadata, attempt int, reason string) {
	h := nats.Header{}
	for k, v := range msg.Header {
		h[k] = v
	}
	h.Set(transport.HeaderDeadReason, reason)
	h.Set(transport.HeaderDeadSubject, msg.Subject)
	h.Set(HeaderDeadConsumer, cfg.Name)
	h.Set(HeaderDeadAttempts, strconv.Itoa(attempt))
	id := "dlq-" + cfg.Name + "-"
	if meta != nil {
		h.Set(HeaderDeadStream, meta.Stream)
		h.Set(HeaderDeadSequence, strconv.FormatUint(meta.Sequence.Stream, 10))
		h.Set(HeaderDeadTime, meta.Timestamp.UTC().Format(time.RFC3339Nano))
		id += strconv.FormatUint(meta.Sequence.Stream, 10)
	} else {
		id += msg.Header.Get(transport.HeaderNatsMsgID)
	}
	h.Set(transport.HeaderNatsMsgID, id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := t.js.PublishMsg(ctx, &nats.Msg{Subject: transport.DeadLetterSubject(cfg.Name), Header: h, Data: msg.Data}); err != nil {
		t.cfg.Logger.Error("catga: dead letter", "consumer", cfg.Name, "error", err)
		_ = m.NakWithDelay(deadPolicy.Delay(attempt - cfg.MaxDeliver + 1))
		return
	}
	_ = m.TermWithReason(reason)
}
