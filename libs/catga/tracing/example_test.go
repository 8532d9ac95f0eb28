package tracing_test

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga/tracing"
)

func Example() {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{}))

	msg := nats.NewMsg("catga.cmd.payment.ChargePayment")
	ctx, span := tr.StartSend(context.Background(), trace.SpanKindClient, msg.Subject, "msg-1", msg.Header)
	defer span.End()

	// On the receiving peer:
	remote := tr.Extract(context.Background(), msg.Header)
	fmt.Println(trace.SpanContextFromContext(remote).TraceID() == trace.SpanContextFromContext(ctx).TraceID())
	// Output: true
}
