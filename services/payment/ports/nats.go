package ports

import (
	"context"
	"errors"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/payment/app"
	"github.com/catga-go/catga/services/payment/domain"
)

// CodeChargeMismatch rejects a charge for an order that holds a charge of
// another amount (see domain.ErrChargeMismatch).
const CodeChargeMismatch = "charge_mismatch"

// ServeNATS registers the saga step handlers in m and serves their routes
// over t. The transport's own deduplication is off: each step is applied
// once by the fence record in the event store's transaction, which holds
// also when a peer dies mid-step, and a redelivery is answered from the
// account's state.
func ServeNATS(t transport.Transport, m *mediator.Mediator, svc *app.Service) error {
	h := natsHandlers{svc: svc}
	if err := errors.Join(mediator.Handle(m, h.charge), mediator.Handle(m, h.refund)); err != nil {
		return err
	}
	if _, err := transport.Serve(t, m, contracts.PaymentCharge, transport.WithoutIdempotency()); err != nil {
		return err
	}
	_, err := transport.Serve(t, m, contracts.PaymentRefund, transport.WithoutIdempotency())
	return err
}

type natsHandlers struct{ svc *app.Service }

func (h natsHandlers) charge(ctx context.Context, req contracts.Charge) (contracts.Charged, error) {
	r, err := h.svc.Charge(ctx, domain.ChargeOrder{Order: req.OrderID, Account: req.Customer, Amount: req.Amount})
	if err != nil {
		return contracts.Charged{}, wireError(err)
	}
	return contracts.Charged{OrderID: r.Order, Amount: r.Amount, Balance: r.Balance}, nil
}

// refund ignores req.Amount beyond checking it: what is given back is
// what the order was charged.
func (h natsHandlers) refund(ctx context.Context, req contracts.Refund) (contracts.Refunded, error) {
	if req.Amount < 0 {
		return contracts.Refunded{}, catga.Permanent(&domain.InvalidError{Field: "amount", Reason: "must not be negative"})
	}
	r, err := h.svc.Refund(ctx, domain.RefundOrder{Order: req.OrderID, Account: req.Customer})
	if err != nil {
		return contracts.Refunded{}, wireError(err)
	}
	return contracts.Refunded{OrderID: r.Order, Amount: r.Amount, Balance: r.Balance}, nil
}

// wireError maps the domain's refusals to the contract's rejection codes
// (never retried) and bad input to a permanent error (a bad-request
// reply); anything else stays retryable.
func wireError(err error) error {
	switch {
	case errors.Is(err, domain.ErrInsufficientFunds):
		return catga.Reject(contracts.CodeInsufficientFunds, "%v", err)
	case errors.Is(err, domain.ErrUnknownAccount):
		return catga.Reject(contracts.CodeUnknownAccount, "%v", err)
	case errors.Is(err, domain.ErrChargeMismatch):
		return catga.Reject(CodeChargeMismatch, "%v", err)
	case errors.Is(err, domain.ErrInvalid), errors.Is(err, app.ErrNoSagaStep):
		return catga.Permanent(err)
	}
	return err
}
