package outbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/outbox"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// OrderPlaced's topic is named as the event is registered in the event
// store, so the transport's consumers and the relay agree on the subject.
type OrderPlaced struct{ OrderID string }

var orderPlacedTopic = transport.NewTopic[OrderPlaced]("order.placed")

// A relay publishes appended events through the transport right after
// commit; any service consumes them with transport.ConsumeEvents.
func ExampleRelay() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[OrderPlaced](reg, "order.placed")
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "orders.db"), reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = store.Close() }()

	srv, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{srv.ClientURL()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = tr.Close() }()

	relay, err := outbox.NewRelay(store, tr)
	if err != nil {
		fmt.Println(err)
		return
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = relay.Run(rctx) })
	defer func() { stop(); wg.Wait() }()

	got := make(chan string, 1)
	m := mediator.New()
	_ = mediator.Subscribe(m, func(ctx context.Context, ev OrderPlaced) error {
		md, _ := catga.MetadataFrom(ctx)
		got <- ev.OrderID + " " + md.MessageID
		return nil
	})
	sub, err := transport.ConsumeEvents(tr, m, "shipping", orderPlacedTopic)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = sub.Close() }()

	_, err = store.Append(ctx, "order-7", eventstore.NoStream, []eventstore.Event{{ID: "evt-1", Data: OrderPlaced{OrderID: "7"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	select {
	case s := <-got:
		fmt.Println(s)
	case <-ctx.Done():
		fmt.Println("timed out")
	}
	// Output: 7 evt-1
}
