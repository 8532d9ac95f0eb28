package outbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/natsembed"
	"github.com/catga-go/catga/libs/catga/outbox"
)

type OrderPlaced struct{ OrderID string }

// A relay publishes appended events to JetStream right after commit.
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
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"events.>"}})
	if err != nil {
		fmt.Println(err)
		return
	}

	relay, err := outbox.NewRelay(store, js)
	if err != nil {
		fmt.Println(err)
		return
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = relay.Run(rctx) })
	defer func() { stop(); wg.Wait() }()

	_, err = store.Append(ctx, "order-7", eventstore.NoStream, []eventstore.Event{{ID: "evt-1", Data: OrderPlaced{OrderID: "7"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	cons, _ := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	h := msg.Headers()
	fmt.Println(msg.Subject(), h.Get(jetstream.MsgIDHeader), h.Get(inbox.HeaderStream), h.Get(inbox.HeaderVersion), string(msg.Data()))
	// Output: events.order.placed evt-1 order-7 1 {"OrderID":"7"}
}
