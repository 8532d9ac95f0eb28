package tracing_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

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
