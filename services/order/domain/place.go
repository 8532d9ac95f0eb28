package domain

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/catga-go/catga/libs/contracts"
)

// Limits of a new order. With them a total cannot overflow int64
// (MaxItems × MaxQuantity × MaxUnitPrice < 2^63).
const (
	MaxItems          = 100
	MaxQuantity       = 1_000_000
	MaxUnitPrice      = 1_000_000_000      // cents
	MaxNameLen        = contracts.MaxIDLen // customer and SKU, in bytes
	MaxIdempotencyKey = 128
)

// ErrInvalid matches every [*FieldError].
var ErrInvalid = errors.New("catga: order: invalid")

// FieldError says which field of a command is wrong and why.
type FieldError struct {
	Field   string // as the API names it: "items[1].quantity"
	Code    string // "required", "out_of_range", "too_long", "invalid", "duplicate"
	Message string
}

func (e *FieldError) Error() string { return "catga: order: " + e.Field + ": " + e.Message }

// Is reports whether target is [ErrInvalid].
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns the [*FieldError] of field.
func Invalid(field, code, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

// PlaceOrder is a customer's new order.
type PlaceOrder struct {
	Customer string
	Items    []contracts.Item
}

// Validate returns the first problem found, as a [*FieldError], in the
// order the fields appear.
func (c PlaceOrder) Validate() error {
	if err := checkName("customer", c.Customer); err != nil {
		return err
	}
	switch {
	case len(c.Items) == 0:
		return Invalid("items", "required", "an order needs at least one item")
	case len(c.Items) > MaxItems:
		return Invalid("items", "too_long", "at most %d items, got %d", MaxItems, len(c.Items))
	}
	seen := make(map[string]int, len(c.Items))
	for i, it := range c.Items {
		f := "items[" + strconv.Itoa(i) + "]"
		if err := checkName(f+".sku", it.SKU); err != nil {
			return err
		}
		if j, dup := seen[it.SKU]; dup {
			return Invalid(f+".sku", "duplicate", "SKU %q is also items[%d]: put the whole quantity in one item", it.SKU, j)
		}
		seen[it.SKU] = i
		if it.Quantity <= 0 || it.Quantity > MaxQuantity {
			return Invalid(f+".quantity", "out_of_range", "quantity must be between 1 and %d, got %d", MaxQuantity, it.Quantity)
		}
		if it.UnitPrice <= 0 || it.UnitPrice > MaxUnitPrice {
			return Invalid(f+".unit_price", "out_of_range", "unit_price must be between 1 and %d cents, got %d", MaxUnitPrice, it.UnitPrice)
		}
	}
	return nil
}

// Total is the order's amount in cents. Within the limits Validate checks
// it cannot overflow.
func (c PlaceOrder) Total() int64 {
	var t int64
	for _, it := range c.Items {
		t += it.Quantity * it.UnitPrice
	}
	return t
}

// Lines are the stock an order needs, as inventory reserves it.
func Lines(items []contracts.Item) []contracts.Line {
	lines := make([]contracts.Line, len(items))
	for i, it := range items {
		lines[i] = contracts.Line{SKU: it.SKU, Quantity: it.Quantity}
	}
	return lines
}

// checkName checks a customer or SKU by the rule payment and inventory
// apply to accounts and SKUs (contracts.CheckID), so an order they would
// refuse is refused here, before anything is written.
func checkName(field, s string) error {
	err := contracts.CheckID(s)
	switch {
	case err == nil:
		return nil
	case err.Code == "invalid":
		return Invalid(field, err.Code, "%s %s", field, err.Reason)
	}
	return Invalid(field, err.Code, "%s is %s", field, err.Reason)
}

// ValidateIdempotencyKey checks the key a client sent (the field is the
// header's name).
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKey {
		return Invalid("Idempotency-Key", "out_of_range", "Idempotency-Key must be 1 to %d characters", MaxIdempotencyKey)
	}
	for i := range len(key) {
		if key[i] < 0x21 || key[i] > 0x7e {
			return Invalid("Idempotency-Key", "invalid", "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}

// idNamespace is the UUIDv5 namespace of order ids derived from
// idempotency keys. Changing it changes every such id.
var idNamespace = uuid.MustParse("6f1b7a52-3c0e-4b8e-9a39-2f7c1d8e5a10")

// OrderIDFor derives the id of the order customer places under
// idempotency key: every peer derives the same one, so a retry that reaches
// another peer finds the order the first request placed. A key is scoped to
// its customer: two customers' keys never collide. (Neither may contain a
// newline: Validate and ValidateIdempotencyKey refuse it.)
func OrderIDFor(customer, key string) string {
	return uuid.NewSHA1(idNamespace, []byte(customer+"\n"+key)).String()
}

// ValidOrderID reports whether id has the form of an order id (a UUID, as
// the API returns it).
func ValidOrderID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}
