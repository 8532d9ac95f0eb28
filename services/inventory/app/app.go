package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/services/inventory/domain"
)

// ErrNoSagaStep: a Reserve or Release carried no saga step metadata (an
// idempotency key; the saga engine always sets one), so it could not be
// fenced: applied at most once, refused for an old owner, and a
// compensation matched with its action. It is refused as bad input rather
// than applied unfenced.
var ErrNoSagaStep = errors.New("inventory: reserve or release without saga metadata")

// StepApplier applies one saga step message once.
//
// Contract (that of storefence.Fence.Apply): Apply decides on op by the
// rules of saga.Decide; when the decision is saga.Apply it calls effect
// with a store bound to a transaction that also records op, and commits
// both, or neither when effect fails (its error is returned as it is).
// Otherwise effect is not called: saga.Duplicate (applied before) and
// saga.NothingToUndo (a compensation whose action never applied; the
// action is refused from now on) are answered without an error; a stale
// epoch or a compensated action is a catga rejection.
type StepApplier interface {
	Apply(ctx context.Context, op saga.Op, effect func(ctx context.Context, es eventstore.Store) error) (saga.Admission, error)
}

// Inventory is the aggregate of every inventory stream; its instance ids
// are the stream ids (domain.StockID, domain.ReservationID).
var Inventory = eventstore.Aggregate[domain.Ledger]{Evolve: domain.Evolve}

// attempts bounds how often a command reloads and decides again when its
// appends conflict: popular SKUs are contended by every peer at once.
const attempts = 16

// replans bounds how often a release reloads a reservation that changed
// under it.
const replans = 5

// Service runs the inventory use cases.
type Service struct {
	store eventstore.Store
	steps StepApplier
}

// New returns a Service over store, applying saga steps through steps
// (which must write to the same store).
func New(store eventstore.Store, steps StepApplier) *Service {
	return &Service{store: store, steps: steps}
}

// Add puts stock of a SKU on hand, making the SKU known.
func (s *Service) Add(ctx context.Context, c domain.AddStock) (domain.Stock, error) {
	if err := c.Validate(); err != nil {
		return domain.Stock{}, err
	}
	st, err := Inventory.Handle(ctx, s.store, domain.StockID(c.SKU), c.Decide)
	return st.Value.Stock, err
}

// Stock reads a SKU's stock; domain.ErrUnknownSKU if none was ever added.
func (s *Service) Stock(ctx context.Context, sku string) (domain.Stock, error) {
	if err := domain.ValidateID("sku", sku); err != nil {
		return domain.Stock{}, err
	}
	st, err := Inventory.Load(ctx, s.store, domain.StockID(sku))
	if err != nil {
		return domain.Stock{}, err
	}
	if !st.Value.Stock.Known {
		return domain.Stock{}, fmt.Errorf("%w: %s", domain.ErrUnknownSKU, sku)
	}
	return st.Value.Stock, nil
}

// Reserve is the saga action: it holds every line for the order, or none,
// once per saga step message (whose metadata ctx carries), appending to
// the order's stream and every SKU's in one transaction.
func (s *Service) Reserve(ctx context.Context, order string, lines []domain.Line) error {
	c, err := domain.NewReserveOrder(order, lines)
	if err != nil {
		return err
	}
	op, ok := stepOp(ctx)
	if !ok {
		return ErrNoSagaStep
	}
	op.Compensation = false
	_, err = s.steps.Apply(ctx, op, func(ctx context.Context, es eventstore.Store) error {
		_, err := Inventory.HandleMulti(ctx, es, c.IDs(), c.Decide, eventstore.WithMaxAttempts(attempts))
		return err
	})
	return err
}

// Release is the saga compensation of Reserve: it returns what the order
// holds to stock, once, and reports the lines returned. Releasing an order
// that holds nothing (or whose reservation never applied: the late
// reservation is then refused) succeeds with no lines.
func (s *Service) Release(ctx context.Context, c domain.ReleaseOrder) ([]domain.Line, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	op, ok := stepOp(ctx)
	if !ok {
		return nil, ErrNoSagaStep
	}
	op.Compensation = true
	var released []domain.Line
	adm, err := s.steps.Apply(ctx, op, func(ctx context.Context, es eventstore.Store) error {
		var err error
		released, err = release(ctx, es, c)
		return err
	})
	if err != nil || adm != saga.Duplicate {
		return released, err
	}
	// A duplicate: the first delivery released what the order held.
	st, err := Inventory.Load(ctx, s.store, domain.ReservationID(c.Order))
	if err != nil || st.Value.Reservation.Held {
		return nil, err
	}
	return st.Value.Reservation.Lines, nil
}

// release releases the order's reservation in es: it loads the
// reservation to learn its SKUs, then decides over all of them, and loads
// again if the reservation changed in between.
func release(ctx context.Context, es eventstore.Store, c domain.ReleaseOrder) ([]domain.Line, error) {
	for range replans {
		r, err := Inventory.Load(ctx, es, domain.ReservationID(c.Order))
		if err != nil {
			return nil, err
		}
		var lines []domain.Line
		_, err = Inventory.HandleMulti(ctx, es, c.IDs(r.Value.Reservation), func(states map[string]domain.Ledger) (map[string][]any, error) {
			out, err := c.Decide(states)
			lines = nil // decide runs again when an append conflicts
			if len(out) > 0 {
				lines = states[domain.ReservationID(c.Order)].Reservation.Lines
			}
			return out, err
		}, eventstore.WithMaxAttempts(attempts))
		if errors.Is(err, domain.ErrReplan) {
			continue
		}
		return lines, err
	}
	return nil, fmt.Errorf("inventory: release of order %s: reservation kept changing", c.Order)
}

// stepOp is the saga step message ctx carries. A message without an
// idempotency key of its own is not one: its key would default to its
// message id, unrelated to any other message, so a compensation could
// never find its action.
func stepOp(ctx context.Context) (saga.Op, bool) {
	if md, ok := catga.MetadataFrom(ctx); !ok || md.IdempotencyKey == "" {
		return saga.Op{}, false
	}
	return saga.OpFrom(ctx)
}
