package pgstore_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
)

// Each service opens the store in its own schema; New migrates it, safely
// when several peers start together. (Compiled, not run: it needs a server.)
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	reg := eventstore.NewRegistry()
	type OrderPlaced struct{ OrderID string }
	eventstore.MustRegister[OrderPlaced](reg, "order.placed")
	store, err := pgstore.New(ctx, pool, reg, pgstore.WithSchema("orders"))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := store.Append(ctx, "order-1", eventstore.NoStream, []eventstore.Event{{Data: OrderPlaced{OrderID: "1"}}})
	fmt.Println(res.Version, err)
}
