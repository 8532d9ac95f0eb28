package topology

import "github.com/catga-go/catga/e2e/topology/internal/slot"

// HashSlot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of the
// key, or of its hash tag (the part between the first '{' and the next
// '}', when not empty), modulo 16384.
func HashSlot(key string) int { return slot.Of(key) }
