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
