package idempotency_test

import (
	"context"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/transport/idempotency"
)

func Example() {
	ctx := context.Background()
	store := idempotency.NewMemory()
	for range 2 {
		claimed, cached, _ := store.Claim(ctx, "msg-1", time.Minute)
		if claimed {
			fmt.Println("handling msg-1")
			_ = store.Complete(ctx, "msg-1", []byte("done"), time.Hour)
			continue
		}
		fmt.Printf("duplicate, cached reply %q\n", cached)
	}
	// Output:
	// handling msg-1
	// duplicate, cached reply "done"
}
