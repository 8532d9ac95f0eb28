package natstransport_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/transport"
)

// TestDeadLetterWhenNeverAcknowledged: a consumer takes an event and dies
// without acknowledging it (a hung handler, then its connection is cut).
// JetStream redelivers after AckWait to the service's other peer, which
// finds the delivery budget spent and dead-letters the event with the
// reason instead of running it again or dropping it.
func TestDeadLetterWhenNeverAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	hung, survivor := connect(t, s.ClientURL()), connect(t, s.ClientURL())
	subject := "catga.evt.test.unacked"
	cfg := transport.ConsumerConfig{Name: "svc-unacked", Subject: subject, MaxDeliver: 1, AckWait: 300 * time.Millisecond}

	release := make(chan struct{})
	defer close(release) // lets the hung handler return when the test ends
	taken := make(chan struct{}, 1)
	if _, err := hung.Consume(cfg, func(context.Context, transport.Delivery) error {
		taken <- struct{}{}
		<-release // ignores its context, as a stuck handler would
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := transport.Header{transport.HeaderNatsMsgID: {"evt-1"}, transport.HeaderMsgID: {"evt-1"}}
	if err := hung.PublishDurable(ctx, &transport.Msg{Subject: subject, Header: h, Data: []byte("payload")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-taken:
	case <-ctx.Done():
		t.Fatal("the first consumer never got the event")
	}
	hung.Conn().Close() // dies without acknowledging

	ran := make(chan struct{}, 1)
	if _, err := survivor.Consume(cfg, func(context.Context, transport.Delivery) error {
		ran <- struct{}{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dead := make(chan *transport.Msg, 1)
	if _, err := survivor.Consume(transport.ConsumerConfig{Name: "svc-unacked_dlq", Subject: transport.DeadLetterSubject(cfg.Name)},
		func(_ context.Context, d transport.Delivery) error {
			dead <- d.Msg
			return nil
		}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-dead:
		if string(m.Data) != "payload" || !strings.Contains(m.Header.Get(transport.HeaderDeadReason), "not acknowledged within") {
			t.Fatalf("dead letter %q with reason %q, want the payload and the AckWait reason", m.Data, m.Header.Get(transport.HeaderDeadReason))
		}
	case <-ctx.Done():
		t.Fatal("no dead letter after the delivery budget ran out")
	}
	select {
	case <-ran:
		t.Fatal("the event ran again past MaxDeliver")
	default:
	}
}
