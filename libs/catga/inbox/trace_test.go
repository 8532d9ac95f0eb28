package inbox_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/internal/natstest"
)

// TestHandlerJoinsThePublishersTrace: the effect runs in the trace whose
// W3C context the message carries (put there by the outbox relay).
func TestHandlerJoinsThePublishersTrace(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	ctx := ctxT(t)
	s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "pay.db"), eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	_, _, js := natstest.JetStream(t)
	eventsStream(t, js)
	msg := nats.NewMsg("events.order.placed")
	msg.Header.Set(inbox.HeaderMsgID, "m-traced")
	msg.Header["traceparent"] = []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{Durable: "payments", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan trace.SpanContext, 1)
	handler, err := inbox.JetStreamHandler[*sql.Tx](s, "payments", inbox.JetStreamConfig{DeadLetters: js}, func(ctx context.Context, _ *sql.Tx, _ jetstream.Msg) error {
		got <- trace.SpanContextFromContext(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next()
	if err != nil {
		t.Fatal(err)
	}
	handler(m)
	sc := <-got
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsRemote() {
		t.Fatalf("effect ran in span context %v, want the message's remote trace", sc)
	}
}
