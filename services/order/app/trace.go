package app

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The saga engine runs steps in spans of their own traces (a saga outlives
// the request that started it, and may move to another peer). To keep one
// trace per order, the saga data carries the trace context of the
// order.placed delivery that started it, and each step call runs in a span
// of that trace, linked to the engine's span of the step. The participants'
// spans, and the outbox and notification spans of the events a step
// appends, follow.

const tracerName = "github.com/catga-go/catga/services/order/app"

// traceCarrier captures ctx's trace context (nil without one).
func traceCarrier(ctx context.Context) map[string]string {
	c := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, c)
	if len(c) == 0 {
		return nil
	}
	return c
}

// inOrderTrace starts the span of a step call (name) in the order's trace
// when d carries one, else as a child of ctx's span. End the span.
func inOrderTrace(ctx context.Context, d *SagaData, name string) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	parent := ctx
	if len(d.Trace) > 0 {
		remote := otel.GetTextMapPropagator().Extract(context.Background(), propagation.MapCarrier(d.Trace))
		if sc := trace.SpanContextFromContext(remote); sc.IsValid() {
			parent = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	return otel.Tracer(tracerName).Start(parent, "order saga "+name, opts...)
}

// traced runs fn in the span of a step call; see [inOrderTrace].
func traced(ctx context.Context, d *SagaData, name string, fn func(ctx context.Context) error) error {
	ctx, span := inOrderTrace(ctx, d, name)
	defer span.End()
	err := fn(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
