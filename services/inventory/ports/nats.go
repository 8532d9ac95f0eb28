package ports

import (
	"context"
	"errors"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/inventory/app"
	"github.com/catga-go/catga/services/inventory/domain"
)

// CodeReservationMismatch rejects a reservation for an order that holds
// one of other lines (see domain.ErrReservationMismatch).
const CodeReservationMismatch = "reservation_mismatch"

// ServeNATS registers the saga step handlers in m and serves their routes
// over t. The transport's own deduplication is off: each step is applied
// once by the fence record in the event store's transaction, which holds
// also when a peer dies mid-step.
func ServeNATS(t transport.Transport, m *mediator.Mediator, svc *app.Service) error {
	h := natsHandlers{svc: svc}
	if err := errors.Join(mediator.Handle(m, h.reserve), mediator.Handle(m, h.release)); err != nil {
		return err
	}
	if _, err := transport.Serve(t, m, contracts.InventoryReserve, transport.WithoutIdempotency()); err != nil {
		return err
	}
	_, err := transport.Serve(t, m, contracts.InventoryRelease, transport.WithoutIdempotency())
	return err
}

type natsHandlers struct{ svc *app.Service }

func (h natsHandlers) reserve(ctx context.Context, req contracts.Reserve) (contracts.Reserved, error) {
	lines := make([]domain.Line, len(req.Lines))
	for i, l := range req.Lines {
		lines[i] = domain.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	if err := h.svc.Reserve(ctx, req.OrderID, lines); err != nil {
		return contracts.Reserved{}, wireError(err)
	}
	return contracts.Reserved{OrderID: req.OrderID}, nil
}

func (h natsHandlers) release(ctx context.Context, req contracts.Release) (contracts.Released, error) {
	lines, err := h.svc.Release(ctx, domain.ReleaseOrder{Order: req.OrderID})
	if err != nil {
		return contracts.Released{}, wireError(err)
	}
	out := contracts.Released{OrderID: req.OrderID, Lines: make([]contracts.Line, len(lines))}
	for i, l := range lines {
		out.Lines[i] = contracts.Line{SKU: l.SKU, Quantity: l.Quantity}
	}
	return out, nil
}

// wireError maps the domain's refusals to the contract's rejection codes
// (never retried) and bad input to a permanent error (a bad-request
// reply); anything else stays retryable.
func wireError(err error) error {
	switch {
	case errors.Is(err, domain.ErrOutOfStock):
		return catga.Reject(contracts.CodeOutOfStock, "%v", err)
	case errors.Is(err, domain.ErrUnknownSKU):
		return catga.Reject(contracts.CodeUnknownSKU, "%v", err)
	case errors.Is(err, domain.ErrReservationMismatch):
		return catga.Reject(CodeReservationMismatch, "%v", err)
	case errors.Is(err, domain.ErrInvalid), errors.Is(err, app.ErrNoSagaStep):
		return catga.Permanent(err)
	}
	return err
}
