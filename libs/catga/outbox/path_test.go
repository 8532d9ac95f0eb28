package outbox_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/outbox"
	"github.com/catga-go/catga/libs/catga/transport"
)

// TestPoisonStreamDoesNotStallRelay: the heads of 16 streams can never be
// published (no stream captures their subject), they are the oldest
// entries, and the batch size is 16: every claim by age would hold only
// them. (The conformance suite covers 16 poison entries in one stream.) The healthy streams appended after them are still delivered,
// and each poison event is parked with its reason after its attempts.
func TestPoisonStreamDoesNotStallRelay(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := b.db(t)(t, eventstoretest.NewRegistry())
			srv, stream := startNATS(t)
			const poison, healthy, perStream, maxAttempts = 16, 8, 3, 3
			for i := range poison {
				if _, err := store.Append(ctxT(t), fmt.Sprintf("poison-%d", i), eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: -1}}}); err != nil {
					t.Fatal(err)
				}
			}
			subject := func(rec eventstore.Record) string {
				if strings.HasPrefix(rec.StreamID, "poison-") {
					return "nowhere." + rec.Type
				}
				return outbox.DefaultSubject(rec)
			}
			r, err := outbox.NewRelay(store, connect(t, srv), outbox.WithBatchSize(16), outbox.WithSubject(subject),
				outbox.WithMaxAttempts(maxAttempts), outbox.WithRetry(5*time.Millisecond, 20*time.Millisecond), outbox.WithPollInterval(20*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			runRelay(t, r)
			for i := range healthy {
				for v := range int64(perStream) {
					if _, err := store.Append(ctxT(t), fmt.Sprintf("ok-%d", i), v, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: int(v)}}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			waitFor(t, "the healthy streams in JetStream", func() bool { return streamMsgs(t, stream) == healthy*perStream })
			waitFor(t, "every poison event parked", func() bool {
				st, err := store.OutboxStats(ctxT(t))
				return err == nil && st.Parked == poison && st.Pending == 0
			})
			parked, err := store.Parked(ctxT(t), 100)
			if err != nil || len(parked) != poison {
				t.Fatalf("parked = %d entries, %v; want %d", len(parked), err, poison)
			}
			for i, p := range parked {
				if p.StreamID != fmt.Sprintf("poison-%d", i) || p.Version != 1 || p.Attempts != maxAttempts || !strings.Contains(p.Reason, "nowhere.test.deposited") {
					t.Fatalf("parked entry %d: %s@%d after %d attempts: %q", i, p.StreamID, p.Version, p.Attempts, p.Reason)
				}
			}
			if st := r.Stats(); st.Parked != poison || st.Published != healthy*perStream || st.Failed != poison*maxAttempts {
				t.Fatalf("relay stats %+v", st)
			}
		})
	}
}

// PaymentTaken's topic is named as the event is registered, so the
// transport's consumers read the subject the relay publishes on.
type PaymentTaken struct{ Amount int }

var paymentTakenTopic = transport.NewTopic[PaymentTaken]("payment.taken")

// TestOutboxToConsumeEvents: events appended through the outbox reach a
// service consuming them with transport.ConsumeEvents, once each, with the
// event id as message id and the appending request's correlation.
func TestOutboxToConsumeEvents(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			reg := eventstoretest.NewRegistry()
			eventstore.MustRegister[PaymentTaken](reg, "payment.taken")
			store := b.db(t)(t, reg)
			srv, _ := startNATS(t)
			tr := connect(t, srv)
			r, err := outbox.NewRelay(store, tr)
			if err != nil {
				t.Fatal(err)
			}
			runRelay(t, r)

			var mu sync.Mutex
			got := map[string]catga.Metadata{}
			sum := 0
			m := mediator.New()
			if err := mediator.Subscribe(m, func(ctx context.Context, ev PaymentTaken) error {
				md, _ := catga.MetadataFrom(ctx)
				mu.Lock()
				defer mu.Unlock()
				if _, dup := got[md.MessageID]; !dup {
					sum += ev.Amount
				}
				got[md.MessageID] = md
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sub, err := transport.ConsumeEvents(connect(t, srv), m, "ledger", paymentTakenTopic)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sub.Close() })

			const n = 10
			ctx := catga.WithMetadata(ctxT(t), catga.Metadata{MessageID: "cmd-1", CorrelationID: "checkout-7"})
			var ids []string
			for i := range n {
				res, err := store.Append(ctx, fmt.Sprintf("pay-%d", i%3), eventstore.Any, []eventstore.Event{{Data: PaymentTaken{Amount: i + 1}, Metadata: map[string]string{"tenant": "acme"}}})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, res.Records[0].ID)
			}
			waitFor(t, "every event consumed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) == n
			})
			mu.Lock()
			defer mu.Unlock()
			if sum != n*(n+1)/2 {
				t.Fatalf("sum of consumed amounts %d, want %d", sum, n*(n+1)/2)
			}
			for _, id := range ids {
				md, ok := got[id]
				if !ok || md.CorrelationID != "checkout-7" || md.CausationID != "cmd-1" {
					t.Fatalf("event %s consumed with %+v (found %v)", id, md, ok)
				}
			}
		})
	}
}
