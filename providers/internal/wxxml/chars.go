package wxxml

import "unicode/utf8"

// entity resolves the name between '&' and ';'.
func entity(name string) (rune, bool) {
	switch name {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if digits == "" || len(digits) > 8 {
		return 0, false
	}
	var r rune
	for i := 0; i < len(digits); i++ {
		d := rune(hexVal(digits[i]))
		if d >= base {
			return 0, false
		}
		r = r*base + d
	}
	return r, isXMLChar(r)
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// checkChars refuses invalid UTF-8 and characters outside XML's range in
// s[start:end], as encoding/xml does.
func (p *parser) checkChars(start, end int) error {
	for i := start; i < end; {
		// Eight bytes at a time while they are printable ASCII (no byte
		// with the high bit set, none below 0x20): the base64 of an
		// encrypted push is all such bytes.
		for i+8 <= end && printableASCII8(p.s[i:i+8]) {
			i += 8
		}
		if i >= end {
			break
		}
		c := p.s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				p.pos = i
				return p.fail("control character")
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(p.s[i:end])
		if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
			p.pos = i
			return p.fail("invalid UTF-8 or character")
		}
		i += size
	}
	return nil
}

// printableASCII8 reports whether the 8 bytes of s are all in 0x20–0x7F.
func printableASCII8(s string) bool {
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	// A byte has its high bit set, or is below 0x20 (x - 0x20 borrows into
	// the high bit of a byte that had it clear).
	return (x|(x-0x20*lo)&^x)&hi == 0
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}
