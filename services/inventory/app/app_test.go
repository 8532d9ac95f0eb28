package app_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/catga-go/catga/libs/catga"
	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/catga/saga"
	"github.com/catga-go/catga/services/inventory/app"
	"github.com/catga-go/catga/services/inventory/domain"
)

type fixture struct {
	store eventstore.Store
	svc   *app.Service
}

// step returns ctx carrying the metadata of step 1 of saga id in epoch.
func step(ctx context.Context, id string, epoch uint64, undo bool) context.Context {
	key := saga.ActionKey(id, 1, 1)
	if undo {
		key = saga.UndoKey(key, 0)
	}
	return catga.WithMetadata(ctx, catga.Metadata{MessageID: key, CorrelationID: id, IdempotencyKey: key, Epoch: epoch})
}

func (f fixture) add(t *testing.T, sku string, n int64) {
	t.Helper()
	if _, err := f.svc.Add(t.Context(), domain.AddStock{SKU: sku, Quantity: n}); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) stock(t *testing.T, sku string) domain.Stock {
	t.Helper()
	s, err := f.svc.Stock(t.Context(), sku)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f fixture) versions(t *testing.T, ids ...string) []int {
	t.Helper()
	out := make([]int, len(ids))
	for i, id := range ids {
		recs, err := f.store.Load(t.Context(), id, 0)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = len(recs)
	}
	return out
}

func TestStock(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.add(t, "a", 3)
		f.add(t, "a", 4)
		if s := f.stock(t, "a"); s != (domain.Stock{Known: true, OnHand: 7}) {
			t.Fatalf("stock = %+v", s)
		}
		if _, err := f.svc.Stock(t.Context(), "z"); !errors.Is(err, domain.ErrUnknownSKU) {
			t.Fatalf("unknown sku: %v", err)
		}
		if _, err := f.svc.Add(t.Context(), domain.AddStock{SKU: "a", Quantity: -1}); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("negative add: %v", err)
		}
	})
}

func TestReserve(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.add(t, "a", 5)
		f.add(t, "b", 1)
		tests := []struct {
			name    string
			order   string
			lines   []domain.Line
			ctx     context.Context
			wantErr error
		}{
			{"out of stock", "o1", []domain.Line{ln("a", 1), ln("b", 2)}, step(t.Context(), "o1", 1, false), domain.ErrOutOfStock},
			{"unknown sku", "o2", []domain.Line{ln("a", 1), ln("z", 1)}, step(t.Context(), "o2", 1, false), domain.ErrUnknownSKU},
			{"invalid", "o3", []domain.Line{ln("a", 0)}, step(t.Context(), "o3", 1, false), domain.ErrInvalid},
			{"no saga metadata", "o4", []domain.Line{ln("a", 1)}, t.Context(), app.ErrNoSagaStep},
			{"a message id only", "o4", []domain.Line{ln("a", 1)}, catga.WithMetadata(t.Context(), catga.Metadata{MessageID: "m1"}), app.ErrNoSagaStep},
			{"reserved", "o5", []domain.Line{ln("a", 2), ln("b", 1)}, step(t.Context(), "o5", 1, false), nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := f.svc.Reserve(tt.ctx, tt.order, tt.lines)
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			})
		}
		// Only o5 wrote: one event on each SKU besides the add, one reservation.
		got := f.versions(t, domain.StockID("a"), domain.StockID("b"), domain.ReservationID("o1"), domain.ReservationID("o2"), domain.ReservationID("o5"))
		if want := []int{2, 2, 0, 0, 1}; !reflect.DeepEqual(got, want) {
			t.Fatalf("stream versions = %v, want %v: a refused reservation wrote something", got, want)
		}
		if a := f.stock(t, "a"); a.Reserved != 2 || a.Available() != 3 {
			t.Fatalf("a = %+v", a)
		}
	})
}

// TestReserveConcurrently: many orders race for little stock; none
// over-reserves, and every reservation that succeeded is held in full.
func TestReserveConcurrently(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.add(t, "a", 10)
		f.add(t, "b", 7)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := range 20 {
			wg.Go(func() {
				order := fmt.Sprintf("o%d", i)
				err := f.svc.Reserve(step(t.Context(), order, 1, false), order, []domain.Line{ln("a", 1), ln("b", 1)})
				switch {
				case err == nil:
					mu.Lock()
					ok++
					mu.Unlock()
				case !errors.Is(err, domain.ErrOutOfStock):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		a, b := f.stock(t, "a"), f.stock(t, "b")
		if ok != 7 || a.Reserved != 7 || b.Reserved != 7 || b.Available() != 0 {
			t.Fatalf("%d reservations; a = %+v, b = %+v; want 7 each, b sold out", ok, a, b)
		}
	})
}

func TestRelease(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.add(t, "a", 5)
		f.add(t, "b", 5)
		lines := []domain.Line{ln("a", 2), ln("b", 3)}
		if err := f.svc.Reserve(step(t.Context(), "o1", 1, false), "o1", lines); err != nil {
			t.Fatal(err)
		}
		for i := range 3 { // the first releases, redeliveries are told what it released
			got, err := f.svc.Release(step(t.Context(), "o1", 1, true), domain.ReleaseOrder{Order: "o1"})
			if err != nil || !reflect.DeepEqual(got, lines) {
				t.Fatalf("delivery %d: %v, %v", i, got, err)
			}
		}
		if a, b := f.stock(t, "a"), f.stock(t, "b"); a.Reserved != 0 || b.Reserved != 0 {
			t.Fatalf("a = %+v, b = %+v: not released", a, b)
		}
		if got := f.versions(t, domain.StockID("a")); got[0] != 3 {
			t.Fatalf("a has %d events, want 3 (added, reserved, released once)", got[0])
		}
	})
}

// TestReleaseBeforeReserve: a compensation that overtakes its action
// succeeds with nothing to return, and the late action is refused.
func TestReleaseBeforeReserve(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.add(t, "a", 5)
		got, err := f.svc.Release(step(t.Context(), "o1", 1, true), domain.ReleaseOrder{Order: "o1"})
		if err != nil || len(got) != 0 {
			t.Fatalf("release: %v, %v; want nothing released", got, err)
		}
		err = f.svc.Reserve(step(t.Context(), "o1", 1, false), "o1", []domain.Line{ln("a", 1)})
		var rej *catga.RejectionError
		if !errors.As(err, &rej) || rej.Code != saga.CodeCompensated {
			t.Fatalf("late reserve: %v, want a %s rejection", err, saga.CodeCompensated)
		}
		if a := f.stock(t, "a"); a.Reserved != 0 {
			t.Fatalf("a = %+v: the late reservation held stock", a)
		}
	})
}

func ln(sku string, q int64) domain.Line { return domain.Line{SKU: sku, Quantity: q} }

// TestReserveRedeliveredAfterRelease: a delivery of a reservation that
// arrives after the reservation and its release were applied is a
// duplicate, not a new reservation (the streams alone would take it).
func TestReserveRedeliveredAfterRelease(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		f.add(t, "a", 5)
		lines := []domain.Line{ln("a", 2)}
		if err := f.svc.Reserve(step(t.Context(), "o1", 1, false), "o1", lines); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Release(step(t.Context(), "o1", 1, true), domain.ReleaseOrder{Order: "o1"}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Reserve(step(t.Context(), "o1", 1, false), "o1", lines); err != nil {
			t.Fatal(err)
		}
		if a := f.stock(t, "a"); a.Reserved != 0 {
			t.Fatalf("a = %+v: the redelivered reservation held stock again", a)
		}
	})
}
