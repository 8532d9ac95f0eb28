package transport_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/memory"
)

// TestDeclaredSubjectOnTheWire: requests and events travel on the subject
// the route or topic declares, whatever the Go types are called; a peer
// that knows only the subject (another language, an older build with
// renamed types) answers them.
func TestDeclaredSubjectOnTheWire(t *testing.T) {
	bus := memory.NewBus()
	a, b := memory.New(bus), memory.New(bus)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	seen := make(chan string, 2)
	raw := func(_ context.Context, m *transport.Msg) *transport.Msg {
		seen <- m.Subject
		return transport.Reply{Status: transport.StatusOK, Data: []byte(`{"order_id":"o-1"}`)}.Msg()
	}
	if _, err := a.Serve("catga.cmd.payment.charge", "anyone", raw, transport.ServeConfig{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := transport.Request(ctx, b, chargeRoute, ChargePayment{OrderID: "o-1"})
	if err != nil || got.OrderID != "o-1" {
		t.Fatalf("Request = %+v, %v", got, err)
	}
	if s := <-seen; s != "catga.cmd.payment.charge" {
		t.Errorf("request travelled on %q, want the declared catga.cmd.payment.charge", s)
	}

	if _, err := a.SubscribeBroadcast("catga.bcast.payment.charged", func(_ context.Context, m *transport.Msg) { seen <- m.Subject }); err != nil {
		t.Fatal(err)
	}
	charged := transport.NewTopic[PaymentCharged]("payment.charged")
	if err := transport.BroadcastEvent(ctx, b, charged, PaymentCharged{OrderID: "o-1"}); err != nil {
		t.Fatal(err)
	}
	if s := <-seen; s != "catga.bcast.payment.charged" {
		t.Errorf("event travelled on %q, want catga.bcast.payment.charged", s)
	}
}

// TestInvalidRouteRefused: a route or topic whose name cannot be a subject
// is refused by every function it is handed to, with ErrConfig, before
// anything reaches the wire.
func TestInvalidRouteRefused(t *testing.T) {
	bus := memory.NewBus()
	tr := memory.New(bus)
	t.Cleanup(func() { _ = tr.Close() })
	bad := transport.NewRoute[ChargePayment, PaymentCharged]("payment.>")
	badTopic := transport.NewTopic[PaymentCharged]("")
	ctx := context.Background()
	_, serveErr := transport.Serve(tr, nil, bad)
	_, reqErr := transport.Request(ctx, tr, bad, ChargePayment{})
	_, consumeErr := transport.ConsumeEvents(tr, nil, "billing", badTopic)
	for name, err := range map[string]error{
		"Serve":          serveErr,
		"Register":       transport.Register(nil, tr, bad),
		"Request":        reqErr,
		"PublishEvent":   transport.PublishEvent(ctx, tr, badTopic, PaymentCharged{}),
		"BroadcastEvent": transport.BroadcastEvent(ctx, tr, badTopic, PaymentCharged{}),
		"ConsumeEvents":  consumeErr,
	} {
		if !errors.Is(err, transport.ErrConfig) {
			t.Errorf("%s with an invalid name = %v, want ErrConfig", name, err)
		}
	}
}
