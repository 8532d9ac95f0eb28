package outbox_test

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/outbox"
)

// TestTraceCrossesTheOutbox: the trace of the request that appended an
// event reaches the published message's headers (as written: W3C keys are
// lower case), so the consumer's work joins the producer's trace; the
// event's metadata goes along as Catga-Meta-<key> headers.
func TestTraceCrossesTheOutbox(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := b.db(t)(t, eventstoretest.NewRegistry())
			srv, stream := startNATS(t)
			r, err := outbox.NewRelay(store, connect(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
			sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
			ctx := trace.ContextWithSpanContext(ctxT(t), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
			if _, err := store.Append(ctx, "t", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{}, Metadata: map[string]string{"tenant": "acme"}}}); err != nil {
				t.Fatal(err)
			}
			runRelay(t, r)
			waitFor(t, "the traced event to be published", func() bool { return r.Stats().Published == 1 })
			m, err := stream.GetMsg(ctxT(t), 1)
			if err != nil {
				t.Fatal(err)
			}
			const want = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			if got := m.Header["traceparent"]; len(got) != 1 || got[0] != want {
				t.Fatalf("published traceparent = %v, want %s (headers %v)", got, want, m.Header)
			}
			if got := m.Header.Get(outbox.HeaderMetadataPrefix + "tenant"); got != "acme" {
				t.Fatalf("published metadata header = %q, want acme (headers %v)", got, m.Header)
			}
		})
	}
}

// TestEachMessageHasAProducerSpanInItsEventsTrace: with a recording
// provider every published event gets a producer span whose parent is the
// appending request's span, with the OTel messaging attributes, and the
// message carries that span's context, so a consumer becomes its child
// within the request's trace. The relay's batch span is internal.
func TestEachMessageHasAProducerSpanInItsEventsTrace(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	store := backends()[0].db(t)(t, eventstoretest.NewRegistry())
	srv, stream := startNATS(t)
	r, err := outbox.NewRelay(store, connect(t, srv), outbox.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	ctx, request := tp.Tracer("test").Start(ctxT(t), "request", trace.WithSpanKind(trace.SpanKindServer))
	for _, stream := range []string{"a", "b"} {
		if _, err := store.Append(ctx, stream, eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Opened{}}}); err != nil {
			t.Fatal(err)
		}
	}
	request.End()
	runRelay(t, r)
	waitFor(t, "both events to be published", func() bool { return r.Stats().Published == 2 })

	var producers []sdktrace.ReadOnlySpan
	waitFor(t, "two producer spans to end", func() bool {
		producers = producers[:0]
		for _, s := range rec.Ended() {
			if s.SpanKind() == trace.SpanKindProducer {
				producers = append(producers, s)
			}
		}
		return len(producers) == 2
	})
	for _, s := range producers {
		if s.Parent().SpanID() != request.SpanContext().SpanID() || s.SpanContext().TraceID() != request.SpanContext().TraceID() {
			t.Fatalf("producer span %q has parent %s in trace %s, want the request's span %s in trace %s",
				s.Name(), s.Parent().SpanID(), s.SpanContext().TraceID(), request.SpanContext().SpanID(), request.SpanContext().TraceID())
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.AsString()
		}
		if attrs["messaging.system"] != "nats" || attrs["messaging.destination.name"] == "" || attrs["messaging.message.id"] == "" {
			t.Fatalf("producer span %q attributes %v lack the messaging attributes", s.Name(), attrs)
		}
	}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := stream.GetMsg(ctxT(t), seq)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Header["traceparent"]
		found := false
		for _, s := range producers {
			found = found || (len(got) == 1 && strings.Contains(got[0], s.SpanContext().SpanID().String()))
		}
		if !found {
			t.Fatalf("message %d traceparent %v is not one of the producer spans", seq, got)
		}
	}
}
