package natstransport_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
)

// TestStreamNotRewritten: an operator sized the event stream (limits the
// peers know nothing of). A peer that publishes and consumes uses it as it
// is, and reports that its own config differs.
func TestStreamNotRewritten(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	admin := connect(t, s.ClientURL())
	js, err := jetstream.New(admin.Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sized := jetstream.StreamConfig{
		Name: "CATGA_EVENTS", Subjects: []string{"catga.evt.>", "catga.dlq.>"},
		MaxAge: time.Hour, MaxMsgs: 5000, Duplicates: 10 * time.Minute, Storage: jetstream.FileStorage,
	}
	if _, err := js.CreateStream(ctx, sized); err != nil {
		t.Fatal(err)
	}

	logs := &logBuffer{}
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{s.ClientURL()}, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	h := transport.Header{transport.HeaderNatsMsgID: {"e1"}}
	if err := tr.PublishDurable(ctx, &transport.Msg{Subject: "catga.evt.test.sized", Header: h, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Consume(transport.ConsumerConfig{Name: "sized", Subject: "catga.evt.test.sized"},
		func(context.Context, transport.Delivery) error { return nil }); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "CATGA_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	got := st.CachedInfo().Config
	if got.MaxAge != sized.MaxAge || got.MaxMsgs != sized.MaxMsgs || got.Duplicates != sized.Duplicates {
		t.Errorf("stream rewritten: max_age %v, max_msgs %d, duplicates %v; want %v, %d, %v",
			got.MaxAge, got.MaxMsgs, got.Duplicates, sized.MaxAge, sized.MaxMsgs, sized.Duplicates)
	}
	if !strings.Contains(logs.String(), "differs") {
		t.Errorf("the difference was not reported:\n%s", logs.String())
	}
}

// TestStreamCreatedBounded: a stream the transport creates is bounded in
// age and size, so events and dead letters cannot grow without end.
func TestStreamCreatedBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	tr := connect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := transport.Header{transport.HeaderNatsMsgID: {"e1"}}
	if err := tr.PublishDurable(ctx, &transport.Msg{Subject: "catga.evt.test.bounded", Header: h, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(tr.Conn())
	st, err := js.Stream(ctx, "CATGA_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; c.MaxAge <= 0 || c.MaxBytes <= 0 {
		t.Errorf("stream created unbounded: max_age %v, max_bytes %d", c.MaxAge, c.MaxBytes)
	}
}

// TestStreamMissingSubject: an existing stream that does not hold the
// events' subjects is reported, not widened behind the operator's back.
func TestStreamMissingSubject(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server; skipped in -short mode")
	}
	s := startServer(t)
	tr := connect(t, s.ClientURL())
	js, _ := jetstream.New(tr.Conn())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CATGA_EVENTS", Subjects: []string{"catga.evt.>"}}); err != nil {
		t.Fatal(err)
	}
	h := transport.Header{transport.HeaderNatsMsgID: {"e1"}}
	err := tr.PublishDurable(ctx, &transport.Msg{Subject: "catga.evt.test.x", Header: h, Data: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "catga.dlq.>") {
		t.Fatalf("PublishDurable = %v; want the missing dead-letter subject reported", err)
	}
}
