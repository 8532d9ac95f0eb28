package eventstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
)

type Deposited struct{ Amount int }

type Account struct{ Balance int }

// An aggregate: state is the fold of its events; a command decides new
// events from the state, and Handle appends them under optimistic
// concurrency.
func ExampleHandle() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[Deposited](reg, "account.deposited")
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "accounts.db"), reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = store.Close() }()

	evolve := func(a Account, ev any) Account {
		if d, ok := ev.(Deposited); ok {
			a.Balance += d.Amount
		}
		return a
	}
	deposit := func(amount int) eventstore.Decide[Account] {
		return func(a Account) ([]any, error) {
			if a.Balance+amount > 100 {
				return nil, catga.Reject("limit", "balance would exceed 100")
			}
			return []any{Deposited{Amount: amount}}, nil
		}
	}
	for _, amount := range []int{40, 50, 30} {
		st, err := eventstore.Handle(ctx, store, "account-1", Account{}, evolve, deposit(amount))
		fmt.Println(st.Value.Balance, st.Version, err)
	}
	// Output:
	// 40 1 <nil>
	// 90 2 <nil>
	// 90 2 catga: rejected (limit): balance would exceed 100
}

// An aggregate type states the stream prefix, initial state, evolve and
// snapshot policy once; a decision may carry its event's id, so a retried
// command cannot append twice.
func ExampleAggregate() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[Deposited](reg, "account.deposited")
	eventstore.MustRegister[Account](reg, "account.snapshot")
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "accounts.db"), reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = store.Close() }()

	accounts := eventstore.Aggregate[Account]{
		Prefix: "account-",
		Evolve: func(a Account, ev any) Account {
			if d, ok := ev.(Deposited); ok {
				a.Balance += d.Amount
			}
			return a
		},
		SnapshotEvery: 10,
	}
	deposit := func(commandID string, amount int) eventstore.Decide[Account] {
		return func(Account) ([]any, error) {
			return []any{eventstore.Event{ID: commandID, Data: Deposited{Amount: amount}}}, nil
		}
	}
	st, err := accounts.Handle(ctx, store, "7", deposit("cmd-1", 40))
	fmt.Println(st.Value.Balance, st.Version, err)
	_, err = accounts.Handle(ctx, store, "7", deposit("cmd-1", 40)) // the same command again
	fmt.Println(err != nil && !catga.IsRetryable(err))
	st, err = accounts.Load(ctx, store, "7")
	fmt.Println(st.Value.Balance, st.Version, err)
	// Output:
	// 40 1 <nil>
	// true
	// 40 1 <nil>
}

type (
	Stocked  struct{ Quantity int }
	Reserved struct {
		Order    string
		Quantity int
	}
	Stock struct{ Available int }
)

// Reserving every item of an order, all or none: HandleMulti loads each
// SKU's stock, decides over all of them, and appends to every SKU's stream
// in one transaction at the versions it loaded, retrying when another
// reservation got in first.
func ExampleAggregate_HandleMulti() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[Stocked](reg, "stock.stocked")
	eventstore.MustRegister[Reserved](reg, "stock.reserved")
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "stock.db"), reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = store.Close() }()

	skus := eventstore.Aggregate[Stock]{
		Prefix: "sku-",
		Evolve: func(s Stock, ev any) Stock {
			switch e := ev.(type) {
			case Stocked:
				s.Available += e.Quantity
			case Reserved:
				s.Available -= e.Quantity
			}
			return s
		},
	}
	_, _ = store.AppendMulti(ctx, []eventstore.StreamAppend{
		{StreamID: skus.StreamID("apple"), ExpectedVersion: eventstore.NoStream, Events: []eventstore.Event{{Data: Stocked{Quantity: 5}}}},
		{StreamID: skus.StreamID("pear"), ExpectedVersion: eventstore.NoStream, Events: []eventstore.Event{{Data: Stocked{Quantity: 1}}}},
	})
	reserve := func(order string, items map[string]int) eventstore.DecideMulti[Stock] {
		return func(stock map[string]Stock) (map[string][]any, error) {
			out := map[string][]any{}
			for sku, qty := range items {
				if stock[sku].Available < qty {
					return nil, catga.Reject("out_of_stock", "%s: %d available", sku, stock[sku].Available)
				}
				out[sku] = []any{Reserved{Order: order, Quantity: qty}}
			}
			return out, nil
		}
	}
	for _, order := range []string{"o-1", "o-2"} {
		items := map[string]int{"apple": 2, "pear": 1}
		st, err := skus.HandleMulti(ctx, store, []string{"apple", "pear"}, reserve(order, items))
		fmt.Println(order, st["apple"].Value.Available, st["pear"].Value.Available, err)
	}
	apple, _ := skus.Load(ctx, store, "apple")
	fmt.Println("apple", apple.Value.Available) // o-2 reserved no apples either
	// Output:
	// o-1 3 0 <nil>
	// o-2 3 0 catga: rejected (out_of_stock): pear: 0 available
	// apple 3
}
