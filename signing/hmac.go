package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// HMACSHA256Hex is the lowercase hex HMAC-SHA256 of body keyed with secret
// (the X-Unicloud-Signature sent to the backend is "sha256=" and this).
func HMACSHA256Hex(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// EqualHex compares two hex strings in constant time, case-insensitively.
// Anything empty or not even-length hex is unequal to everything.
func EqualHex(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	x, err := hex.DecodeString(a)
	if err != nil {
		return false
	}
	y, err := hex.DecodeString(b)
	if err != nil {
		return false
	}
	return hmac.Equal(x, y)
}
