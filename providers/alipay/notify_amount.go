package alipay

import (
	"errors"
	"strconv"
)

// maxYuanDigits bounds the integer part of an amount so that its value in fen
// fits an int64 (Alipay's own limit is 100000000.00 yuan).
const maxYuanDigits = 16

// ErrAmount is returned by YuanToFen for anything that is not a plain
// non-negative decimal amount with at most two decimals.
var ErrAmount = errors.New("alipay: not an amount in yuan")

// YuanToFen converts an Alipay amount in yuan ("0.10", "1234.56", "1",
// "0.1") to an integer number of fen, by exact decimal string arithmetic.
// It refuses signs, exponents, more than two decimals, a dot without digits
// on either side, leading zeros ("01.00"), spaces, and values too large.
func YuanToFen(s string) (int64, error) {
	intPart, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac = s[:i], s[i+1:]
			if frac == "" {
				return 0, ErrAmount // "5."
			}
			break
		}
	}
	if intPart == "" || len(intPart) > maxYuanDigits || len(frac) > 2 {
		return 0, ErrAmount
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, ErrAmount
	}
	var fen int64
	for i := 0; i < len(intPart); i++ {
		c := intPart[i]
		if c < '0' || c > '9' {
			return 0, ErrAmount
		}
		fen = fen*10 + int64(c-'0')
	}
	fen *= 100
	for i := 0; i < 2; i++ {
		var d int64
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, ErrAmount
			}
			d = int64(c - '0')
		}
		if i == 0 {
			fen += d * 10
		} else {
			fen += d
		}
	}
	return fen, nil
}

// FenToYuan writes an integer number of fen as Alipay's yuan string with
// exactly two decimals: 10 → "0.10", 123456 → "1234.56", 0 → "0.00".
func FenToYuan(fen int64) string {
	neg := fen < 0
	u := uint64(fen)
	if neg {
		u = -u // also right for math.MinInt64
	}
	b := strconv.AppendUint(make([]byte, 0, 24), u/100, 10)
	c := u % 100
	b = append(b, '.', byte('0'+c/10), byte('0'+c%10))
	if neg {
		return "-" + string(b)
	}
	return string(b)
}
