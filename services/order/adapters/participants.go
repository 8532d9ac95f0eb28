package adapters

import (
	"context"

	"github.com/catga-go/catga/libs/catga/transport"
	"github.com/catga-go/catga/libs/contracts"
)

// Participants calls payment and inventory over t. Each call carries the
// saga step's catga.Metadata from ctx (idempotency key, epoch), which the
// participants apply once; it implements app.Payments and app.Inventory.
type Participants struct {
	t    transport.Transport
	opts []transport.SendOption
}

// NewParticipants returns the participants reached over t.
func NewParticipants(t transport.Transport, opts ...transport.SendOption) *Participants {
	return &Participants{t: t, opts: opts}
}

// Charge asks payment to charge c.
func (p *Participants) Charge(ctx context.Context, c contracts.Charge) (contracts.Charged, error) {
	return transport.Request(ctx, p.t, contracts.PaymentCharge, c, p.opts...)
}

// Refund asks payment to refund r.
func (p *Participants) Refund(ctx context.Context, r contracts.Refund) (contracts.Refunded, error) {
	return transport.Request(ctx, p.t, contracts.PaymentRefund, r, p.opts...)
}

// Reserve asks inventory to reserve r's lines.
func (p *Participants) Reserve(ctx context.Context, r contracts.Reserve) (contracts.Reserved, error) {
	return transport.Request(ctx, p.t, contracts.InventoryReserve, r, p.opts...)
}

// Release asks inventory to release what r's order holds.
func (p *Participants) Release(ctx context.Context, r contracts.Release) (contracts.Released, error) {
	return transport.Request(ctx, p.t, contracts.InventoryRelease, r, p.opts...)
}
