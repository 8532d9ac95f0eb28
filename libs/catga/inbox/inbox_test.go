package inbox_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/catga/transport/natstransport"
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

// eventsStream creates a stream over events.> and the transport's
// dead-letter subjects.
func eventsStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	st, err := js.CreateStream(ctxT(t), jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>", "catga.dlq.>"}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// deadLetters returns the reasons of the dead letters of consumer, by the
// data of the message.
func deadLetters(t *testing.T, st jetstream.Stream, consumer string) map[string]string {
	t.Helper()
	out := map[string]string{}
	info, err := st.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctxT(t), seq)
		if err != nil || m.Subject != transport.DeadLetterSubject(consumer) {
			continue
		}
		out[string(m.Data)] = m.Header.Get(transport.HeaderDeadReason)
	}
	return out
}

// runHandler delivers four messages through JetStream to an inbox handler
// whose effect appends to the "wallet" stream:
//   - m1: its first ack is lost, so it is delivered twice; one effect.
//   - m2: has no message id; dead-lettered with the reason, no effect.
//   - m3: the effect fails once with a retryable error, then succeeds; one
//     effect.
//   - m4: the effect is rejected; dead-lettered with the reason.
func runHandler[Tx any](t *testing.T, in inbox.Inbox[Tx], store eventstore.Store, appendTx func(context.Context, Tx, eventstore.Event) error) {
	ctx := ctxT(t)
	_, _, js := natstest.JetStream(t)
	stream := eventsStream(t, js)
	cons, err := js.CreateOrUpdateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{
		Durable: "payments", FilterSubject: "events.>", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Second, MaxDeliver: 10,
	})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	deliveries := map[string]int{}
	failedOnce := false
	var metadata []catga.Metadata
	handler, err := inbox.JetStreamHandler(in, "payments", inbox.JetStreamConfig{MaxDeliver: 10, RetryInitial: 20 * time.Millisecond, DeadLetters: js},
		func(ctx context.Context, tx Tx, msg jetstream.Msg) error {
			md, _ := catga.MetadataFrom(ctx)
			mu.Lock()
			metadata = append(metadata, md)
			fail := string(msg.Data()) == "m3" && !failedOnce
			failedOnce = failedOnce || fail
			mu.Unlock()
			if fail {
				return errors.New("database hiccup")
			}
			if string(msg.Data()) == "m4" {
				return catga.Reject("unknown_wallet", "no such wallet")
			}
			return appendTx(ctx, tx, eventstore.Event{Data: eventstoretest.Deposited{Amount: 1}})
		})
	if err != nil {
		t.Fatal(err)
	}
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

	for _, m := range []struct{ id, data string }{{"m1", "m1"}, {"", "m2"}, {"m3", "m3"}, {"m4", "m4"}} {
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
	if deliveries["m2"] != 1 || deliveries["m4"] != 1 {
		t.Errorf("m2 (no id) and m4 (rejected) delivered %d and %d times, want 1 each (dead-lettered)", deliveries["m2"], deliveries["m4"])
	}
	dead := deadLetters(t, stream, "payments")
	if !strings.Contains(dead["m2"], "without id") || !strings.Contains(dead["m4"], "no such wallet") || len(dead) != 2 {
		t.Errorf("dead letters = %v, want m2 (no id) and m4 (rejected) with their reasons", dead)
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

// TestHandlerSurvivesDatabaseOutage: the database is locked by another
// writer for longer than MaxDeliver immediate redeliveries would take. The
// handler's backoff spreads the redeliveries out, so the message is applied
// once the database is back instead of being given up on.
func TestHandlerSurvivesDatabaseOutage(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "pay.db")
	s, err := sqlitestore.Open(ctx, path, eventstoretest.NewRegistry(), sqlitestore.WithBusyTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	_, _, js := natstest.JetStream(t)
	stream := eventsStream(t, js)
	const maxDeliver = 5
	cons, err := js.CreateOrUpdateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{
		Durable: "payments", FilterSubject: "events.>", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second, MaxDeliver: maxDeliver,
	})
	if err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	handler, err := inbox.JetStreamHandler[*sql.Tx](s, "payments", inbox.JetStreamConfig{MaxDeliver: maxDeliver, RetryInitial: 150 * time.Millisecond, DeadLetters: js},
		func(ctx context.Context, tx *sql.Tx, _ jetstream.Msg) error {
			_, err := s.AppendTx(ctx, tx, "wallet", eventstore.Any, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 1}}})
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) { attempts.Add(1); handler(msg) })
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()

	// The outage: another connection holds SQLite's write lock for 800ms,
	// far longer than 5 deliveries that each wait 20ms for it.
	lock, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Close() })
	tx, err := lock.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("events.order.placed")
	msg.Data = []byte("pay")
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("m1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs, err := s.Load(ctx, "wallet", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 {
			break
		}
		if dead := deadLetters(t, stream, "payments"); len(dead) > 0 || time.Now().After(deadline) {
			t.Fatalf("message not applied after %d deliveries; dead letters %v", attempts.Load(), dead)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := attempts.Load(); n < 2 || n > maxDeliver {
		t.Fatalf("%d deliveries, want a retry within MaxDeliver %d", n, maxDeliver)
	}
}

// TestHandlerThroughTransport: the inbox handler on a transport consumer
// applies a message once however often it arrives, and a message it cannot
// apply goes to the consumer's dead-letter subject with the reason. An
// effect cut off by shutdown rolls back and is applied on redelivery.
func TestHandlerThroughTransport(t *testing.T) {
	ctx := ctxT(t)
	s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "pay.db"), eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	srv, _, js := natstest.JetStream(t)
	tr, err := natstransport.Connect(natstransport.Config{URLs: []string{srv.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })

	shutdown, stop := context.WithCancel(context.Background())
	defer stop()
	blocked := make(chan struct{})
	var once sync.Once
	effect := func(ctx context.Context, tx *sql.Tx, d transport.Delivery) error {
		switch string(d.Data) {
		case "reject":
			return catga.Reject("unknown_wallet", "no such wallet")
		case "slow":
			if d.Attempt == 1 {
				if _, err := s.AppendTx(ctx, tx, "wallet", eventstore.Any, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 100}}}); err != nil {
					return err
				}
				once.Do(func() { close(blocked) })
				<-ctx.Done() // until shutdown
				return ctx.Err()
			}
		}
		_, err := s.AppendTx(ctx, tx, "wallet", eventstore.Any, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 1}}})
		return err
	}
	consumer := transport.ConsumerConfig{Name: "payments", Subject: "catga.evt.>", RetryDelay: 20 * time.Millisecond}
	sub, err := tr.Consume(consumer, inbox.Handler[*sql.Tx](s, "payments", effect, inbox.WithShutdown(shutdown), inbox.WithTimeout(10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}

	publish := func(natsID, catgaID, data string) {
		t.Helper()
		h := transport.Header{}
		if natsID != "" {
			h.Set(transport.HeaderNatsMsgID, natsID)
		}
		if catgaID != "" {
			h.Set(transport.HeaderMsgID, catgaID)
		}
		if err := tr.PublishDurable(ctx, &transport.Msg{Subject: "catga.evt.payment", Header: h, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	// The same message twice, stored twice (another publisher's copy,
	// outside the broker's deduplication): applied once.
	publish("copy-1", "pay-1", "pay")
	publish("copy-2", "pay-1", "pay")
	publish("", "", "no id")
	publish("r", "r", "reject")
	publish("slow", "slow", "slow")
	select {
	case <-blocked:
	case <-ctx.Done():
		t.Fatal("slow effect never ran")
	}
	// Shutdown: the slow effect's transaction rolls back, the service
	// stops consuming, and its next instance applies the redelivery.
	stop()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	sub, err = tr.Consume(consumer, inbox.Handler[*sql.Tx](s, "payments", effect))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })

	stream, err := js.Stream(ctx, "CATGA_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs, err := s.Load(ctx, "wallet", 0)
		if err != nil {
			t.Fatal(err)
		}
		dead := deadLetters(t, stream, "payments")
		if len(recs) == 2 && len(dead) == 2 {
			for _, r := range recs {
				if r.Event != (eventstoretest.Deposited{Amount: 1}) {
					t.Fatalf("wallet holds %+v: the shut-down effect committed", r.Event)
				}
			}
			if !strings.Contains(dead["no id"], "without id") || !strings.Contains(dead["reject"], "no such wallet") {
				t.Fatalf("dead letters = %v", dead)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wallet has %d events, dead letters %v; want 2 and 2", len(recs), dead)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunPruner: records older than the retention go on the schedule; the
// pruner stops with its context.
func TestRunPruner(t *testing.T) {
	s, err := sqlitestore.Open(ctxT(t), filepath.Join(t.TempDir(), "prune.db"), eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	noop := func(context.Context, *sql.Tx) error { return nil }
	if err := s.Process(ctxT(t), "c", "m", noop); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- inbox.RunPruner(ctx, s, time.Millisecond, 10*time.Millisecond, nil) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Process(ctxT(t), "c", "m", noop)
		if err == nil {
			break // pruned: the message applies again
		}
		if !errors.Is(err, inbox.ErrDuplicate) || time.Now().After(deadline) {
			t.Fatalf("record never pruned: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestHandlerSuggestsBackoff: a retryable failure comes back as a
// RetryError whose delay grows with the delivery attempt, for transports
// that honour it; it is still retryable and still the effect's error.
func TestHandlerSuggestsBackoff(t *testing.T) {
	s, err := sqlitestore.Open(ctxT(t), filepath.Join(t.TempDir(), "retry.db"), eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	down := errors.New("database down")
	h := inbox.Handler[*sql.Tx](s, "c", func(context.Context, *sql.Tx, transport.Delivery) error { return down },
		inbox.WithRetry(100*time.Millisecond, time.Second))
	var last time.Duration
	for attempt := 1; attempt <= 4; attempt++ {
		err := h(ctxT(t), transport.Delivery{Msg: &transport.Msg{Subject: "s", Header: transport.Header{transport.HeaderMsgID: {"m"}}}, Attempt: attempt})
		var re *inbox.RetryError
		if !errors.As(err, &re) || !errors.Is(err, down) || !catga.IsRetryable(err) {
			t.Fatalf("attempt %d: %v, want a retryable RetryError wrapping the failure", attempt, err)
		}
		if re.RetryAfter() <= last {
			t.Fatalf("attempt %d: delay %v, not above %v", attempt, re.RetryAfter(), last)
		}
		last = re.RetryAfter()
	}
	rejected := inbox.Handler[*sql.Tx](s, "c", func(context.Context, *sql.Tx, transport.Delivery) error { return catga.Reject("no", "no") })
	err = rejected(ctxT(t), transport.Delivery{Msg: &transport.Msg{Subject: "s", Header: transport.Header{transport.HeaderMsgID: {"r"}}}, Attempt: 1})
	if errors.As(err, new(*inbox.RetryError)) || !errors.Is(err, catga.ErrRejected) {
		t.Fatalf("rejection: %v, want it as is", err)
	}
}
