package inbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
	"github.com/catga-go/catga/libs/catga/inbox"
)

type PaymentTaken struct{ Amount int }

// A consumer applies a message once: the second delivery finds the inbox
// record its first one committed with the effect.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[PaymentTaken](reg, "payment.taken")
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "payments.db"), reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = store.Close() }()

	var in inbox.Inbox[*sql.Tx] = store
	effect := func(ctx context.Context, tx *sql.Tx) error {
		_, err := store.AppendTx(ctx, tx, "payment-1", eventstore.Any, []eventstore.Event{{Data: PaymentTaken{Amount: 5}}})
		return err
	}
	for range 2 {
		err := in.Process(ctx, "payments", "order-placed-42", effect)
		fmt.Println(err == nil, errors.Is(err, inbox.ErrDuplicate))
	}
	recs, _ := store.Load(ctx, "payment-1", 0)
	fmt.Println(len(recs), "event")
	// Output:
	// true false
	// false true
	// 1 event
}
