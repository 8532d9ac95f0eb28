package natstransport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// logBuffer is a slog destination that tests can read while peers write.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// poison makes the handlers of the panic tests panic.
const poison = 13

func panicIfPoison(n int) {
	if n == poison {
		var none []int
		none[n-poison]++ // a real runtime panic: index out of range
	}
}

// TestPanickingHandlerDoesNotCrashPeers: two peers serve a command whose
// handler panics on one input. The caller gets a permanent error matching
// mediator.ErrPanic, without the panic value or the stack; the handler ran
// once (a panic is not retried onto the next peer); the stack is in the
// serving peer's log; both peers keep serving.
func TestPanickingHandlerDoesNotCrashPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	logs := &logBuffer{}
	var panics atomic.Int64
	served := map[string]*atomic.Int64{"r1": {}, "r2": {}}
	for _, name := range []string{"r1", "r2"} {
		tr, err := natstransport.Connect(natstransport.Config{URLs: []string{s.ClientURL()}, Name: name, Logger: logs.logger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		m := mediator.New()
		_ = mediator.Handle(m, func(_ context.Context, c Charge) (Charged, error) {
			if c.N == poison {
				panics.Add(1)
			}
			panicIfPoison(c.N)
			served[name].Add(1)
			return Charged{N: c.N, Peer: name}, nil
		})
		if _, err := transport.Serve(tr, m, chargeRoute, transport.WithLogger(logs.logger()), transport.WithConcurrency(2)); err != nil {
			t.Fatal(err)
		}
		if err := tr.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}
	caller := connect(t, s.ClientURL())
	m := mediator.New()
	if err := transport.Register(m, caller, chargeRoute, transport.WithRetry(20, 10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, err := mediator.Send[Charged](ctx, m, Charge{N: poison})
	switch {
	case err == nil:
		t.Fatal("Send of the poison request succeeded")
	case !errors.Is(err, mediator.ErrPanic):
		t.Errorf("err = %v: want one matching mediator.ErrPanic", err)
	case catga.IsRetryable(err):
		t.Errorf("err = %v is retryable: a panic must not be retried onto the next peer", err)
	}
	if msg := fmt.Sprint(err); strings.Contains(msg, "goroutine") || strings.Contains(msg, "index out of range") {
		t.Errorf("the caller's error carries the panic or its stack: %q", msg)
	}
	if n := panics.Load(); n != 1 {
		t.Errorf("the poison request ran %d times, want 1", n)
	}
	log := logs.String()
	if !strings.Contains(log, "handler panicked") || !strings.Contains(log, "index out of range") || !strings.Contains(log, "panicIfPoison") {
		t.Errorf("the serving peer's log lacks the panic and its stack:\n%s", log)
	}

	// Both peers are alive and serve: requests spread over the queue group.
	for i := range 40 {
		resp, err := mediator.Send[Charged](ctx, m, Charge{N: 100 + i})
		if err != nil || resp.N != 100+i {
			t.Fatalf("request %d after the panic: %+v, %v", i, resp, err)
		}
	}
	for name, n := range served {
		if n.Load() == 0 {
			t.Errorf("peer %s served nothing after the panic", name)
		}
	}
}

// TestPanickingEventHandlerDeadLetters: an event whose handler panics is
// dead-lettered once, with a reason that names the panic but holds no
// stack; the consumer goes on with the next events.
func TestPanickingEventHandlerDeadLetters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	logs := &logBuffer{}
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{s.ClientURL()}, Name: "consumer", Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	topic := transport.NewTopic[Charge]("test.panic")
	var panics, good atomic.Int64
	m := mediator.New()
	_ = mediator.Subscribe(m, func(_ context.Context, c Charge) error {
		if c.N == poison {
			panics.Add(1)
		}
		panicIfPoison(c.N)
		good.Add(1)
		return nil
	})
	if _, err := transport.ConsumeEvents(tr, m, "billing", topic, transport.WithLogger(logs.logger())); err != nil {
		t.Fatal(err)
	}
	dead := make(chan *transport.Msg, 4)
	if _, err := tr.Consume(transport.ConsumerConfig{Name: "billing_dlq", Subject: transport.DeadLetterSubject(topic.Consumer("billing"))},
		func(_ context.Context, d transport.Delivery) error { dead <- d.Msg; return nil }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range []int{1, poison, 2, 3} {
		if err := transport.PublishEvent(ctx, tr, topic, Charge{N: n}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case d := <-dead:
		reason := d.Header.Get(transport.HeaderDeadReason)
		if !strings.Contains(reason, "panicked") || strings.Contains(reason, "goroutine") {
			t.Errorf("dead reason %q: want the panic named, without a stack", reason)
		}
	case <-ctx.Done():
		t.Fatal("the poison event was not dead-lettered")
	}
	waitFor(t, 10*time.Second, "the three good events", func() bool { return good.Load() == 3 })
	if n := panics.Load(); n != 1 {
		t.Errorf("the poison event ran %d times, want 1", n)
	}
	if !strings.Contains(logs.String(), "panicIfPoison") {
		t.Errorf("the consumer's log lacks the stack:\n%s", logs.String())
	}
}
