// Package ids checks and makes the identifiers the Worker handles: UUIDs in their
// canonical textual form (RFC 9562).
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// IsUUID reports whether s is a UUID in its canonical textual form (RFC 9562 §4):
// 8-4-4-4-12 hex digits, either case.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// NewUUID returns a random (version 4) UUID, RFC 9562 §5.4, in lower case.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
