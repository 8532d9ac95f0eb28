package mediator_test

import (
	"context"
	"testing"

	"github.com/catga-go/catga/libs/catga/mediator"
)

type benchCommand struct {
	OrderID  string
	Customer string
	Amount   int64
}

type benchResult struct {
	OrderID string
	Status  int
}

type benchEvent struct {
	OrderID string
	Amount  int64
}

// BenchmarkSend: one command through two pass-through middlewares.
func BenchmarkSend(b *testing.B) {
	m := mediator.New(mediator.WithMiddleware(passThrough(), passThrough()))
	must(b, mediator.Handle(m, func(_ context.Context, c benchCommand) (benchResult, error) {
		return benchResult{OrderID: c.OrderID, Status: 1}, nil
	}))
	ctx := context.Background()
	cmd := benchCommand{OrderID: "order-1", Customer: "ada", Amount: 4200}
	b.ReportAllocs()
	for b.Loop() {
		res, err := mediator.Send[benchResult](ctx, m, cmd)
		if err != nil || res.Status != 1 {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkPublish: one event to two handlers, through the same two
// pass-through middlewares.
func BenchmarkPublish(b *testing.B) {
	m := mediator.New(mediator.WithMiddleware(passThrough(), passThrough()))
	var sum int64
	for range 2 {
		must(b, mediator.Subscribe(m, func(_ context.Context, e benchEvent) error { sum += e.Amount; return nil }))
	}
	ctx := context.Background()
	ev := benchEvent{OrderID: "order-1", Amount: 1}
	b.ReportAllocs()
	for b.Loop() {
		if err := mediator.Publish(ctx, m, ev); err != nil {
			b.Fatal(err)
		}
	}
	if sum == 0 {
		b.Fatal("handlers never ran")
	}
}

// BenchmarkSendNoMiddleware is the floor: registry lookup plus the handler call.
func BenchmarkSendNoMiddleware(b *testing.B) {
	m := mediator.New()
	must(b, mediator.Handle(m, func(_ context.Context, c benchCommand) (benchResult, error) {
		return benchResult{OrderID: c.OrderID, Status: 1}, nil
	}))
	ctx := context.Background()
	cmd := benchCommand{OrderID: "order-1", Customer: "ada", Amount: 4200}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mediator.Send[benchResult](ctx, m, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendParallel: Send from every P at once, to show the registry and
// frame pool do not serialise callers.
func BenchmarkSendParallel(b *testing.B) {
	m := mediator.New(mediator.WithMiddleware(passThrough(), passThrough()))
	must(b, mediator.Handle(m, func(_ context.Context, c benchCommand) (benchResult, error) {
		return benchResult{OrderID: c.OrderID, Status: 1}, nil
	}))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cmd := benchCommand{OrderID: "order-1", Customer: "ada", Amount: 4200}
		for pb.Next() {
			if _, err := mediator.Send[benchResult](ctx, m, cmd); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
