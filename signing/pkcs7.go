package signing

import (
	"crypto/subtle"
	"strconv"
)

// pkcs7Pad returns a new slice: data followed by PKCS#7 padding to a
// multiple of blockSize (1 to blockSize bytes, always at least one).
func pkcs7Pad(data []byte, blockSize int) []byte {
	n := blockSize - len(data)%blockSize
	out := make([]byte, len(data)+n)
	copy(out, data)
	for i := len(data); i < len(out); i++ {
		out[i] = byte(n)
	}
	return out
}

// pkcs7Unpad checks PKCS#7 padding strictly (1..blockSize bytes, all equal
// to the count) and strips it. The check looks at the whole last block in
// constant time, so it tells nothing about which byte was wrong.
func pkcs7Unpad(data []byte, blockSize int) ([]byte, bool) {
	if len(data) == 0 || len(data)%blockSize != 0 || blockSize > 255 {
		return nil, false
	}
	n := int(data[len(data)-1])
	good := subtle.ConstantTimeLessOrEq(1, n) & subtle.ConstantTimeLessOrEq(n, blockSize)
	tail := data[len(data)-blockSize:]
	for i := range blockSize {
		// Byte i from the end belongs to the padding when i < n.
		inPad := subtle.ConstantTimeLessOrEq(i+1, n)
		same := subtle.ConstantTimeByteEq(tail[blockSize-1-i], byte(n))
		good &= same | (inPad ^ 1)
	}
	if good != 1 {
		return nil, false
	}
	return data[:len(data)-n], true
}

// printable shortens an attacker-supplied value for an error message: at most
// 32 bytes, quoted by the caller with %q.
func printable(s string) string {
	if len(s) > 32 {
		return s[:32] + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return s
}
