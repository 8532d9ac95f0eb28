package app_test

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/contracts"
)

// participants are in-process payment and inventory participants behind a
// saga.MemoryFence, as the real services apply each step key once (the
// component tests run the real ones). They log what they applied.
type participants struct {
	fence *saga.MemoryFence

	mu       sync.Mutex
	balance  map[string]int64
	stock    map[string]int64
	charged  map[string]int64 // by order
	refunded map[string]int64
	held     map[string][]contracts.Line
	log      []string
	traces   map[string]bool // trace ids of the calls

	charge  mediator.RequestHandler[contracts.Charge, contracts.Charged]
	refund  mediator.RequestHandler[contracts.Refund, contracts.Refunded]
	reserve mediator.RequestHandler[contracts.Reserve, contracts.Reserved]
	release mediator.RequestHandler[contracts.Release, contracts.Released]
}

func newParticipants(balance, stock map[string]int64) *participants {
	p := &participants{fence: saga.NewMemoryFence(), balance: balance, stock: stock,
		charged: map[string]int64{}, refunded: map[string]int64{}, held: map[string][]contracts.Line{}, traces: map[string]bool{}}
	p.charge = saga.GuardAction(p.fence, func(_ context.Context, c contracts.Charge) (contracts.Charged, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		b, ok := p.balance[c.Customer]
		switch {
		case !ok:
			return contracts.Charged{}, catga.Reject(contracts.CodeUnknownAccount, "no account %s", c.Customer)
		case b < c.Amount:
			return contracts.Charged{}, catga.Reject(contracts.CodeInsufficientFunds, "balance %d below %d", b, c.Amount)
		}
		p.balance[c.Customer] = b - c.Amount
		p.charged[c.OrderID] += c.Amount
		p.log = append(p.log, "charge")
		return contracts.Charged{OrderID: c.OrderID, Amount: c.Amount, Balance: b - c.Amount}, nil
	})
	p.refund = saga.GuardCompensation(p.fence, func(_ context.Context, r contracts.Refund) (contracts.Refunded, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		amount := p.charged[r.OrderID] - p.refunded[r.OrderID]
		p.balance[r.Customer] += amount
		p.refunded[r.OrderID] += amount
		p.log = append(p.log, "refund")
		return contracts.Refunded{OrderID: r.OrderID, Amount: amount, Balance: p.balance[r.Customer]}, nil
	})
	p.reserve = saga.GuardAction(p.fence, func(_ context.Context, r contracts.Reserve) (contracts.Reserved, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range r.Lines {
			if p.stock[l.SKU] < l.Quantity {
				p.log = append(p.log, "reserve refused")
				return contracts.Reserved{}, catga.Reject(contracts.CodeOutOfStock, "%s: %d left", l.SKU, p.stock[l.SKU])
			}
		}
		for _, l := range r.Lines {
			p.stock[l.SKU] -= l.Quantity
		}
		p.held[r.OrderID] = r.Lines
		p.log = append(p.log, "reserve")
		return contracts.Reserved{OrderID: r.OrderID}, nil
	})
	p.release = saga.GuardCompensation(p.fence, func(_ context.Context, r contracts.Release) (contracts.Released, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		lines := p.held[r.OrderID]
		for _, l := range lines {
			p.stock[l.SKU] += l.Quantity
		}
		delete(p.held, r.OrderID)
		p.log = append(p.log, "release")
		return contracts.Released{OrderID: r.OrderID, Lines: lines}, nil
	})
	return p
}

func (p *participants) Charge(ctx context.Context, c contracts.Charge) (contracts.Charged, error) {
	p.traced(ctx)
	return p.charge(ctx, c)
}

func (p *participants) Refund(ctx context.Context, r contracts.Refund) (contracts.Refunded, error) {
	p.traced(ctx)
	return p.refund(ctx, r)
}

func (p *participants) Reserve(ctx context.Context, r contracts.Reserve) (contracts.Reserved, error) {
	p.traced(ctx)
	return p.reserve(ctx, r)
}

func (p *participants) Release(ctx context.Context, r contracts.Release) (contracts.Released, error) {
	p.traced(ctx)
	return p.release(ctx, r)
}

func (p *participants) traced(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.traces[trace.SpanContextFromContext(ctx).TraceID().String()] = true
}

func (p *participants) traceIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id := range p.traces {
		ids = append(ids, id)
	}
	return ids
}

// net is what order id cost its customer: charged minus refunded.
func (p *participants) net(id string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.charged[id] - p.refunded[id]
}

func (p *participants) ops() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}
