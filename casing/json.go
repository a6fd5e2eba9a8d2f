package casing

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalidJSON is wrapped by the error SnakeJSON and CamelJSON return when src is not valid JSON. The message
// gives the offset and what was wrong, never the document's content.
var ErrInvalidJSON = errors.New("casing: invalid JSON")

// maxDepth is encoding/json's nesting limit: a document it refuses, we refuse too.
const maxDepth = 10000

// SnakeJSON is ToSnake on JSON bytes: it returns src with every object key converted by SnakeKey.
//
// Everything but the keys is copied byte for byte: whitespace (the output keeps the input's layout), number
// literals (no float64 round trip: 2^63 and 1e400 survive), string escapes, key order and duplicate keys. A key
// with escape sequences is decoded, converted and, when it changes, written back with only the escapes JSON
// requires (\" \\ and control characters); when it does not change, it is kept as written.
//
// Keys listed in verbatim are matched, decoded, among the keys of the top-level object only, as given or in their
// SnakeKey or CamelKey spelling: the key is converted and its value copied untouched. Two keys of one object that
// convert to the same key are both kept (most decoders then keep the last).
//
// src is read in one pass and validated as encoding/json does (invalid UTF-8 inside strings is let through, as
// encoding/json.Valid does; nesting deeper than 10000 is refused); invalid JSON returns an error wrapping
// ErrInvalidJSON. The output is one new slice, sized from src; keys that do not change cost no allocation, nor do
// verbatim keys whose spellings are all alike ("data"); another verbatim key costs one per call, and keys written
// with escape sequences up to two per call (scratch buffers, reused for every such key).
func SnakeJSON(src []byte, verbatim ...string) ([]byte, error) {
	return convertJSON(src, false, verbatim)
}

// CamelJSON is ToCamel on JSON bytes: it returns src with every object key converted by CamelKey, everything else
// kept byte for byte. It is the hot path for provider answers; see SnakeJSON for the details.
func CamelJSON(src []byte, verbatim ...string) ([]byte, error) {
	return convertJSON(src, true, verbatim)
}

func convertJSON(src []byte, toCamel bool, verbatim []string) ([]byte, error) {
	size := len(src)
	if !toCamel {
		size += len(src)/8 + 16 // snake keys are longer
	}
	s := scanner{src: src, buf: make([]byte, size), toCamel: toCamel}
	var spell [12]string // kept on the stack: spellings is passed down, never stored in s
	spellings := appendSpellings(spell[:0], verbatim)
	s.skipSpace()
	if err := s.value(true, spellings); err != nil {
		return nil, err
	}
	s.skipSpace()
	if s.pos < len(src) {
		return nil, s.fail(s.pos, "data after the top-level value")
	}
	return append(s.buf[:s.n], src[s.last:]...), nil
}

// appendSpellings appends every spelling a verbatim key is matched in: as given, SnakeKey and CamelKey.
func appendSpellings(dst, verbatim []string) []string {
	for _, v := range verbatim {
		dst = append(dst, v, SnakeKey(v), CamelKey(v))
	}
	return dst
}

func isVerbatim[T text](spellings []string, k T) bool {
	for _, v := range spellings {
		if string(k) == v {
			return true
		}
	}
	return false
}

// scanner validates src by recursive descent and copies it to buf[:n], replacing the keys that change.
// src[last:pos] is what has been read but not yet copied: unchanged parts are copied in as few appends as possible.
// buf is only replaced when it has to grow, so that the hot path stores no pointer (and pays no write barrier).
type scanner struct {
	src     []byte
	pos     int
	buf     []byte
	n       int
	last    int
	depth   int
	toCamel bool
	name    []byte // a decoded key with escapes
	conv    []byte // its conversion, before re-escaping
}

func (s *scanner) fail(at int, what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, what, at)
}

// unexpected reports the byte at s.pos (or the end of input) where something else was expected.
func (s *scanner) unexpected(want string) error {
	if s.pos >= len(s.src) {
		return s.fail(s.pos, "unexpected end of input, want "+want)
	}
	c := s.src[s.pos]
	if c >= 0x20 && c < 0x7f {
		return s.fail(s.pos, fmt.Sprintf("unexpected %q, want %s", c, want))
	}
	return s.fail(s.pos, fmt.Sprintf("unexpected byte 0x%02x, want %s", c, want))
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans one value at s.pos. convert is false inside a verbatim value; verbatim holds the spellings of the
// verbatim keys for the top-level value, nil below it.
func (s *scanner) value(convert bool, verbatim []string) error {
	if s.pos >= len(s.src) {
		return s.unexpected("a value")
	}
	switch c := s.src[s.pos]; {
	case c == '{':
		return s.object(convert, verbatim)
	case c == '[':
		return s.array(convert)
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || isDigit(c):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.unexpected("a value")
}

func (s *scanner) object(convert bool, verbatim []string) error {
	if s.depth++; s.depth > maxDepth {
		return s.fail(s.pos, "nesting deeper than 10000")
	}
	s.pos++ // {
	s.skipSpace()
	if s.pos < len(s.src) && s.src[s.pos] == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if s.pos >= len(s.src) || s.src[s.pos] != '"' {
			return s.unexpected("a string key")
		}
		start := s.pos
		esc, err := s.str()
		if err != nil {
			return err
		}
		convertValue := convert
		if convert {
			raw := s.src[start+1 : s.pos-1]
			name := raw
			if esc {
				s.name = unescape(s.name[:0], raw)
				name = s.name
			}
			if verbatim != nil && isVerbatim(verbatim, name) {
				convertValue = false
			}
			s.key(start, name, esc)
		}
		s.skipSpace()
		if s.pos >= len(s.src) || s.src[s.pos] != ':' {
			return s.unexpected("':'")
		}
		s.pos++
		s.skipSpace()
		if err := s.value(convertValue, nil); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.src) {
			return s.unexpected("',' or '}'")
		}
		switch s.src[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.unexpected("',' or '}'")
		}
	}
}

// key writes the converted key when it changes. The key's string starts at src[start] and ends at src[s.pos-1];
// name is its decoded content.
func (s *scanner) key(start int, name []byte, esc bool) {
	if s.toCamel && !camelChanges(name) || !s.toCamel && !snakeChanges(name) {
		return
	}
	out := append(s.buf[:s.n], s.src[s.last:start+1]...) // up to and with the opening quote
	if !esc {
		out = s.appendKey(out, name)
	} else {
		s.conv = s.appendKey(s.conv[:0], name)
		out = appendEscaped(out, s.conv)
	}
	if cap(out) != cap(s.buf) {
		s.buf = out[:cap(out)]
	}
	s.n = len(out)
	s.last = s.pos - 1 // the closing quote is copied later
}

func (s *scanner) appendKey(dst, k []byte) []byte {
	if s.toCamel {
		return appendCamel(dst, k)
	}
	return appendSnake(dst, k)
}

func (s *scanner) array(convert bool) error {
	if s.depth++; s.depth > maxDepth {
		return s.fail(s.pos, "nesting deeper than 10000")
	}
	s.pos++ // [
	s.skipSpace()
	if s.pos < len(s.src) && s.src[s.pos] == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := s.value(convert, nil); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.src) {
			return s.unexpected("',' or ']'")
		}
		switch s.src[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.unexpected("',' or ']'")
		}
	}
}

// plain marks the bytes that stand for themselves inside a JSON string: not '"', not '\\', not a control character.
// Bytes of 0x80 and above pass, valid UTF-8 or not, as encoding/json lets them.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans the string at s.pos and reports whether it has escape sequences.
func (s *scanner) str() (esc bool, err error) {
	src := s.src
	p := s.pos + 1
	for {
		for p < len(src) && plain[src[p]] {
			p++
		}
		if p >= len(src) {
			return esc, s.fail(p, "unterminated string")
		}
		switch src[p] {
		case '"':
			s.pos = p + 1
			return esc, nil
		case '\\':
			esc = true
			if p+1 >= len(src) {
				return esc, s.fail(p, "unterminated string")
			}
			switch src[p+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p += 2
			case 'u':
				if p+6 > len(src) || hex4(src[p+2:p+6]) < 0 {
					return esc, s.fail(p, "invalid \\u escape")
				}
				p += 6
			default:
				return esc, s.fail(p, "invalid escape")
			}
		default:
			return esc, s.fail(p, "control character in string")
		}
	}
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

func (s *scanner) number() error {
	src, p := s.src, s.pos
	if src[p] == '-' {
		p++
	}
	digits := func() bool {
		q := p
		for p < len(src) && isDigit(src[p]) {
			p++
		}
		return p > q
	}
	switch {
	case p < len(src) && src[p] == '0':
		p++
	case p < len(src) && '1' <= src[p] && src[p] <= '9':
		digits()
	default:
		return s.fail(p, "invalid number")
	}
	if p < len(src) && src[p] == '.' {
		p++
		if !digits() {
			return s.fail(p, "invalid number")
		}
	}
	if p < len(src) && (src[p] == 'e' || src[p] == 'E') {
		p++
		if p < len(src) && (src[p] == '+' || src[p] == '-') {
			p++
		}
		if !digits() {
			return s.fail(p, "invalid number")
		}
	}
	s.pos = p
	return nil
}

func (s *scanner) literal(lit string) error {
	if len(s.src)-s.pos < len(lit) || string(s.src[s.pos:s.pos+len(lit)]) != lit {
		return s.unexpected("a value")
	}
	s.pos += len(lit)
	return nil
}

// unescape appends the decoded content of a valid JSON string (without quotes) to dst, the way encoding/json
// decodes it: a lone or broken surrogate becomes U+FFFD; other bytes are kept as they are.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // " \ /
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// appendEscaped appends k as the content of a JSON string, escaping only what JSON requires.
func appendEscaped(dst, k []byte) []byte {
	const hex = "0123456789abcdef"
	for _, c := range k {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c >= 0x20:
			dst = append(dst, c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return dst
}
