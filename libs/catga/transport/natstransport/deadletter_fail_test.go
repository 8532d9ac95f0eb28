package natstransport_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// TestDeadLetterPublishFailureNotAbandoned: the stream refuses a dead
// letter (here: an operator's one-message-per-subject limit, already met
// by an earlier dead letter). The message must not be abandoned once its
// deliveries are spent: it is redelivered until the dead letter can be
// written, which it is once the operator clears the older one. The dead
// letter says where the message came from.
func TestDeadLetterPublishFailureNotAbandoned(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	tr := connect(t, s.ClientURL())
	js, err := jetstream.New(tr.Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "CATGA_EVENTS", Subjects: []string{"catga.evt.>", "catga.dlq.>"},
		MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	const name = "dlqfail"
	if _, err := tr.Consume(transport.ConsumerConfig{Name: name, Subject: "catga.evt.test.dlqfail.>", MaxDeliver: 1},
		func(context.Context, transport.Delivery) error { return catga.Permanent(errors.New("poison")) }); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		subject := "catga.evt.test.dlqfail." + strconv.Itoa(i)
		h := transport.Header{transport.HeaderNatsMsgID: {subject}}
		if err := tr.PublishDurable(ctx, &transport.Msg{Subject: subject, Header: h, Data: []byte(subject)}); err != nil {
			t.Fatal(err)
		}
	}
	dlq := transport.DeadLetterSubject(name)
	lastDead := func() (*jetstream.RawStreamMsg, error) { return stream.GetLastMsgForSubject(ctx, dlq) }
	// The first poison event fills the dead-letter subject; the second's
	// dead letter is refused.
	var first *jetstream.RawStreamMsg
	waitFor(t, 10*time.Second, "the first dead letter", func() bool {
		first, err = lastDead()
		return err == nil
	})
	for _, k := range []string{natstransport.HeaderDeadSequence, natstransport.HeaderDeadTime, natstransport.HeaderDeadAttempts, natstransport.HeaderDeadConsumer} {
		if first.Header.Get(k) == "" {
			t.Errorf("dead letter lacks %s: %v", k, first.Header)
		}
	}
	time.Sleep(2 * time.Second) // the second's dead letter is refused meanwhile, at least once
	if m, err := lastDead(); err != nil || m.Sequence != first.Sequence {
		t.Fatalf("dead-letter subject changed while full: %v, %v", m, err)
	}
	// The operator clears the old dead letter: the refused one gets in.
	if err := stream.DeleteMsg(ctx, first.Sequence); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the refused dead letter to be written", func() bool {
		m, err := lastDead()
		return err == nil && m.Sequence != first.Sequence
	})
}
