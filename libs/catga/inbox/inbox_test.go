package inbox_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/inbox"
	"github.com/catga-go/catga/libs/catga/internal/natstest"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// droppedAck is a delivery whose acknowledgement is lost on the way, so
// JetStream delivers the message again after AckWait.
type droppedAck struct{ jetstream.Msg }

func (droppedAck) Ack() error { return nil }

func TestHandlerDuplicateDelivery(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlitestore.Open(ctxT(t), filepath.Join(t.TempDir(), "pay.db"), eventstoretest.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		runHandler[*sql.Tx](t, s, s, func(ctx context.Context, tx *sql.Tx, ev eventstore.Event) error {
			_, err := s.AppendTx(ctx, tx, "wallet", eventstore.Any, []eventstore.Event{ev})
			return err
		})
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := pgstore.New(ctxT(t), pgtest.Pool(t), eventstoretest.NewRegistry(), pgstore.WithSchema("payments"))
		if err != nil {
			t.Fatal(err)
		}
		runHandler[pgx.Tx](t, s, s, func(ctx context.Context, tx pgx.Tx, ev eventstore.Event) error {
			_, err := s.AppendTx(ctx, tx, "wallet", eventstore.Any, []eventstore.Event{ev})
			return err
		})
	})
}

// runHandler delivers three messages through JetStream to an inbox handler
// whose effect appends to the "wallet" stream:
//   - m1: its first ack is lost, so it is delivered twice; one effect.
//   - m2: has no message id; terminated, no effect.
//   - m3: the effect fails once with a retryable error, then succeeds; one
//     effect.
func runHandler[Tx any](t *testing.T, in inbox.Inbox[Tx], store eventstore.Store, appendTx func(context.Context, Tx, eventstore.Event) error) {
	ctx := ctxT(t)
	_, _, js := natstest.JetStream(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{
		Durable: "payments", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second, MaxDeliver: 10,
	})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	deliveries := map[string]int{}
	failedOnce := false
	var metadata []catga.Metadata
	handler := inbox.Handler(in, "payments", func(ctx context.Context, tx Tx, msg jetstream.Msg) error {
		md, _ := catga.MetadataFrom(ctx)
		mu.Lock()
		metadata = append(metadata, md)
		fail := string(msg.Data()) == "m3" && !failedOnce
		failedOnce = failedOnce || fail
		mu.Unlock()
		if fail {
			return errors.New("database hiccup")
		}
		return appendTx(ctx, tx, eventstore.Event{Data: eventstoretest.Deposited{Amount: 1}})
	})
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		key := string(msg.Data())
		mu.Lock()
		deliveries[key]++
		first := deliveries[key] == 1
		mu.Unlock()
		if key == "m1" && first {
			handler(droppedAck{msg})
			return
		}
		handler(msg)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()

	for _, m := range []struct{ id, data string }{{"m1", "m1"}, {"", "m2"}, {"m3", "m3"}} {
		msg := nats.NewMsg("events.order.placed")
		msg.Data = []byte(m.data)
		msg.Header.Set(inbox.HeaderCorrelationID, "order-9")
		var opts []jetstream.PublishOpt
		if m.id != "" {
			opts = append(opts, jetstream.WithMsgID(m.id))
		}
		if _, err := js.PublishMsg(ctx, msg, opts...); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		redelivered := deliveries["m1"] >= 2 && deliveries["m3"] >= 2
		mu.Unlock()
		if redelivered && info.NumAckPending == 0 && info.NumPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: deliveries %v, consumer %+v", deliveries, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs, err := store.Load(ctx, "wallet", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("wallet has %d events after deliveries %v, want 2 (m1 once, m3 once)", len(recs), deliveries)
	}
	mu.Lock()
	defer mu.Unlock()
	if deliveries["m2"] != 1 {
		t.Errorf("m2 (no id) delivered %d times, want 1 (terminated)", deliveries["m2"])
	}
	for _, md := range metadata {
		if md.CorrelationID != "order-9" || md.MessageID == "" {
			t.Errorf("effect metadata = %+v", md)
		}
	}
	if recs[0].CorrelationID != "order-9" || recs[0].CausationID != "m1" {
		t.Errorf("appended event correlation/causation = %q/%q, want order-9/m1", recs[0].CorrelationID, recs[0].CausationID)
	}
}
