package domain

import "github.com/catga-go/catga/libs/contracts"

// MaxIDLen bounds ids: the contract's rule (contracts.CheckID).
const MaxIDLen = contracts.MaxIDLen

// MaxLines bounds the lines of one reservation: each is a stream written
// in the reservation's transaction.
const MaxLines = 100

// ValidateID checks an id (a SKU or an order id) named field by the
// rule every service applies to ids on the wire (contracts.CheckID).
func ValidateID(field, id string) error {
	if err := contracts.CheckID(id); err != nil {
		return invalid(field, "%s", err.Reason)
	}
	return nil
}

// ValidatePositive checks a quantity named field is above zero.
func ValidatePositive(field string, n int64) error {
	if n <= 0 {
		return invalid(field, "must be greater than 0, got %d", n)
	}
	return nil
}
