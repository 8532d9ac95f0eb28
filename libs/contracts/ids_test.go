package contracts_test

import (
	"strings"
	"testing"

	"github.com/catga-go/catga/libs/contracts"
)

func TestCheckID(t *testing.T) {
	tests := []struct {
		name, id, code string
	}{
		{"valid", "order-1:a_b.c", ""},
		{"longest", strings.Repeat("x", contracts.MaxIDLen), ""},
		{"empty", "", "required"},
		{"too long", strings.Repeat("x", contracts.MaxIDLen+1), "too_long"},
		{"space", "a b", "invalid"},
		{"slash", "a/b", "invalid"},
		{"non-ASCII", "ä", "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := contracts.CheckID(tt.id)
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("CheckID(%q) = %v, want valid", tt.id, err)
			case tt.code != "" && (err == nil || err.Code != tt.code):
				t.Fatalf("CheckID(%q) = %v, want code %s", tt.id, err, tt.code)
			}
		})
	}
}
