package casing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
)

// A seeded generator of JSON documents for the property tests: objects, arrays and scalars nested a few levels,
// keys from the providers' and the callers' vocabularies and from random bytes, written with random whitespace and
// random escapes so that the byte-level conversion meets every shape the value-level one sees.

var (
	snakeKeys = []string{"session_key", "ref_date", "visit_uv_new", "errcode", "errmsg", "appid", "mch_id", "openid",
		"unionid", "touser", "data", "list", "_id", "__v", "key_", "a__b", "coupon_fee_0", "page_1_x", "x", "é_a",
		"数据_key", "a_B", "", "access_token", "expires_in", "template_data", "out_trade_no"}
	camelKeys = []string{"jsCode", "pageSize", "appId", "toUser", "userID", "HTMLParser", "code2Session", "data",
		"templateData", "_Id", "some_Key", "errCode", "mchId", "sessionKey", "outTradeNo"}
	keyBytes = []string{"a", "b", "B", "_", "_", "0", "é", "\"", "\\", "\n", "\x01", "\xff", "/", "\u2028", "😀"}
	numbers  = []string{"0", "-0", "1", "-1", "0.1", "1e400", "-1e-400", "9223372036854775808", "18446744073709551616",
		"0.10", "1.5E+7", "123456789012345678901234567890.000000000000000000001", "2e-07"}
	verbatimKeys = []string{"data", "templateData", "template_data", "list"}
)

type gen struct {
	r *rand.Rand
	// keys makes one object key.
	keys func(g *gen) string
	// rich puts verbatimKeys among the top-level keys and escapes keys at random (for anyKey only: the round trip
	// tests hold keys byte for byte, and a converted key loses escapes JSON does not require).
	rich bool
}

func newGen(seed uint64, keys func(g *gen) string) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, 0x5eed)), keys: keys}
	g.rich = reflect.ValueOf(keys).Pointer() == reflect.ValueOf(anyKey).Pointer()
	return g
}

// anyKey draws from the vocabularies or random bytes.
func anyKey(g *gen) string {
	switch g.r.IntN(3) {
	case 0:
		return snakeKeys[g.r.IntN(len(snakeKeys))]
	case 1:
		return camelKeys[g.r.IntN(len(camelKeys))]
	}
	var b strings.Builder
	for n := g.r.IntN(7); n > 0; n-- {
		b.WriteString(keyBytes[g.r.IntN(len(keyBytes))])
	}
	return b.String()
}

// wordKey makes snake_case from lowercase words of two letters or more (runs of one-letter words read back as
// acronyms, and the table's plain spellings such as err_code go out as errcode: both are documented exceptions).
func wordKey(g *gen) string {
	for {
		var words []string
		for n := 1 + g.r.IntN(3); n > 0; n-- {
			w := make([]byte, 2+g.r.IntN(5))
			for i := range w {
				w[i] = byte('a' + g.r.IntN(26))
			}
			words = append(words, string(w))
		}
		k := strings.Join(words, "_")
		if _, ok := toProvider[k]; !ok {
			return k
		}
	}
}

// camelWordKey makes camelCase from such words ("appid" gives "appId", which goes out as appid again).
func camelWordKey(g *gen) string { return CamelKey(wordKey(g)) }

// value writes a random value to b.
func (g *gen) value(b *bytes.Buffer, depth int, root bool) {
	n := 4
	if depth < 4 {
		n = 8
	}
	if root {
		g.object(b, depth, true)
		return
	}
	switch g.r.IntN(n) {
	case 0:
		b.WriteString(numbers[g.r.IntN(len(numbers))])
	case 1:
		g.str(b, anyKey(g), true)
	case 2:
		b.WriteString([]string{"true", "false", "null"}[g.r.IntN(3)])
	case 3:
		g.str(b, "snake_case value\twith \"quotes\" \\ and é", true)
	case 4, 5:
		g.object(b, depth+1, false)
	default:
		b.WriteByte('[')
		for i := g.r.IntN(4); i >= 0; i-- {
			g.space(b)
			g.value(b, depth+1, false)
			g.space(b)
			if i > 0 {
				b.WriteByte(',')
			}
		}
		b.WriteByte(']')
	}
}

// object writes an object whose keys do not collide after either conversion (the byte level keeps both keys of a
// collision, the value level keeps one: they are held to agree only without collisions).
func (g *gen) object(b *bytes.Buffer, depth int, root bool) {
	b.WriteByte('{')
	seen := map[string]bool{}
	first := true
	for i := g.r.IntN(6); i >= 0; i-- {
		k := g.keys(g)
		if root && g.rich && g.r.IntN(3) == 0 {
			k = verbatimKeys[g.r.IntN(len(verbatimKeys))]
		}
		id := string(bytes.ToValidUTF8([]byte(k), []byte("\uFFFD"))) // as a decoder reads it
		if seen["r"+id] || seen["c"+CamelKey(id)] || seen["s"+SnakeKey(id)] {
			continue
		}
		seen["r"+id], seen["c"+CamelKey(id)], seen["s"+SnakeKey(id)] = true, true, true
		if !first {
			b.WriteByte(',')
		}
		first = false
		g.space(b)
		g.str(b, k, g.rich)
		g.space(b)
		b.WriteByte(':')
		g.space(b)
		g.value(b, depth, false)
		g.space(b)
	}
	b.WriteByte('}')
}

func (g *gen) space(b *bytes.Buffer) {
	if g.r.IntN(4) == 0 {
		b.WriteString([]string{" ", "\n", "\t", "\r\n  "}[g.r.IntN(4)])
	}
}

// str writes s as a JSON string, escaping what must be and, when random is set, at random what may be.
func (g *gen) str(b *bytes.Buffer, s string, random bool) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, n := rune(c), 1
			if dec := []rune(s[i : i+min(4, len(s)-i)]); len(dec) > 0 && dec[0] != '\uFFFD' {
				r = dec[0]
				n = len(string(r))
			}
			if n > 1 && random && g.r.IntN(3) == 0 {
				if r > 0xFFFF {
					r1, r2 := (r-0x10000)>>10+0xD800, (r-0x10000)&0x3FF+0xDC00
					fmt.Fprintf(b, "\\u%04x\\u%04X", r1, r2)
				} else {
					fmt.Fprintf(b, "\\u%04x", r)
				}
			} else {
				b.WriteString(s[i : i+n])
			}
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || random && g.r.IntN(8) == 0:
			fmt.Fprintf(b, "\\u%04x", c)
		case c == '/' && random && g.r.IntN(2) == 0:
			b.WriteString("\\/")
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
}

// doc makes one document.
func (g *gen) doc() []byte {
	var b bytes.Buffer
	g.space(&b)
	if g.r.IntN(5) == 0 {
		g.value(&b, 0, false)
	} else {
		g.value(&b, 0, true)
	}
	g.space(&b)
	return b.Bytes()
}

// decode reads a document the way a caller of ToCamel would get it: numbers as json.Number.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
