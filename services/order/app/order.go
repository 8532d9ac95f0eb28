package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/domain"
)

// Orders is the Order aggregate: stream "order-<id>".
var Orders = eventstore.Aggregate[domain.Order]{Prefix: "order-", Evolve: domain.Evolve}

// RegisterEvents registers the order events under their topic names, so
// that the outbox publishes each on its topic's subject.
func RegisterEvents(reg *eventstore.Registry) error {
	return errors.Join(
		eventstore.Register[contracts.OrderPlaced](reg, contracts.OrderPlacedTopic.Name()),
		eventstore.Register[contracts.OrderCompleted](reg, contracts.OrderCompletedTopic.Name()),
		eventstore.Register[contracts.OrderCancelled](reg, contracts.OrderCancelledTopic.Name()),
	)
}

// Service runs the order use cases. Create it with [New].
type Service struct {
	store eventstore.Store
	sagas *saga.Engine
	saga  *saga.Saga[SagaData]
	view  *View
	now   func() time.Time
	log   *slog.Logger
}

// Option configures a [Service].
type Option func(*Service)

// WithClock sets the clock of the events' timestamps (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger (default discards).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New returns the service over store (the order events registered with
// [RegisterEvents]) and engine, registering the order saga with engine:
// call it before the engine starts recovering sagas.
func New(store eventstore.Store, engine *saga.Engine, pay Payments, inv Inventory, opts ...Option) (*Service, error) {
	s := &Service{store: store, sagas: engine, view: NewView(), now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	def := s.definition(pay, inv)
	sg, err := saga.Register(engine, def)
	if err != nil {
		return nil, err
	}
	s.saga = sg
	return s, nil
}

// View is the service's read model; feed it from the event store (see
// [View.Apply]).
func (s *Service) View() *View { return s.view }

// Place places cmd. With an idempotency key the order id is derived from
// customer and key, so a retry (on any peer, concurrent or later) returns
// the order the first request placed, with created false; a retry with
// other items fails with domain.ErrKeyReused. Without a key every call
// places a new order.
func (s *Service) Place(ctx context.Context, cmd domain.PlaceOrder, key string) (o domain.Order, created bool, err error) {
	if err := cmd.Validate(); err != nil {
		return domain.Order{}, false, err
	}
	var id string
	if key == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return domain.Order{}, false, fmt.Errorf("catga: order: new id: %w", err)
		}
		id = u.String()
	} else {
		if err := domain.ValidateIdempotencyKey(key); err != nil {
			return domain.Order{}, false, err
		}
		id = domain.OrderIDFor(cmd.Customer, key)
	}
	now := s.now()
	// Two requests with one key race to append at version 0 (no stream):
	// one wins, the other's append conflicts, Handle reloads, and Place
	// decides nothing on the order the winner placed.
	st, err := Orders.Handle(ctx, s.store, id, func(o domain.Order) ([]any, error) {
		evs, err := domain.Place(o, id, cmd, now)
		created = len(evs) > 0
		return evs, err
	})
	if err != nil {
		return domain.Order{}, false, err
	}
	return st.Value, created, nil
}

// Detail is an order with its saga.
type Detail struct {
	Order domain.Order
	// Saga is nil until the saga started (moments after the order was
	// placed).
	Saga *saga.Record
}

// Get returns order id and its saga, or domain.ErrNotFound. It reads the
// order's stream, so it sees every order placed before it was called, on
// any peer.
func (s *Service) Get(ctx context.Context, id string) (Detail, error) {
	if !domain.ValidOrderID(id) {
		return Detail{}, fmt.Errorf("%w: %q", domain.ErrNotFound, id)
	}
	st, err := Orders.Load(ctx, s.store, id)
	if err != nil {
		return Detail{}, err
	}
	if !st.Value.Exists() {
		return Detail{}, fmt.Errorf("%w: %s", domain.ErrNotFound, id)
	}
	d := Detail{Order: st.Value}
	rec, err := s.sagas.Get(ctx, id)
	switch {
	case err == nil:
		d.Saga = &rec
	case !errors.Is(err, sagastore.ErrNotFound):
		return Detail{}, fmt.Errorf("catga: order %s: saga: %w", id, err)
	}
	return d, nil
}

// StartSaga starts the saga of the order ev placed; it is the handler of
// the order.placed events. An order whose saga exists already (a
// redelivered event) starts nothing, and is not an error.
func (s *Service) StartSaga(ctx context.Context, ev contracts.OrderPlaced) error {
	_, err := s.start(ctx, ev)
	return err
}

// start starts ev's saga unless it exists, and reports whether it did.
func (s *Service) start(ctx context.Context, ev contracts.OrderPlaced) (bool, error) {
	_, err := s.saga.Start(ctx, ev.OrderID, SagaData{OrderID: ev.OrderID, Customer: ev.Customer, Items: ev.Items, Total: ev.Total, Trace: traceCarrier(ctx)})
	if errors.Is(err, sagastore.ErrExists) {
		return false, nil
	}
	return err == nil, err
}

// StartStranded starts the saga of every order the view shows pending for
// longer than age that has none: the backstop for an order.placed event
// that was never handled (dead-lettered while the saga store was down).
// Each order is looked at until its saga is found once. It returns how many
// sagas it started.
func (s *Service) StartStranded(ctx context.Context, age time.Duration) (int, error) {
	started := 0
	for _, id := range s.view.unchecked(s.now().Add(-age)) {
		_, err := s.sagas.Get(ctx, id)
		if err == nil {
			s.view.checked(id)
			continue
		}
		if !errors.Is(err, sagastore.ErrNotFound) {
			return started, err
		}
		st, err := Orders.Load(ctx, s.store, id)
		if err != nil {
			return started, err
		}
		o := st.Value
		if o.State != domain.StatePending {
			s.view.checked(id)
			continue
		}
		ok, err := s.start(ctx, contracts.OrderPlaced{OrderID: o.ID, Customer: o.Customer, Items: o.Items, Total: o.Total})
		if err != nil {
			return started, err
		}
		if ok {
			s.log.WarnContext(ctx, "order saga had not started: started it", "order", id, "placed_at", o.PlacedAt)
			started++
		}
		s.view.checked(id)
	}
	return started, nil
}
