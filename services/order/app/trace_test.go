package app_test

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/domain"
)

// The saga's calls to the participants, and the events its steps append,
// continue the trace the saga was started in, whichever peer runs them.
func TestSagaStepsContinueTheOrdersTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	e := newEnv(t, funded())
	o := e.place(t, domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book, pen}}) // out of stock: every kind of step
	ctx, root := tp.Tracer("test").Start(context.Background(), "order.placed delivery")
	if err := e.svc.StartSaga(ctx, placedEvent(o)); err != nil {
		t.Fatal(err)
	}
	root.End()
	if d := e.await(t, o.ID); d.Order.State != domain.StateCancelled {
		t.Fatalf("order ended %s", d.Order.State)
	}
	want := root.SpanContext().TraceID().String()
	if got := e.parts.traceIDs(); !slices.Equal(got, []string{want}) {
		t.Fatalf("participants were called in traces %v, want only the order's %s", got, want)
	}
	var steps []string
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() == want && s.Parent().SpanID() == root.SpanContext().SpanID() {
			steps = append(steps, s.Name())
		}
	}
	slices.Sort(steps)
	// The refused reservation is released too (nothing to undo at inventory,
	// whose fence then refuses a replay of it).
	if wantSteps := []string{"order saga cancel", "order saga charge", "order saga refund", "order saga release", "order saga reserve"}; !slices.Equal(steps, wantSteps) {
		t.Fatalf("step spans under the delivery: %v, want %v", steps, wantSteps)
	}
	recs, err := e.store.Load(t.Context(), "order-"+o.ID, 1)
	if err != nil || len(recs) != 1 || recs[0].Trace["traceparent"] == "" || !containsTrace(recs[0].Trace["traceparent"], want) {
		t.Fatalf("order.cancelled stored with trace %v (%v), want the order's trace", recs, err)
	}
}

func containsTrace(traceparent, traceID string) bool {
	return len(traceparent) > 35 && traceparent[3:35] == traceID
}
