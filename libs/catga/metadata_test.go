package catga

import (
	"context"
	"testing"
)

func TestSendOrdinal(t *testing.T) {
	if _, ok := SendOrdinal(context.Background(), "s", 1); ok {
		t.Fatal("ordinal without metadata in ctx")
	}
	ctx := WithMetadata(context.Background(), Metadata{MessageID: "m"})
	tests := []struct {
		name    string
		subject string
		digest  uint64
		want    int
	}{
		{"first body", "a", 10, 0},
		{"second body", "a", 20, 1},
		{"first body again (a retry)", "a", 10, 0},
		{"another subject counts on its own", "b", 20, 0},
		{"third body", "a", 30, 2},
	}
	for _, tc := range tests {
		if got, ok := SendOrdinal(ctx, tc.subject, tc.digest); !ok || got != tc.want {
			t.Errorf("%s: SendOrdinal = %d, %v; want %d", tc.name, got, ok, tc.want)
		}
	}
	if got, _ := SendOrdinal(WithMetadata(ctx, Metadata{MessageID: "m"}), "a", 30); got != 0 {
		t.Errorf("a new scope starts from 0, got %d", got)
	}
}

// TestSendOrdinalBounded: a long-lived scope remembers a bounded number of
// bodies; past that, ordinals stay distinct.
func TestSendOrdinalBounded(t *testing.T) {
	ctx := WithMetadata(context.Background(), Metadata{MessageID: "m"})
	seen := map[int]bool{}
	for d := range uint64(3 * maxRemembered) {
		n, _ := SendOrdinal(ctx, "a", d)
		if seen[n] {
			t.Fatalf("ordinal %d given twice", n)
		}
		seen[n] = true
	}
	s := ctx.Value(metadataKey{}).(*scope)
	if got := len(s.sends["a"].digests); got != maxRemembered {
		t.Errorf("scope remembers %d bodies, want at most %d", got, maxRemembered)
	}
	if n, _ := SendOrdinal(ctx, "a", 5); n != 5 {
		t.Errorf("a remembered body's retry got %d, want 5", n)
	}
}
