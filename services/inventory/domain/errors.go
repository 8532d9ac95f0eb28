package domain

import (
	"errors"
	"fmt"
)

// Errors of the decisions. Ports map them to their protocol: HTTP status
// codes, or rejection codes of the wire contract.
var (
	// ErrUnknownSKU: no stock was ever added for the SKU.
	ErrUnknownSKU = errors.New("inventory: unknown sku")
	// ErrOutOfStock: a SKU has less available than a line asks.
	ErrOutOfStock = errors.New("inventory: out of stock")
	// ErrReservationMismatch: the order holds a reservation of other lines;
	// it must be released before the order reserves again.
	ErrReservationMismatch = errors.New("inventory: order holds a reservation of other lines")
	// ErrReplan: the reservation a release loaded its SKUs for changed
	// before the release decided; load it again.
	ErrReplan = errors.New("inventory: reservation changed while being released")
	// ErrInvalid matches every [*InvalidError].
	ErrInvalid = errors.New("inventory: invalid input")
)

// InvalidError is input that breaks a rule: Field is the JSON name (path)
// of the offending field, e.g. "lines[1].quantity".
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("inventory: invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is [ErrInvalid].
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
