package transport_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/tracing"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/memory"
)

type ChargePayment struct {
	OrderID string `json:"order_id"`
	Cents   int    `json:"cents"`
}

type PaymentCharged struct {
	OrderID string `json:"order_id"`
}

// chargeRoute is the payment service's contract, declared once and used by
// both sides: requests travel on catga.cmd.payment.charge whatever the Go
// types are called.
var chargeRoute = transport.NewRoute[ChargePayment, PaymentCharged]("payment.charge")

func Example() {
	bus := memory.NewBus() // stands in for a NATS cluster
	paymentPeer, orderPeer := memory.New(bus), memory.New(bus)
	defer func() { _ = paymentPeer.Close(); _ = orderPeer.Close() }()

	// The payment service handles ChargePayment and serves it.
	payments := mediator.New()
	_ = mediator.Handle(payments, func(ctx context.Context, c ChargePayment) (PaymentCharged, error) {
		if c.Cents > 10_000 {
			return PaymentCharged{}, catga.Reject("limit_exceeded", "%d cents is over the limit", c.Cents)
		}
		return PaymentCharged{OrderID: c.OrderID}, nil
	})
	_, _ = transport.Serve(paymentPeer, payments, chargeRoute)

	// The order service routes ChargePayment over the transport.
	orders := mediator.New()
	_ = transport.Register(orders, orderPeer, chargeRoute)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := mediator.Send[PaymentCharged](ctx, orders, ChargePayment{OrderID: "o-1", Cents: 500})
	fmt.Println(res.OrderID, err)
	_, err = mediator.Send[PaymentCharged](ctx, orders, ChargePayment{OrderID: "o-2", Cents: 50_000})
	fmt.Println(catga.IsRejection(err), catga.IsRetryable(err))
	// Output:
	// o-1 <nil>
	// true false
}

// TestTraceAcrossPeers: the serving peer's span continues the caller's trace.
func TestTraceAcrossPeers(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := transport.WithTracer(tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{})))

	bus := memory.NewBus()
	a, b := memory.New(bus), memory.New(bus)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	server := mediator.New()
	_ = mediator.Handle(server, func(context.Context, ChargePayment) (PaymentCharged, error) { return PaymentCharged{}, nil })
	if _, err := transport.Serve(a, server, chargeRoute, tr); err != nil {
		t.Fatal(err)
	}
	caller := mediator.New()
	_ = transport.Register(caller, b, chargeRoute, tr)
	ctx, root := tp.Tracer("test").Start(context.Background(), "root")
	if _, err := mediator.Send[PaymentCharged](ctx, caller, ChargePayment{}); err != nil {
		t.Fatal(err)
	}
	root.End()
	kinds := map[trace.SpanKind]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %q is in another trace", s.Name())
		}
		kinds[s.SpanKind()] = s
	}
	client, server2 := kinds[trace.SpanKindClient], kinds[trace.SpanKindServer]
	if client == nil || server2 == nil {
		t.Fatalf("want a client and a server span, got %d spans", len(rec.Ended()))
	}
	if server2.Parent().SpanID() != client.SpanContext().SpanID() {
		t.Errorf("server span's parent is not the client span")
	}
}
