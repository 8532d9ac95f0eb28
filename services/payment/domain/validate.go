package domain

// MaxIDLen bounds account and order ids: they become parts of stream ids.
const MaxIDLen = 128

// ValidateID checks an id (of an account or an order) named field: 1 to
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

// ValidatePositive checks an amount named field is above zero.
func ValidatePositive(field string, n int64) error {
	if n <= 0 {
		return invalid(field, "must be greater than 0, got %d", n)
	}
	return nil
}

func idChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
}
