package app_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/catga/eventstore"
	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/app"
	"github.com/catga-go/catga/services/order/domain"
)

// view returns a view holding orders o0..o4 (o1 completed, o3 cancelled),
// placed at feed positions 1..5 and updated after.
func view(t *testing.T) *app.View {
	t.Helper()
	v := app.NewView()
	at := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	pos := int64(0)
	apply := func(ev any) {
		pos++
		if err := v.Apply(t.Context(), eventstore.Record{Position: pos, Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		apply(contracts.OrderPlaced{OrderID: fmt.Sprintf("o%d", i), Customer: "c", Total: 100, PlacedAt: at})
	}
	apply(contracts.OrderCompleted{OrderID: "o1", CompletedAt: at})
	apply(contracts.OrderCancelled{OrderID: "o3", Reason: "out_of_stock", CancelledAt: at})
	apply(contracts.OrderPlaced{OrderID: "o0", Customer: "replayed"}) // a repeat changes nothing
	apply(contracts.OrderCompleted{OrderID: "unknown"})               // nor does an event of an order never placed
	return v
}

func ids(p app.Page) []string {
	var s []string
	for _, o := range p.Orders {
		s = append(s, o.ID+":"+string(o.State))
	}
	return s
}

func TestViewPaging(t *testing.T) {
	v := view(t)
	first, err := v.List(app.ListQuery{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(first)); got != "[o0:PENDING o1:COMPLETED]" || first.Next == "" {
		t.Fatalf("first page %s next %q", got, first.Next)
	}
	second, err := v.List(app.ListQuery{Limit: 2, After: first.Next})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(second)); got != "[o2:PENDING o3:CANCELLED]" || second.Next == "" {
		t.Fatalf("second page %s next %q", got, second.Next)
	}
	last, err := v.List(app.ListQuery{Limit: 2, After: second.Next})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(last)); got != "[o4:PENDING]" || last.Next != "" {
		t.Fatalf("last page %s next %q", got, last.Next)
	}
	pending, err := v.List(app.ListQuery{State: domain.StatePending})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(pending)); got != "[o0:PENDING o2:PENDING o4:PENDING]" {
		t.Fatalf("pending %s", got)
	}
	if c, _ := v.List(app.ListQuery{State: domain.StateCancelled}); len(c.Orders) != 1 || c.Orders[0].Reason != "out_of_stock" {
		t.Fatalf("cancelled %+v", c.Orders)
	}
	if o, _ := v.List(app.ListQuery{Limit: 1}); o.Orders[0].Customer != "c" {
		t.Fatalf("a replayed order.placed changed the order: %+v", o.Orders[0])
	}
}

func TestViewListRefusesBadQueries(t *testing.T) {
	v := view(t)
	tests := []struct {
		name  string
		q     app.ListQuery
		field string
	}{
		{"limit too big", app.ListQuery{Limit: app.MaxLimit + 1}, "limit"},
		{"negative limit", app.ListQuery{Limit: -1}, "limit"},
		{"cursor not a cursor", app.ListQuery{After: "o1"}, "after"},
		{"cursor with a negative position", app.ListQuery{After: "0--4"}, "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.List(tt.q)
			var fe *domain.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("List = %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
}
