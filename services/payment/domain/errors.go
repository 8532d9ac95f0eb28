package domain

import (
	"errors"
	"fmt"
)

// Errors of the decisions. Ports map them to their protocol: HTTP status
// codes, or rejection codes of the wire contract.
var (
	// ErrUnknownAccount: no account has the id.
	ErrUnknownAccount = errors.New("payment: unknown account")
	// ErrAccountExists: an account with the id was opened before.
	ErrAccountExists = errors.New("payment: account exists")
	// ErrInsufficientFunds: the balance is below the amount to charge.
	ErrInsufficientFunds = errors.New("payment: insufficient funds")
	// ErrChargeMismatch: the order holds a charge of another amount; an
	// order is charged once, for one amount, until it is refunded.
	ErrChargeMismatch = errors.New("payment: order already charged another amount")
	// ErrInvalid matches every [*InvalidError].
	ErrInvalid = errors.New("payment: invalid input")
)

// InvalidError is input that breaks a rule: Field is the JSON name of the
// offending field.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("payment: invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is [ErrInvalid].
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
