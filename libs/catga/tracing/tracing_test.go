package tracing_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/catga-go/catga/libs/catga/tracing"
)

func TestCarrierIsCaseSensitive(t *testing.T) {
	h := nats.Header{}
	c := tracing.Carrier(h)
	c.Set("traceparent", "a")
	c.Set("Traceparent", "b")
	tests := []struct{ key, want string }{
		{"traceparent", "a"},
		{"Traceparent", "b"},
		{"TRACEPARENT", ""},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			if got := c.Get(tc.key); got != tc.want {
				t.Errorf("Get(%q) = %q, want %q", tc.key, got, tc.want)
			}
			if got := h.Get(tc.key); got != tc.want {
				t.Errorf("nats.Header.Get(%q) = %q, want %q (same map)", tc.key, got, tc.want)
			}
		})
	}
	if len(c.Keys()) != 2 {
		t.Errorf("Keys = %v", c.Keys())
	}
}

func TestSendReceiveLinksSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{}))

	h := nats.Header{}
	_, send := tr.StartSend(context.Background(), trace.SpanKindClient, "catga.cmd.x", "m1", h)
	if h.Get("traceparent") == "" {
		t.Fatalf("no traceparent injected: %v", h)
	}
	_, recv := tr.StartReceive(context.Background(), trace.SpanKindServer, "catga.cmd.x", "m1", h)
	tracing.End(recv, nil)
	tracing.End(send, nil)

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	server, client := spans[0], spans[1]
	if server.SpanContext().TraceID() != client.SpanContext().TraceID() {
		t.Errorf("receive span is in another trace")
	}
	if server.Parent().SpanID() != client.SpanContext().SpanID() {
		t.Errorf("receive span's parent = %s, want the send span %s", server.Parent().SpanID(), client.SpanContext().SpanID())
	}
	if server.SpanKind() != trace.SpanKindServer || client.SpanKind() != trace.SpanKindClient {
		t.Errorf("kinds = %s, %s", server.SpanKind(), client.SpanKind())
	}
}

// TestNoopProviderPropagatesParent: with a no-op provider no span is
// started, but a parent trace context in ctx still reaches the headers, and
// one in the headers still reaches the handler's context.
func TestNoopProviderPropagatesParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	parent, parentSpan := tp.Tracer("test").Start(context.Background(), "parent")
	defer parentSpan.End()

	tests := []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"value", noop.NewTracerProvider()},
		{"pointer", new(noop.TracerProvider)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := tracing.New(tracing.WithTracerProvider(tc.tp), tracing.WithPropagator(propagation.TraceContext{}))
			h := nats.Header{}
			ctx, span := tr.StartSend(parent, trace.SpanKindClient, "catga.cmd.x", "m1", h)
			if span.IsRecording() {
				t.Error("no-op provider returned a recording span")
			}
			if !trace.SpanContextFromContext(ctx).Equal(parentSpan.SpanContext()) {
				t.Error("send context lost the parent span context")
			}
			tracing.End(span, nil)
			if !parentSpan.IsRecording() {
				t.Fatal("ending the no-op span ended the caller's span")
			}
			if h.Get("traceparent") == "" {
				t.Fatalf("parent trace context not injected: %v", h)
			}
			rctx, rspan := tr.StartReceive(context.Background(), trace.SpanKindServer, "catga.cmd.x", "m1", h)
			tracing.End(rspan, nil)
			if got := trace.SpanContextFromContext(rctx); got.TraceID() != parentSpan.SpanContext().TraceID() {
				t.Errorf("receive context trace = %s, want %s", got.TraceID(), parentSpan.SpanContext().TraceID())
			}
		})
	}
}

// TestDefaultFollowsGlobalInstalledLater: a Tracer made before the
// application installs its global provider and propagator records spans
// once they are installed (and none before).
func TestDefaultFollowsGlobalInstalledLater(t *testing.T) {
	tr := tracing.New()
	h := nats.Header{}
	_, span := tr.StartSend(context.Background(), trace.SpanKindClient, "catga.cmd.x", "m1", h)
	tracing.End(span, nil)
	if span.IsRecording() || len(h) != 0 {
		t.Fatalf("before any global provider: recording=%v headers=%v, want a no-op", span.IsRecording(), h)
	}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	_, send := tr.StartSend(context.Background(), trace.SpanKindClient, "catga.cmd.x", "m1", h)
	if h.Get("traceparent") == "" {
		t.Errorf("no traceparent injected after the global propagator was set: %v", h)
	}
	_, recv := tr.StartReceive(context.Background(), trace.SpanKindServer, "catga.cmd.x", "m1", h)
	tracing.End(recv, nil)
	tracing.End(send, nil)
	if n := len(rec.Ended()); n != 2 {
		t.Errorf("%d spans recorded after the global provider was set, want 2", n)
	}
}
