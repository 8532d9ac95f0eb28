package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/catga-go/catga/libs/catga/sagastore"
	"github.com/catga-go/catga/libs/catga/sagastore/memory"
)

// Every store is a compare-and-set over the record version: a writer holding
// an old version loses.
func Example() {
	ctx := context.Background()
	s := memory.New()
	rec := sagastore.Record{ID: "s1", Name: "demo", State: sagastore.StateRunning, LeaseUntil: time.Now()}
	v, _ := s.Create(ctx, rec)

	rec.Version, rec.Owner = v, "peer-a"
	if _, err := s.Update(ctx, rec); err != nil {
		fmt.Println(err)
	}
	rec.Owner = "peer-b" // still holds version v: stale
	_, err := s.Update(ctx, rec)
	fmt.Println(errors.Is(err, sagastore.ErrConflict))

	got, _ := s.Get(ctx, "s1")
	fmt.Println(got.Owner)
	// Output:
	// true
	// peer-a
}
