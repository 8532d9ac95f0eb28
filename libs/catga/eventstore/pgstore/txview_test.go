package pgstore_test

import (
	"testing"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/eventstore/eventstoretest"
	"github.com/catga-go/catga/libs/catga/eventstore/pgstore"
	"github.com/catga-go/catga/libs/catga/internal/pgtest"
)

// TestTxView: the store bound to a transaction reads the transaction's own
// appends, which no one else sees until it commits, and a rolled-back
// transaction keeps none of them.
func TestTxView(t *testing.T) {
	ctx := ctxT(t)
	pool := pgtest.Pool(t)
	s, err := pgstore.New(ctx, pool, eventstoretest.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, commit := range []bool{false, true} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v := s.WithTx(tx)
		if _, err := v.Append(ctx, "acct", eventstore.NoStream, []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 1}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.AppendMulti(ctx, []eventstore.StreamAppend{{StreamID: "acct", ExpectedVersion: 1, Events: []eventstore.Event{{Data: eventstoretest.Deposited{Amount: 2}}}}}); err != nil {
			t.Fatal(err)
		}
		if recs, err := v.Load(ctx, "acct", 0); err != nil || len(recs) != 2 {
			t.Fatalf("Load in the transaction = %d events, %v; want its 2 appends", len(recs), err)
		}
		if recs, err := v.ReadAll(ctx, 0, 10); err != nil || len(recs) != 2 {
			t.Fatalf("ReadAll in the transaction = %d events, %v; want its 2 appends", len(recs), err)
		}
		if recs, err := s.Load(ctx, "acct", 0); err != nil || len(recs) != 0 {
			t.Fatalf("Load outside the open transaction = %d events, %v; want none", len(recs), err)
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if recs, err := s.Load(ctx, "acct", 0); err != nil || len(recs) != 2 {
		t.Fatalf("after a rolled-back and a committed transaction: %d events, %v; want 2", len(recs), err)
	}
}
