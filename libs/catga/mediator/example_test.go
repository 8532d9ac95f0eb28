package mediator_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/catga-go/catga/libs/catga/mediator"
)

type PlaceOrder struct {
	Customer string
	Amount   int64 // cents
}

func (c PlaceOrder) Validate() error {
	if c.Amount <= 0 {
		return fmt.Errorf("amount must be positive, got %d", c.Amount)
	}
	return nil
}

type OrderPlaced struct {
	OrderID string
	Amount  int64
}

// A command goes to its one handler; the event it causes goes to every
// subscriber.
func Example() {
	m := mediator.New(mediator.WithMiddleware(mediator.Recover(), mediator.Validate()))

	_ = mediator.Handle(m, func(ctx context.Context, c PlaceOrder) (string, error) {
		id := "order-1"
		return id, mediator.Publish(ctx, m, OrderPlaced{OrderID: id, Amount: c.Amount})
	})
	_ = mediator.Subscribe(m, func(_ context.Context, e OrderPlaced) error {
		fmt.Println("payment: charge", e.OrderID, e.Amount)
		return nil
	})
	_ = mediator.Subscribe(m, func(_ context.Context, e OrderPlaced) error {
		fmt.Println("notification: thanks for", e.OrderID)
		return nil
	})

	id, err := mediator.Send[string](context.Background(), m, PlaceOrder{Customer: "ada", Amount: 4200})
	fmt.Println(id, err)

	_, err = mediator.Send[string](context.Background(), m, PlaceOrder{Customer: "bob", Amount: -1})
	fmt.Println(errors.Is(err, mediator.ErrInvalid), err)
	// Output:
	// payment: charge order-1 4200
	// notification: thanks for order-1
	// order-1 <nil>
	// true catga: invalid mediator_test.PlaceOrder: amount must be positive, got -1
}

// Middleware is a function from the next handler to a new one. It sees the
// message's kind and type; the payload stays typed underneath.
func ExampleMiddleware() {
	audit := func(next mediator.Handler) mediator.Handler {
		return func(ctx context.Context, msg mediator.Message) error {
			err := next(ctx, msg)
			fmt.Printf("%s %s: err=%v\n", msg.Kind(), msg.Type(), err)
			return err
		}
	}
	m := mediator.New(mediator.WithMiddleware(audit))
	_ = mediator.Handle(m, func(context.Context, PlaceOrder) (string, error) { return "order-2", nil })

	_, _ = mediator.Send[string](context.Background(), m, PlaceOrder{Amount: 1})
	// Output:
	// request mediator_test.PlaceOrder: err=<nil>
}

// A handler panic becomes an error; the process and the other handlers of
// the same event carry on.
func ExampleRecover() {
	m := mediator.New(mediator.WithMiddleware(mediator.Recover()))
	_ = mediator.Subscribe(m, func(context.Context, OrderPlaced) error { panic("bug") })
	_ = mediator.Subscribe(m, func(context.Context, OrderPlaced) error {
		fmt.Println("second handler still ran")
		return nil
	})

	err := mediator.Publish(context.Background(), m, OrderPlaced{OrderID: "order-3"})
	fmt.Println(errors.Is(err, mediator.ErrPanic))
	// Output:
	// second handler still ran
	// true
}
