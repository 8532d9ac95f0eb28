package app_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/peer/peertest"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/app"
	"github.com/catga-go/catga/services/order/domain"
)

// env is one order service over a real SQLite event store and an
// in-memory saga store (which passes the saga store conformance suite).
type env struct {
	store  peertest.Store
	sagas  sagastore.Store
	engine *saga.Engine
	svc    *app.Service
	parts  *participants
}

func newEnv(t *testing.T, parts *participants, opts ...saga.Option) *env {
	t.Helper()
	reg := eventstore.NewRegistry()
	if err := app.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	e := &env{store: peertest.SQLite(t, "order", reg).Store, sagas: memory.New(), parts: parts}
	e.engine, e.svc = e.peer(t, opts...)
	return e
}

// peer adds another peer over e's stores: its own engine and service.
func (e *env) peer(t *testing.T, opts ...saga.Option) (*saga.Engine, *app.Service) {
	t.Helper()
	engine := saga.New(e.sagas, opts...)
	svc, err := app.New(e.store, engine, e.parts, e.parts)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = engine.Close(ctx)
	})
	return engine, svc
}

var (
	book = contracts.Item{SKU: "book", Quantity: 2, UnitPrice: 1250}
	pen  = contracts.Item{SKU: "pen", Quantity: 1, UnitPrice: 300}
)

func funded() *participants {
	return newParticipants(map[string]int64{"alice": 10_000, "poor": 100}, map[string]int64{"book": 10, "pen": 0})
}

func (e *env) place(t *testing.T, cmd domain.PlaceOrder) domain.Order {
	t.Helper()
	o, created, err := e.svc.Place(t.Context(), cmd, "")
	if err != nil || !created {
		t.Fatalf("Place = %+v, %v, %v", o, created, err)
	}
	return o
}

// await waits (bounded) for order id's saga to end and returns the order.
func (e *env) await(t *testing.T, id string) app.Detail {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rec, err := e.engine.Await(ctx, id)
	if err != nil {
		t.Fatalf("saga %s did not end: %v (record %+v)", id, err, rec)
	}
	d, err := e.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// events returns the types of order id's events, in order.
func (e *env) events(t *testing.T, id string) []string {
	t.Helper()
	recs, err := e.store.Load(t.Context(), app.Orders.StreamID(id), 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range recs {
		types = append(types, r.Type)
	}
	return types
}

func TestPlaceUnderOneKeyPlacesOneOrder(t *testing.T) {
	e := newEnv(t, funded())
	cmd := domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}}
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[string]bool{}
		created int
	)
	for range n {
		wg.Go(func() {
			o, c, err := e.svc.Place(t.Context(), cmd, "key-1")
			if err != nil {
				t.Errorf("Place: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[o.ID] = true
			if c {
				created++
			}
		})
	}
	wg.Wait()
	if len(ids) != 1 || created != 1 {
		t.Fatalf("%d concurrent places under one key: %d ids, %d created; want 1 and 1", n, len(ids), created)
	}
	for id := range ids {
		if got := e.events(t, id); !slices.Equal(got, []string{"order.placed"}) {
			t.Fatalf("events = %v", got)
		}
	}

	if _, _, err := e.svc.Place(t.Context(), domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{pen}}, "key-1"); !errors.Is(err, domain.ErrKeyReused) {
		t.Fatalf("same key, other items: %v, want ErrKeyReused", err)
	}
	other, _, err := e.svc.Place(t.Context(), cmd, "key-2")
	if err != nil || ids[other.ID] {
		t.Fatalf("another key placed %s (%v), want a new order", other.ID, err)
	}
	a, b := e.place(t, cmd), e.place(t, cmd)
	if a.ID == b.ID {
		t.Fatal("two places without a key gave one order")
	}
}

func TestPlaceRefusesInvalidOrdersWithoutWriting(t *testing.T) {
	e := newEnv(t, funded())
	_, _, err := e.svc.Place(t.Context(), domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{{SKU: "x", Quantity: 0, UnitPrice: 1}}}, "")
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != "items[0].quantity" {
		t.Fatalf("Place = %v, want a FieldError on items[0].quantity", err)
	}
	_, _, err = e.svc.Place(t.Context(), domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}}, "bad key")
	if !errors.As(err, &fe) || fe.Field != "Idempotency-Key" {
		t.Fatalf("Place = %v, want a FieldError on Idempotency-Key", err)
	}
	if recs, err := e.store.ReadAll(t.Context(), 0, 10); err != nil || len(recs) != 0 {
		t.Fatalf("the store holds %d events (%v), want none", len(recs), err)
	}
}

func TestSagaOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		cmd       domain.PlaceOrder
		state     domain.State
		reason    string
		net       int64
		ops       []string
		lastEvent string
	}{
		{"completes", domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}}, domain.StateCompleted, "", 2500,
			[]string{"charge", "reserve"}, "order.completed"},
		{"declined payment cancels", domain.PlaceOrder{Customer: "poor", Items: []contracts.Item{book}}, domain.StateCancelled, contracts.CodeInsufficientFunds, 0,
			nil, "order.cancelled"},
		{"unknown account cancels", domain.PlaceOrder{Customer: "nobody", Items: []contracts.Item{book}}, domain.StateCancelled, contracts.CodeUnknownAccount, 0,
			nil, "order.cancelled"},
		{"out of stock refunds, then cancels", domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book, pen}}, domain.StateCancelled, contracts.CodeOutOfStock, 0,
			[]string{"charge", "reserve refused", "refund"}, "order.cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, funded())
			o := e.place(t, tt.cmd)
			if err := e.svc.StartSaga(t.Context(), placedEvent(o)); err != nil {
				t.Fatal(err)
			}
			d := e.await(t, o.ID)
			if d.Order.State != tt.state || d.Order.Reason != tt.reason {
				t.Fatalf("order %s %q, want %s %q (saga %+v)", d.Order.State, d.Order.Reason, tt.state, tt.reason, d.Saga)
			}
			if got := e.parts.net(o.ID); got != tt.net {
				t.Errorf("charged - refunded = %d, want %d", got, tt.net)
			}
			if got := e.parts.ops(); !slices.Equal(got, tt.ops) {
				t.Errorf("participant ops %v, want %v", got, tt.ops)
			}
			if got := e.events(t, o.ID); len(got) != 2 || got[1] != tt.lastEvent {
				t.Errorf("events %v, want order.placed then %s", got, tt.lastEvent)
			}
			if d.Saga == nil || len(d.Saga.History) == 0 {
				t.Errorf("detail has no saga history: %+v", d.Saga)
			}
		})
	}
}

func placedEvent(o domain.Order) contracts.OrderPlaced {
	return contracts.OrderPlaced{OrderID: o.ID, Customer: o.Customer, Items: o.Items, Total: o.Total, PlacedAt: o.PlacedAt}
}

func TestRedeliveredOrderPlacedStartsNothing(t *testing.T) {
	e := newEnv(t, funded())
	o := e.place(t, domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}})
	for range 3 {
		if err := e.svc.StartSaga(t.Context(), placedEvent(o)); err != nil {
			t.Fatalf("StartSaga: %v", err)
		}
	}
	e.await(t, o.ID)
	if err := e.svc.StartSaga(t.Context(), placedEvent(o)); err != nil {
		t.Fatalf("StartSaga after the end: %v", err)
	}
	if got := e.parts.ops(); !slices.Equal(got, []string{"charge", "reserve"}) {
		t.Fatalf("participant ops %v, want one charge and one reservation", got)
	}
}

func TestGetUnknownOrder(t *testing.T) {
	e := newEnv(t, funded())
	for _, id := range []string{"0b6c6d2e-8f2a-4a57-9d0b-3f4f1f0c2e11", "not-an-id", ""} {
		if _, err := e.svc.Get(t.Context(), id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
	o := e.place(t, domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}})
	d, err := e.svc.Get(t.Context(), o.ID)
	if err != nil || d.Saga != nil || d.Order.State != domain.StatePending {
		t.Fatalf("Get before the saga started = %+v, %v", d, err)
	}
}

// The backstop: an order whose order.placed was never handled gets its saga
// from StartStranded, once.
func TestStartStrandedStartsMissingSagas(t *testing.T) {
	e := newEnv(t, funded())
	e.feedView(t)
	stranded := e.place(t, domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}})
	handled := e.place(t, domain.PlaceOrder{Customer: "alice", Items: []contracts.Item{book}})
	if err := e.svc.StartSaga(t.Context(), placedEvent(handled)); err != nil {
		t.Fatal(err)
	}
	e.waitListed(t, 2)
	started, err := e.svc.StartStranded(t.Context(), 0)
	if err != nil || started != 1 {
		t.Fatalf("StartStranded = %d, %v; want 1 started", started, err)
	}
	if d := e.await(t, stranded.ID); d.Order.State != domain.StateCompleted {
		t.Fatalf("stranded order ended %s", d.Order.State)
	}
	e.await(t, handled.ID)
	if started, err := e.svc.StartStranded(t.Context(), 0); err != nil || started != 0 {
		t.Fatalf("second StartStranded = %d, %v; want 0", started, err)
	}
	if got := e.parts.ops(); len(got) != 4 {
		t.Fatalf("participant ops %v, want two charges and two reservations", got)
	}
}

// feedView runs a subscription feeding the service's view from the store.
func (e *env) feedView(t *testing.T) {
	t.Helper()
	v := e.svc.View()
	sub, err := eventstore.NewSubscription(e.store, v, "orders-view", v.Apply, eventstore.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("subscription: %v", err)
		}
	})
}

func (e *env) waitListed(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := e.svc.View().List(app.ListQuery{Limit: app.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Orders) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the view lists %d orders after 5s, want %d", len(p.Orders), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
