package storefence_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/libs/catga/saga/storefence"
)

type Charged struct{ Cents int64 }

var wallets = eventstore.Aggregate[int64]{Prefix: "wallet-", Evolve: func(total int64, ev any) int64 {
	return total + ev.(Charged).Cents
}}

// A payment participant charges once per saga step, in the transaction
// that records the step: a redelivery is a Duplicate, a charge whose
// compensation came first is refused.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[Charged](reg, "payment.charged")
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "payment.db"), reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = store.Close() }()
	fence, err := storefence.New(store)
	if err != nil {
		fmt.Println(err)
		return
	}
	// In a handler the op comes from the message: op, ok := saga.OpFrom(ctx).
	charge := func(op saga.Op) {
		adm, err := fence.Apply(ctx, op, func(ctx context.Context, es eventstore.Store) error {
			_, err := wallets.Handle(ctx, es, "alice", func(int64) ([]any, error) { return []any{Charged{Cents: 250}}, nil })
			return err
		})
		var rej *catga.RejectionError
		if errors.As(err, &rej) {
			fmt.Println(op.Saga, "refused:", rej.Code)
			return
		}
		fmt.Println(op.Saga, adm == saga.Apply, adm == saga.Duplicate, err)
	}
	charge(saga.Op{Saga: "order-1", Key: "order-1/charge", Epoch: 1})
	charge(saga.Op{Saga: "order-1", Key: "order-1/charge", Epoch: 1}) // redelivered
	_, _ = fence.Apply(ctx, saga.Op{Saga: "order-2", Key: "order-2/charge", Epoch: 1, Compensation: true}, nil)
	charge(saga.Op{Saga: "order-2", Key: "order-2/charge", Epoch: 1}) // after its compensation
	total, _ := wallets.Load(ctx, store, "alice")
	fmt.Println("charged", total.Value)
	// Output:
	// order-1 true false <nil>
	// order-1 false true <nil>
	// order-2 refused: compensated
	// charged 250
}
