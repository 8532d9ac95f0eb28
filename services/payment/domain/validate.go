package domain

import "github.com/catga-go/catga/libs/contracts"

// MaxIDLen bounds ids: the contract's rule (contracts.CheckID).
const MaxIDLen = contracts.MaxIDLen

// ValidateID checks an id (of an account or an order) named field by the
// rule every service applies to ids on the wire (contracts.CheckID).
func ValidateID(field, id string) error {
	if err := contracts.CheckID(id); err != nil {
		return invalid(field, "%s", err.Reason)
	}
	return nil
}

// ValidatePositive checks an amount named field is above zero.
func ValidatePositive(field string, n int64) error {
	if n <= 0 {
		return invalid(field, "must be greater than 0, got %d", n)
	}
	return nil
}
