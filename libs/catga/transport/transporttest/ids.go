package transporttest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
)

// StepSends: one saga step (one caller-set message id and idempotency
// key) sends two different commands of one type and publishes two
// different events of one type. Each command runs and gets its own reply;
// each event is stored and handled.
func StepSends(t *testing.T, f Factory) {
	var calls atomic.Int64
	m := pair(t, f, uniq("catga.cmd.ct"), func(_ context.Context, c Charge) (Charged, error) {
		calls.Add(1)
		return Charged{OrderID: c.OrderID}, nil
	})
	p := f(t, 1)
	subject := uniq("catga.evt.ct.step")
	events := countShipped(t, p[0], subject)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	step := uniq("saga-1/step-0")
	ctx = catga.WithMetadata(ctx, catga.Metadata{MessageID: step + "@1", IdempotencyKey: step, CorrelationID: "saga-1"})
	for _, order := range []string{"a", "b"} {
		got, err := mediator.Send[Charged](ctx, m, Charge{OrderID: order})
		if err != nil || got.OrderID != order {
			t.Fatalf("Send %s from the step: %+v, %v; want its own reply", order, got, err)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("handler ran %d times for two different commands, want 2", calls.Load())
	}
	for _, order := range []string{"a", "b"} {
		if err := transport.PublishEvent(ctx, p[0], topicAt[Shipped](subject), Shipped{OrderID: order}); err != nil {
			t.Fatalf("PublishEvent %s from the step: %v", order, err)
		}
	}
	waitFor(t, 10*time.Second, "both events of the step", func() bool {
		return events.of("a") == 1 && events.of("b") == 1
	})
}

// RerunSameIDs: a handler that runs twice for one message (here its
// deduplication is off, as after a lapsed claim) publishes the same event
// both times; the derived event id is the same, so it is stored and
// handled once.
func RerunSameIDs(t *testing.T, f Factory) {
	p := f(t, 2)
	cmd, evt := uniq("catga.cmd.ct"), uniq("catga.evt.ct.rerun")
	var runs atomic.Int64
	server := mediator.New()
	_ = mediator.Handle(server, func(ctx context.Context, c Charge) (Charged, error) {
		runs.Add(1)
		return Charged{OrderID: c.OrderID}, transport.PublishEvent(ctx, p[0], topicAt[Shipped](evt), Shipped{OrderID: c.OrderID})
	})
	if _, err := transport.Serve(p[0], server, routeAt(cmd), transport.WithoutIdempotency()); err != nil {
		t.Fatal(err)
	}
	events := countShipped(t, p[1], evt)
	caller := mediator.New()
	if err := transport.Register(caller, p[1], routeAt(cmd), transport.WithRetry(20, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := uniq("cmd-")
	for range 2 {
		if _, err := mediator.Send[Charged](catga.WithMetadata(ctx, catga.Metadata{MessageID: id}), caller, Charge{OrderID: "o-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != 2 {
		t.Fatalf("handler ran %d times, want 2 (deduplication is off)", runs.Load())
	}
	// A later event, consumed in order after the first: once it is in, a
	// second copy of o-1 would have been too.
	if err := transport.PublishEvent(ctx, p[0], topicAt[Shipped](evt), Shipped{OrderID: "marker"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the marker event", func() bool { return events.of("marker") == 1 })
	if n := events.of("o-1"); n != 1 {
		t.Errorf("the re-run handler's event was handled %d times, want 1", n)
	}
}

// DuplicateID: re-publishing a message is harmless; publishing a
// different message under a used id is refused, not dropped in silence.
func DuplicateID(t *testing.T, f Factory) {
	p := f(t, 1)
	subject, id := uniq("catga.evt.ct.dup"), uniq("dup-")
	publish(t, p[0], subject, id, "first")
	publish(t, p[0], subject, id, "first")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := transport.Header{transport.HeaderNatsMsgID: {id}}
	err := p[0].PublishDurable(ctx, &transport.Msg{Subject: subject, Header: h, Data: []byte("second")})
	if !errors.Is(err, transport.ErrDuplicateID) || catga.IsRetryable(err) {
		t.Fatalf("PublishDurable of another message under id %s: %v; want permanent ErrDuplicateID", id, err)
	}
}

// shippedCount counts the Shipped events a consumer handled, by order.
type shippedCount struct {
	mu sync.Mutex
	n  map[string]int
}

// countShipped consumes the Shipped events on subject through tr.
func countShipped(t *testing.T, tr transport.Transport, subject string) *shippedCount {
	t.Helper()
	c := &shippedCount{n: map[string]int{}}
	m := mediator.New()
	_ = mediator.Subscribe(m, func(_ context.Context, e Shipped) error {
		c.mu.Lock()
		c.n[e.OrderID]++
		c.mu.Unlock()
		return nil
	})
	if _, err := transport.ConsumeEvents(tr, m, uniq("notification"), topicAt[Shipped](subject)); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *shippedCount) of(order string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[order]
}
