package rediscluster_test

import (
	"testing"

	"github.com/catga-go/catga/libs/catga/rediscluster"
)

// Expected slots are those of Redis' CLUSTER KEYSLOT.
func TestSlot(t *testing.T) {
	for key, want := range map[string]int{
		"":                            0,
		"123456789":                   12739, // the CRC16/XMODEM check value 0x31C3
		"foo":                         12182,
		"{user1000}.following":        3443,
		"{user1000}.followers":        3443,
		"foo{}{bar}":                  8363, // an empty tag does not count
		"catga:order:saga:{user1000}": 3443,
	} {
		if got := rediscluster.Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}
