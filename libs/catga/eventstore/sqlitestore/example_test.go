package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/sqlitestore"
)

type ItemReserved struct{ SKU string }

// The embedded store needs nothing but a file.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	reg := eventstore.NewRegistry()
	eventstore.MustRegister[ItemReserved](reg, "item.reserved")
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "inventory.db"), reg, sqlitestore.WithTablePrefix("inventory_"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = store.Close() }()
	_, err = store.Append(ctx, "sku-1", eventstore.NoStream, []eventstore.Event{{Data: ItemReserved{SKU: "sku-1"}}})
	fmt.Println(err)
	// A second writer that also expected a new stream loses.
	_, err = store.Append(ctx, "sku-1", eventstore.NoStream, []eventstore.Event{{Data: ItemReserved{SKU: "sku-1"}}})
	fmt.Println(errors.Is(err, eventstore.ErrConflict), err)
	// Output:
	// <nil>
	// true catga: eventstore: version conflict on stream "sku-1": expected 0, actual 1
}
