package emulator

import (
	"strconv"
	"strings"
)

// The emulator's own amount formatting and reading, in Alipay's yuan
// notation. They are written apart from the gateway's (providers/alipay) on
// purpose: were they shared, a bug in one would be the same on both sides
// and no offline test would see it.

// yuan writes a non-negative number of fen as yuan with two decimals:
// 1 → "0.01", 1234 → "12.34", 0 → "0.00".
func yuan(fen int64) string {
	if fen < 0 {
		return "-" + yuan(-fen)
	}
	digits := strconv.FormatInt(fen, 10)
	if len(digits) < 3 {
		digits = strings.Repeat("0", 3-len(digits)) + digits
	}
	cut := len(digits) - 2
	return digits[:cut] + "." + digits[cut:]
}

// parseYuan reads an amount in yuan as Alipay's gateway accepts it: digits,
// optionally a dot and one or two decimals ("5", "0.1", "12.34"). It
// refuses signs, spaces, exponents, leading zeros and more than two
// decimals, and amounts above maxYuanFen.
func parseYuan(s string) (int64, bool) {
	whole, frac, dotted := strings.Cut(s, ".")
	if whole == "" || (dotted && frac == "") || len(frac) > 2 || len(whole) > 9 {
		return 0, false
	}
	if len(whole) > 1 && whole[0] == '0' {
		return 0, false
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 2-len(frac)), 10, 64)
	}
	fen := w*100 + f
	return fen, fen <= maxYuanFen
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
