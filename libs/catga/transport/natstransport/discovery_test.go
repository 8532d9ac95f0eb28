package natstransport_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

type (
	Refund   struct{ N int }
	Refunded struct{ N int }
	Capture  struct{ N int }
	Captured struct{ N int }
)

var (
	refundRoute  = transport.NewRoute[Refund, Refunded]("payment.refund")
	captureRoute = transport.NewRoute[Capture, Captured]("payment.capture")
)

// TestDiscoveryOnePerPeer: a peer serving three types is one instance of
// its service in discovery, at the configured version, with one endpoint
// per served subject; closing one registration withdraws its endpoint
// only, and the others keep answering.
func TestDiscoveryOnePerPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{s.ClientURL()}, Service: "payment", Version: "1.4.2",
		Metadata: map[string]string{"http": "127.0.0.1:8081", "peer": "not-its-id"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	m := mediator.New()
	_ = mediator.Handle(m, func(_ context.Context, c Charge) (Charged, error) { return Charged{N: c.N}, nil })
	_ = mediator.Handle(m, func(_ context.Context, r Refund) (Refunded, error) { return Refunded(r), nil })
	_ = mediator.Handle(m, func(_ context.Context, c Capture) (Captured, error) { return Captured(c), nil })
	if _, err := transport.Serve(tr, m, chargeRoute, transport.WithConcurrency(3)); err != nil {
		t.Fatal(err)
	}
	refunds, err := transport.Serve(tr, m, refundRoute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transport.Serve(tr, m, captureRoute, transport.WithConcurrency(1)); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pings := gather[micro.Ping](t, nc, "$SRV.PING.payment")
	if len(pings) != 1 || pings[0].Version != "1.4.2" || pings[0].Metadata["peer"] != tr.ID() || pings[0].Metadata["http"] != "127.0.0.1:8081" {
		t.Fatalf("$SRV.PING.payment = %+v, want this one peer at 1.4.2 with its id and metadata", pings)
	}
	infos := gather[micro.Info](t, nc, "$SRV.INFO.payment")
	if len(infos) != 1 {
		t.Fatalf("$SRV.INFO.payment: %d answers, want 1", len(infos))
	}
	if got := subjects(infos[0]); len(got) != 3 {
		t.Fatalf("endpoints %v, want 3 (one per served type)", got)
	}

	if err := refunds.Close(); err != nil {
		t.Fatal(err)
	}
	infos = gather[micro.Info](t, nc, "$SRV.INFO.payment")
	if len(infos) != 1 || len(subjects(infos[0])) != 2 || infos[0].Version != "1.4.2" {
		t.Fatalf("after closing one registration: %+v, want one instance with 2 endpoints", infos)
	}
	if slices.Contains(subjects(infos[0]), refundRoute.Subject()) {
		t.Errorf("closed registration still announced: %v", subjects(infos[0]))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := mediator.New()
	_ = transport.Register(c, connect(t, s.ClientURL()), chargeRoute)
	for i := range 10 {
		if r, err := mediator.Send[Charged](ctx, c, Charge{N: i}); err != nil || r.N != i {
			t.Fatalf("charge %d after closing refunds = %v, %v", i, r, err)
		}
	}
	// STATS counts the requests the peer handled through both of its
	// subscriptions, not only micro's.
	stats := gather[micro.Stats](t, nc, "$SRV.STATS.payment")
	var handled int64 = -1
	for _, ep := range stats[0].Endpoints {
		var d natstransport.EndpointData
		if ep.Subject == chargeRoute.Subject() && json.Unmarshal(ep.Data, &d) == nil {
			handled = d.Handled
		}
	}
	if len(stats) != 1 || handled != 10 {
		t.Fatalf("$SRV.STATS.payment: %d answers, %d charges handled, want 1 and 10", len(stats), handled)
	}
}

func subjects(info micro.Info) []string {
	var out []string
	for _, e := range info.Endpoints {
		out = append(out, e.Subject)
	}
	return out
}

// gather collects every answer to a discovery request within 300ms.
func gather[T any](t *testing.T, nc *nats.Conn, subject string) []T {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var out []T
	for {
		msg, err := sub.NextMsg(300 * time.Millisecond)
		if err != nil {
			return out
		}
		var v T
		if err := json.Unmarshal(msg.Data, &v); err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		out = append(out, v)
	}
}
