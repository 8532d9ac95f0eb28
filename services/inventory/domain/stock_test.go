package domain_test

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/catga-go/catga/services/inventory/domain"
)

// ledgers folds events per stream id, as loads do.
func ledgers(history map[string][]any) map[string]domain.Ledger {
	out := map[string]domain.Ledger{}
	for id, evs := range history {
		var l domain.Ledger
		for _, e := range evs {
			l = domain.Evolve(l, e)
		}
		out[id] = l
	}
	return out
}

func TestEvolve(t *testing.T) {
	got := ledgers(map[string][]any{"s": {
		domain.StockAdded{Quantity: 10}, domain.StockReserved{Order: "o1", Quantity: 4},
		domain.StockReserved{Order: "o2", Quantity: 3}, domain.StockReleased{Order: "o1", Quantity: 4},
	}})["s"].Stock
	if want := (domain.Stock{Known: true, OnHand: 10, Reserved: 3}); got != want || got.Available() != 7 {
		t.Fatalf("stock = %+v (available %d), want %+v (available 7)", got, got.Available(), want)
	}
}

func TestNewReserveOrder(t *testing.T) {
	tests := []struct {
		name      string
		order     string
		lines     []domain.Line
		want      []domain.Line
		wantField string
	}{
		{"sorted", "o1", []domain.Line{ln("b", 1), ln("a", 2)}, []domain.Line{ln("a", 2), ln("b", 1)}, ""},
		{"merged", "o1", []domain.Line{ln("a", 1), ln("b", 1), ln("a", 2)}, []domain.Line{ln("a", 3), ln("b", 1)}, ""},
		{"no order", "", []domain.Line{ln("a", 1)}, nil, "order_id"},
		{"no lines", "o1", nil, nil, "lines"},
		{"too many lines", "o1", make([]domain.Line, domain.MaxLines+1), nil, "lines"},
		{"bad sku", "o1", []domain.Line{ln("a", 1), ln("b c", 1)}, nil, "lines[1].sku"},
		{"zero quantity", "o1", []domain.Line{ln("a", 0)}, nil, "lines[0].quantity"},
		{"negative quantity", "o1", []domain.Line{ln("a", -2)}, nil, "lines[0].quantity"},
		{"overflowing merge", "o1", []domain.Line{ln("a", math.MaxInt64), ln("a", 1)}, nil, "lines[1].quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := domain.NewReserveOrder(tt.order, tt.lines)
			var ie *domain.InvalidError
			switch {
			case tt.wantField == "" && err != nil:
				t.Fatal(err)
			case tt.wantField != "" && (!errors.As(err, &ie) || ie.Field != tt.wantField || !errors.Is(err, domain.ErrInvalid)):
				t.Fatalf("err = %v, want an InvalidError of field %q", err, tt.wantField)
			case tt.wantField == "" && !reflect.DeepEqual(c.Lines, tt.want):
				t.Fatalf("lines = %v, want %v", c.Lines, tt.want)
			}
		})
	}
}

func TestReserve(t *testing.T) {
	stocked := map[string][]any{
		domain.StockID("a"): {domain.StockAdded{Quantity: 5}},
		domain.StockID("b"): {domain.StockAdded{Quantity: 2}, domain.StockReserved{Order: "o0", Quantity: 1}},
	}
	with := func(extra map[string][]any) map[string][]any {
		out := map[string][]any{}
		for k, v := range stocked {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = append(append([]any{}, out[k]...), v...)
		}
		return out
	}
	lines := []domain.Line{ln("a", 5), ln("b", 1)}
	held := with(map[string][]any{domain.ReservationID("o1"): {domain.ReservationMade{Order: "o1", Lines: lines}}})
	released := with(map[string][]any{domain.ReservationID("o1"): {
		domain.ReservationMade{Order: "o1", Lines: lines}, domain.ReservationReleased{Order: "o1", Lines: lines}}})
	tests := []struct {
		name    string
		history map[string][]any
		lines   []domain.Line
		want    map[string][]any
		wantErr error
	}{
		{"all lines", stocked, lines, map[string][]any{
			domain.ReservationID("o1"): {domain.ReservationMade{Order: "o1", Lines: lines}},
			domain.StockID("a"):        {domain.StockReserved{Order: "o1", Quantity: 5}},
			domain.StockID("b"):        {domain.StockReserved{Order: "o1", Quantity: 1}},
		}, nil},
		{"one line short", stocked, []domain.Line{ln("a", 1), ln("b", 2)}, nil, domain.ErrOutOfStock},
		{"unknown sku", stocked, []domain.Line{ln("a", 1), ln("z", 1)}, nil, domain.ErrUnknownSKU},
		{"held already", held, lines, nil, nil},
		{"held other lines", held, []domain.Line{ln("a", 1)}, nil, domain.ErrReservationMismatch},
		{"again after release", released, []domain.Line{ln("a", 1)}, map[string][]any{
			domain.ReservationID("o1"): {domain.ReservationMade{Order: "o1", Lines: []domain.Line{ln("a", 1)}}},
			domain.StockID("a"):        {domain.StockReserved{Order: "o1", Quantity: 1}},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := domain.NewReserveOrder("o1", tt.lines)
			if err != nil {
				t.Fatal(err)
			}
			states := ledgers(tt.history)
			for _, id := range c.IDs() {
				if _, ok := states[id]; !ok {
					states[id] = domain.Ledger{}
				}
			}
			got, err := c.Decide(states)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events = %#v, want %#v", got, tt.want)
			}
			for id, evs := range got {
				l := states[id]
				for _, e := range evs {
					l = domain.Evolve(l, e)
				}
				if l.Stock.Available() < 0 {
					t.Fatalf("%s: available went negative: %+v", id, l.Stock)
				}
			}
		})
	}
}

func TestRelease(t *testing.T) {
	lines := []domain.Line{ln("a", 2), ln("b", 1)}
	c := domain.ReleaseOrder{Order: "o1"}
	heldState := ledgers(map[string][]any{
		domain.ReservationID("o1"): {domain.ReservationMade{Order: "o1", Lines: lines}},
		domain.StockID("a"):        {domain.StockAdded{Quantity: 5}, domain.StockReserved{Order: "o1", Quantity: 2}},
		domain.StockID("b"):        {domain.StockAdded{Quantity: 5}, domain.StockReserved{Order: "o1", Quantity: 1}},
	})
	if ids := c.IDs(heldState[domain.ReservationID("o1")].Reservation); len(ids) != 3 {
		t.Fatalf("IDs = %v, want the order's and both SKUs'", ids)
	}
	tests := []struct {
		name    string
		states  map[string]domain.Ledger
		want    map[string][]any
		wantErr error
	}{
		{"held", heldState, map[string][]any{
			domain.ReservationID("o1"): {domain.ReservationReleased{Order: "o1", Lines: lines}},
			domain.StockID("a"):        {domain.StockReleased{Order: "o1", Quantity: 2}},
			domain.StockID("b"):        {domain.StockReleased{Order: "o1", Quantity: 1}},
		}, nil},
		{"nothing held", map[string]domain.Ledger{domain.ReservationID("o1"): {}}, nil, nil},
		{"released already", ledgers(map[string][]any{domain.ReservationID("o1"): {
			domain.ReservationMade{Order: "o1", Lines: lines}, domain.ReservationReleased{Order: "o1", Lines: lines}}}), nil, nil},
		{"held, SKUs not loaded", ledgers(map[string][]any{domain.ReservationID("o1"): {
			domain.ReservationMade{Order: "o1", Lines: lines}}}), nil, domain.ErrReplan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decide(tt.states)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAddStock(t *testing.T) {
	tests := []struct {
		name      string
		cmd       domain.AddStock
		history   []any
		wantField string
	}{
		{"add", domain.AddStock{SKU: "a", Quantity: 3}, nil, ""},
		{"zero", domain.AddStock{SKU: "a"}, nil, "quantity"},
		{"bad sku", domain.AddStock{SKU: "", Quantity: 1}, nil, "sku"},
		{"overflow", domain.AddStock{SKU: "a", Quantity: math.MaxInt64}, []any{domain.StockAdded{Quantity: 1}}, "quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cmd.Validate()
			if err == nil {
				var l domain.Ledger
				for _, e := range tt.history {
					l = domain.Evolve(l, e)
				}
				_, err = tt.cmd.Decide(l)
			}
			var ie *domain.InvalidError
			if (tt.wantField == "") != (err == nil) || err != nil && (!errors.As(err, &ie) || ie.Field != tt.wantField) {
				t.Fatalf("err = %v, want field %q", err, tt.wantField)
			}
		})
	}
}

func ln(sku string, q int64) domain.Line { return domain.Line{SKU: sku, Quantity: q} }
