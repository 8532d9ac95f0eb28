package transport

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// newMessageID returns a random (version 4) UUID string. uuid.NewString
// reads crypto/rand on every call (~350ns, 2 allocations); the runtime's
// generator behind math/rand/v2 (ChaCha8, seeded from the OS) gives the
// same 122 random bits for a fraction of that. Message ids must be unique,
// not secret, so that is enough.
func newMessageID() string {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
