package saga_test

import (
	"context"
	"fmt"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/mediator"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
)

type ReserveStock struct{ SKU string }
type ReleaseStock struct{ SKU string }
type ChargeCard struct{ Amount int }
type Reservation struct{ ID string }

type PlaceOrder struct {
	SKU         string
	Amount      int
	Reservation string
}

func Example() {
	ctx := context.Background()

	// Participants, behind fences: each step message is applied once and
	// stale owners are refused.
	m := mediator.New()
	fence := saga.NewMemoryFence()
	_ = mediator.Handle(m, saga.GuardAction(fence, func(ctx context.Context, r ReserveStock) (Reservation, error) {
		return Reservation{ID: "res-" + r.SKU}, nil
	}))
	_ = mediator.Handle(m, saga.GuardCompensation(fence, func(ctx context.Context, r ReleaseStock) (struct{}, error) {
		fmt.Println("released", r.SKU)
		return struct{}{}, nil
	}))
	_ = mediator.Handle(m, saga.GuardAction(fence, func(ctx context.Context, c ChargeCard) (struct{}, error) {
		return struct{}{}, catga.Reject("insufficient_funds", "card declined for %d", c.Amount)
	}))

	engine := saga.New(memory.New())
	defer func() { _ = engine.Close(ctx) }()
	placeOrder, err := saga.Register(engine, saga.Definition[PlaceOrder]{
		Name: "place-order",
		Steps: []saga.Step[PlaceOrder]{
			{
				Name: "reserve",
				Action: func(ctx context.Context, o *PlaceOrder) error {
					r, err := mediator.Send[Reservation](ctx, m, ReserveStock{SKU: o.SKU})
					o.Reservation = r.ID
					return err
				},
				Compensate: func(ctx context.Context, o *PlaceOrder) error {
					_, err := mediator.Send[struct{}](ctx, m, ReleaseStock{SKU: o.SKU})
					return err
				},
			},
			{
				Name: "charge",
				Action: func(ctx context.Context, o *PlaceOrder) error {
					_, err := mediator.Send[struct{}](ctx, m, ChargeCard{Amount: o.Amount})
					return err
				},
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, err := placeOrder.Run(ctx, "order-42", PlaceOrder{SKU: "book", Amount: 30})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.State, rec.Steps[0].Status, rec.Steps[1].Status)
	for _, ev := range rec.History {
		fmt.Println(ev.Step, ev.What)
	}
	// Output:
	// released book
	// compensated compensated failed
	// 0 created
	// 0 started
	// 0 succeeded
	// 1 started
	// 1 failed
	// 1 compensating
	// 0 compensating
	// 0 compensated
	// 0 compensated-all
}
