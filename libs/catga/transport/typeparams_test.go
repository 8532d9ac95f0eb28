package transport_test

import (
	"context"
	"testing"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/memory"
)

// TestTypeParameterOrder: the request type comes first wherever both are
// spelled out: a route's and a handler's [Req, Resp] are the same list, so
// the transport functions take them as declared (these instantiations do
// not compile with Request's old [Resp, Req]).
func TestTypeParameterOrder(t *testing.T) {
	bus := memory.NewBus()
	a, b := memory.New(bus), memory.New(bus)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	m := mediator.New()
	var h mediator.RequestHandler[ChargePayment, PaymentCharged] = func(_ context.Context, c ChargePayment) (PaymentCharged, error) {
		return PaymentCharged{OrderID: c.OrderID}, nil
	}
	if err := mediator.Handle[ChargePayment, PaymentCharged](m, h); err != nil {
		t.Fatal(err)
	}
	route := transport.NewRoute[ChargePayment, PaymentCharged]("payment.order")
	if _, err := transport.Serve[ChargePayment, PaymentCharged](a, m, route); err != nil {
		t.Fatal(err)
	}
	got, err := transport.Request[ChargePayment, PaymentCharged](context.Background(), b, route, ChargePayment{OrderID: "o-9"})
	if err != nil || got.OrderID != "o-9" {
		t.Fatalf("Request = %+v, %v", got, err)
	}
}
