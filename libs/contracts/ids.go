package contracts

import "fmt"

// MaxIDLen bounds the ids messages carry (customers and their accounts,
// SKUs, orders): the services that own them make them parts of stream ids.
const MaxIDLen = 128

// IDError says why an id breaks the rule of [CheckID].
type IDError struct {
	Code   string // "required", "too_long" or "invalid"
	Reason string // e.g. "longer than 128 bytes"
}

func (e *IDError) Error() string { return e.Reason }

// CheckID checks id against the one rule every service applies to ids on
// the wire: 1 to MaxIDLen bytes of letters, digits, '-', '_', '.' or ':'.
// Sharing it is what keeps an id the order service accepted from being
// refused as bad input by a participant in the middle of a saga.
func CheckID(id string) *IDError {
	switch {
	case id == "":
		return &IDError{Code: "required", Reason: "required"}
	case len(id) > MaxIDLen:
		return &IDError{Code: "too_long", Reason: fmt.Sprintf("longer than %d bytes", MaxIDLen)}
	}
	for _, c := range id {
		if !idChar(c) {
			return &IDError{Code: "invalid", Reason: fmt.Sprintf("%q: want letters, digits, '-', '_', '.' or ':'", id)}
		}
	}
	return nil
}

func idChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
}
