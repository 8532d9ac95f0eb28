package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/catga-go/catga/libs/contracts"
	"github.com/catga-go/catga/services/order/domain"
)

var now = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

func items(it ...contracts.Item) []contracts.Item { return it }

var book = contracts.Item{SKU: "book", Quantity: 2, UnitPrice: 1250}

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", domain.MaxNameLen+1)
	many := make([]contracts.Item, domain.MaxItems+1)
	tests := []struct {
		name  string
		cmd   domain.PlaceOrder
		field string // "" means valid
	}{
		{"valid", domain.PlaceOrder{Customer: "alice", Items: items(book)}, ""},
		{"no customer", domain.PlaceOrder{Items: items(book)}, "customer"},
		{"customer too long", domain.PlaceOrder{Customer: long, Items: items(book)}, "customer"},
		{"customer with newline", domain.PlaceOrder{Customer: "al\nice", Items: items(book)}, "customer"},
		{"customer not utf8", domain.PlaceOrder{Customer: "\xff", Items: items(book)}, "customer"},
		{"customer with a space", domain.PlaceOrder{Customer: "al ice", Items: items(book)}, "customer"},
		{"customer an email", domain.PlaceOrder{Customer: "alice@example.com", Items: items(book)}, "customer"},
		{"customer with every allowed kind", domain.PlaceOrder{Customer: "Al-i_c.e:7", Items: items(book)}, ""},
		{"sku with a slash", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "a/b", Quantity: 1, UnitPrice: 1})}, "items[0].sku"},
		{"no items", domain.PlaceOrder{Customer: "alice"}, "items"},
		{"too many items", domain.PlaceOrder{Customer: "alice", Items: many}, "items"},
		{"empty sku", domain.PlaceOrder{Customer: "alice", Items: items(book, contracts.Item{Quantity: 1, UnitPrice: 1})}, "items[1].sku"},
		{"duplicate sku", domain.PlaceOrder{Customer: "alice", Items: items(book, book)}, "items[1].sku"},
		{"zero quantity", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "a", UnitPrice: 1})}, "items[0].quantity"},
		{"negative quantity", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "a", Quantity: -1, UnitPrice: 1})}, "items[0].quantity"},
		{"huge quantity", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "a", Quantity: domain.MaxQuantity + 1, UnitPrice: 1})}, "items[0].quantity"},
		{"zero price", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "a", Quantity: 1})}, "items[0].unit_price"},
		{"negative price", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "a", Quantity: 1, UnitPrice: -5})}, "items[0].unit_price"},
		{"huge price", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "a", Quantity: 1, UnitPrice: domain.MaxUnitPrice + 1})}, "items[0].unit_price"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cmd.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *domain.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("Validate() = %v, want a FieldError", err)
			}
			if fe.Field != tt.field {
				t.Fatalf("field = %q (%v), want %q", fe.Field, err, tt.field)
			}
		})
	}
}

func TestTotalAtTheLimitsDoesNotOverflow(t *testing.T) {
	its := make([]contracts.Item, domain.MaxItems)
	for i := range its {
		its[i] = contracts.Item{SKU: string(rune('a' + i%26)), Quantity: domain.MaxQuantity, UnitPrice: domain.MaxUnitPrice}
	}
	cmd := domain.PlaceOrder{Customer: "c", Items: its}
	if got, want := cmd.Total(), int64(domain.MaxItems)*domain.MaxQuantity*domain.MaxUnitPrice; got != want || got <= 0 {
		t.Fatalf("Total = %d, want %d", got, want)
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"uuid", "0b6c6d2e-8f2a-4a57-9d0b-3f4f1f0c2e11", true},
		{"empty", "", false},
		{"space", "a b", false},
		{"non ascii", "clé", false},
		{"too long", strings.Repeat("k", domain.MaxIdempotencyKey+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := domain.ValidateIdempotencyKey(tt.key); (err == nil) != tt.ok {
				t.Fatalf("ValidateIdempotencyKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
			}
		})
	}
}

func TestOrderIDFor(t *testing.T) {
	a := domain.OrderIDFor("alice", "k1")
	if a != domain.OrderIDFor("alice", "k1") {
		t.Fatal("the same customer and key derive different ids")
	}
	if a == domain.OrderIDFor("bob", "k1") || a == domain.OrderIDFor("alice", "k2") {
		t.Fatal("different customers or keys derive the same id")
	}
	if !domain.ValidOrderID(a) {
		t.Fatalf("derived id %q is not a valid order id", a)
	}
	for _, bad := range []string{"", "x", "6F1B7A52-3C0E-4B8E-9A39-2F7C1D8E5A10", "../etc"} {
		if domain.ValidOrderID(bad) {
			t.Errorf("ValidOrderID(%q) = true", bad)
		}
	}
}

func placed(t *testing.T) domain.Order {
	t.Helper()
	evs, err := domain.Place(domain.Order{}, "o1", domain.PlaceOrder{Customer: "alice", Items: items(book)}, now)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Place = %v, %v", evs, err)
	}
	return domain.Evolve(domain.Order{}, evs[0])
}

func TestPlace(t *testing.T) {
	o := placed(t)
	if o.State != domain.StatePending || o.Total != 2500 || o.ID != "o1" || !o.PlacedAt.Equal(now) {
		t.Fatalf("placed order = %+v", o)
	}
	tests := []struct {
		name    string
		cmd     domain.PlaceOrder
		events  int
		wantErr error
	}{
		{"same order again decides nothing", domain.PlaceOrder{Customer: "alice", Items: items(book)}, 0, nil},
		{"other items under the same id", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "pen", Quantity: 1, UnitPrice: 1})}, 0, domain.ErrKeyReused},
		{"other quantity under the same id", domain.PlaceOrder{Customer: "alice", Items: items(contracts.Item{SKU: "book", Quantity: 3, UnitPrice: 1250})}, 0, domain.ErrKeyReused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := domain.Place(o, "o1", tt.cmd, now)
			if !errors.Is(err, tt.wantErr) || len(evs) != tt.events {
				t.Fatalf("Place = %v, %v; want %d events, error %v", evs, err, tt.events, tt.wantErr)
			}
		})
	}
}

func TestCompleteAndCancel(t *testing.T) {
	pending := placed(t)
	completed := domain.Evolve(pending, contracts.OrderCompleted{OrderID: "o1", CompletedAt: now})
	cancelled := domain.Evolve(pending, contracts.OrderCancelled{OrderID: "o1", Reason: "out_of_stock", CancelledAt: now})
	if completed.State != domain.StateCompleted || cancelled.State != domain.StateCancelled || cancelled.Reason != "out_of_stock" {
		t.Fatalf("evolve: completed %+v, cancelled %+v", completed, cancelled)
	}
	tests := []struct {
		name    string
		decide  func(domain.Order, time.Time) ([]any, error)
		order   domain.Order
		events  int
		wantErr error
	}{
		{"complete pending", domain.Complete, pending, 1, nil},
		{"complete completed is a no-op", domain.Complete, completed, 0, nil},
		{"complete cancelled", domain.Complete, cancelled, 0, domain.ErrClosed},
		{"complete unknown", domain.Complete, domain.Order{}, 0, domain.ErrNotFound},
		{"cancel pending", cancel("insufficient_funds"), pending, 1, nil},
		{"cancel cancelled is a no-op", cancel("other"), cancelled, 0, nil},
		{"cancel completed", cancel("x"), completed, 0, domain.ErrClosed},
		{"cancel unknown", cancel("x"), domain.Order{}, 0, domain.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := tt.decide(tt.order, now)
			if !errors.Is(err, tt.wantErr) || len(evs) != tt.events {
				t.Fatalf("= %v, %v; want %d events, error %v", evs, err, tt.events, tt.wantErr)
			}
		})
	}
}

func cancel(reason string) func(domain.Order, time.Time) ([]any, error) {
	return func(o domain.Order, now time.Time) ([]any, error) { return domain.Cancel(o, reason, now) }
}

func TestParseState(t *testing.T) {
	for _, s := range []string{"PENDING", "COMPLETED", "CANCELLED"} {
		if st, ok := domain.ParseState(s); !ok || string(st) != s {
			t.Errorf("ParseState(%q) = %q, %v", s, st, ok)
		}
	}
	for _, s := range []string{"", "pending", "DONE"} {
		if _, ok := domain.ParseState(s); ok {
			t.Errorf("ParseState(%q) ok", s)
		}
	}
}
