package natstransport_test

import (
	"context"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

func Example() {
	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()

	// Two peers: one serves Charge for the "payment" service, one sends it.
	server, _ := natstransport.Connect(natstransport.Config{URLs: []string{srv.ClientURL()}})
	defer func() { _ = server.Close() }()
	payments := mediator.New()
	_ = mediator.Handle(payments, func(_ context.Context, c Charge) (Charged, error) { return Charged{N: c.N * 2}, nil })
	_, _ = transport.Serve(server, payments, chargeRoute)
	_ = server.Conn().Flush()

	client, _ := natstransport.Connect(natstransport.Config{URLs: []string{srv.ClientURL()}})
	defer func() { _ = client.Close() }()
	orders := mediator.New()
	_ = transport.Register(orders, client, chargeRoute)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := mediator.Send[Charged](ctx, orders, Charge{N: 21})
	fmt.Println(res.N, err)
	// Output: 42 <nil>
}
