package domain

// MaxIDLen bounds SKUs and order ids: they become parts of stream ids.
const MaxIDLen = 128

// MaxLines bounds the lines of one reservation: each is a stream written
// in the reservation's transaction.
const MaxLines = 100

// ValidateID checks an id (a SKU or an order id) named field: 1 to
// MaxIDLen letters, digits, '-', '_', '.' or ':'.
func ValidateID(field, id string) error {
	if id == "" {
		return invalid(field, "required")
	}
	if len(id) > MaxIDLen {
		return invalid(field, "longer than %d bytes", MaxIDLen)
	}
	for _, c := range id {
		if !idChar(c) {
			return invalid(field, "%q: want letters, digits, '-', '_', '.' or ':'", id)
		}
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

func idChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
}
