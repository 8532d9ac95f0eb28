package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/services/payment/domain"
)

// ErrNoSagaStep: a Charge or Refund carried no saga step metadata (an
// idempotency key; the saga engine always sets one), so it could not be
// fenced: applied at most once, refused for an old owner, and a
// compensation matched with its action. It is refused as bad input rather
// than applied unfenced.
var ErrNoSagaStep = errors.New("payment: charge or refund without saga metadata")

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

// Accounts is the account aggregate: stream "account-<id>".
var Accounts = eventstore.Aggregate[domain.Account]{Prefix: "account-", Evolve: domain.Evolve}

// attempts bounds how often a command reloads and decides again when its
// append conflicts: one account may be charged for many orders at once.
const attempts = 16

// Service runs the payment use cases.
type Service struct {
	store eventstore.Store
	steps StepApplier
}

// New returns a Service over store, applying saga steps through steps
// (which must write to the same store).
func New(store eventstore.Store, steps StepApplier) *Service {
	return &Service{store: store, steps: steps}
}

// Receipt is the outcome of a Charge or Refund.
type Receipt struct {
	Order   string
	Amount  int64 // taken (Charge) or given back (Refund); 0 if nothing was
	Balance int64 // the account's balance afterwards
}

// Open opens an account; domain.ErrAccountExists if it was opened before.
func (s *Service) Open(ctx context.Context, c domain.OpenAccount) (domain.Account, error) {
	if err := c.Validate(); err != nil {
		return domain.Account{}, err
	}
	st, err := Accounts.Handle(ctx, s.store, c.ID, c.Decide)
	return st.Value, err
}

// Deposit adds to an account's balance; domain.ErrUnknownAccount if there
// is no such account.
func (s *Service) Deposit(ctx context.Context, c domain.Deposit) (domain.Account, error) {
	if err := c.Validate(); err != nil {
		return domain.Account{}, err
	}
	st, err := Accounts.Handle(ctx, s.store, c.Account, c.Decide)
	return st.Value, err
}

// Account reads an account; domain.ErrUnknownAccount if there is none.
func (s *Service) Account(ctx context.Context, id string) (domain.Account, error) {
	if err := domain.ValidateID("id", id); err != nil {
		return domain.Account{}, err
	}
	st, err := Accounts.Load(ctx, s.store, id)
	if err != nil {
		return domain.Account{}, err
	}
	if !st.Value.Exists() {
		return domain.Account{}, fmt.Errorf("%w: %s", domain.ErrUnknownAccount, id)
	}
	return st.Value, nil
}

// Charge is the saga action: it charges the order once per saga step
// message (whose metadata ctx carries), and a redelivery is answered with
// the charge recorded the first time.
func (s *Service) Charge(ctx context.Context, c domain.ChargeOrder) (Receipt, error) {
	if err := c.Validate(); err != nil {
		return Receipt{}, err
	}
	op, ok := stepOp(ctx)
	if !ok {
		return Receipt{}, ErrNoSagaStep
	}
	op.Compensation = false
	var r Receipt
	adm, err := s.steps.Apply(ctx, op, func(ctx context.Context, es eventstore.Store) error {
		st, err := Accounts.Handle(ctx, es, c.Account, c.Decide, eventstore.WithMaxAttempts(attempts))
		if err != nil {
			return err
		}
		r = Receipt{Order: c.Order, Amount: st.Value.Charges[c.Order].Amount, Balance: st.Value.Balance}
		return nil
	})
	if err != nil || adm == saga.Apply {
		return r, err
	}
	// A duplicate: what the first delivery charged, and the balance now.
	a, err := s.load(ctx, c.Account)
	return Receipt{Order: c.Order, Amount: a.Charges[c.Order].Amount, Balance: a.Balance}, err
}

// Refund is the saga compensation of Charge: it gives back what the order
// was charged, once. A refund of an order that was never charged (or
// whose charge never applied: the late charge is then refused) succeeds
// with Amount 0.
func (s *Service) Refund(ctx context.Context, c domain.RefundOrder) (Receipt, error) {
	if err := c.Validate(); err != nil {
		return Receipt{}, err
	}
	op, ok := stepOp(ctx)
	if !ok {
		return Receipt{}, ErrNoSagaStep
	}
	op.Compensation = true
	var r Receipt
	adm, err := s.steps.Apply(ctx, op, func(ctx context.Context, es eventstore.Store) error {
		var refunded int64
		st, err := Accounts.Handle(ctx, es, c.Account, func(a domain.Account) ([]any, error) {
			evs, err := c.Decide(a)
			refunded = 0 // decide runs again when an append conflicts
			for _, e := range evs {
				if rf, ok := e.(domain.Refunded); ok {
					refunded += rf.Amount
				}
			}
			return evs, err
		}, eventstore.WithMaxAttempts(attempts))
		if err != nil {
			return err
		}
		r = Receipt{Order: c.Order, Amount: refunded, Balance: st.Value.Balance}
		return nil
	})
	if err != nil || adm == saga.Apply {
		return r, err
	}
	a, err := s.load(ctx, c.Account)
	r = Receipt{Order: c.Order, Balance: a.Balance}
	if ch := a.Charges[c.Order]; adm == saga.Duplicate && ch.Refunded {
		r.Amount = ch.Amount // the first delivery refunded it
	}
	return r, err
}

// load reads an account; one that does not exist is the zero state.
func (s *Service) load(ctx context.Context, id string) (domain.Account, error) {
	st, err := Accounts.Load(ctx, s.store, id)
	return st.Value, err
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
