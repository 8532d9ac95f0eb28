package outbox_test

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
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
