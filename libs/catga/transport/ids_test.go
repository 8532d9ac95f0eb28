package transport

import (
	"testing"

	"github.com/google/uuid"
)

func TestNewMessageIDIsUniqueUUIDv4(t *testing.T) {
	const n = 20000
	seen := make(map[string]struct{}, n)
	for range n {
		id := newMessageID()
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Fatalf("%q: version %d, variant %s, canonical %q", id, u.Version(), u.Variant(), u.String())
		}
		if _, dup := seen[id]; dup {
			t.Fatalf("duplicate id %q after %d", id, len(seen))
		}
		seen[id] = struct{}{}
	}
}

func BenchmarkNewMessageID(b *testing.B) {
	b.Run("transport", func(b *testing.B) {
		for b.Loop() {
			_ = newMessageID()
		}
	})
	b.Run("uuid.NewString", func(b *testing.B) {
		for b.Loop() {
			_ = uuid.NewString()
		}
	})
}
