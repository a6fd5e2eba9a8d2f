package pay

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
)

// Params are a caller's parameters: camelCase names (snake_case ones are
// converted when read: out_trade_no is outTradeNo), numbers as
// json.Number.
type Params map[string]any

// MaxFen bounds an amount (10^12 fen: far above any provider's limit, far
// below overflow).
const MaxFen = 1_000_000_000_000

// NewParams converts a caller's decoded JSON object to Params (camelCase
// names).
func NewParams(m map[string]any) Params {
	p := make(Params, len(m))
	for k, v := range m {
		p[casing.CamelKey(k)] = v
	}
	return p
}

// Missing is the error for a required parameter that is absent.
func Missing(name string) error {
	return BadRequest("missing required parameter: " + name)
}

// Str returns a string parameter ("" when absent). Numbers are accepted
// as their text (outTradeNo: 20150320010101001).
func (p Params) Str(name string) (string, error) {
	switch v := p[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", BadRequest("parameter must be a string: " + name)
}

// Required returns a string parameter that must be present and not empty.
func (p Params) Required(name string) (string, error) {
	s, err := p.Str(name)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", Missing(name)
	}
	return s, nil
}

// OneOf returns the first present parameter of names (its name and
// value), or an error naming them all.
func (p Params) OneOf(names ...string) (string, string, error) {
	for _, n := range names {
		s, err := p.Str(n)
		if err != nil {
			return "", "", err
		}
		if s != "" {
			return n, s, nil
		}
	}
	return "", "", Missing(strings.Join(names, " or "))
}

// Fen reads an amount in integer fen: a JSON integer, or a string of
// digits. Fractions ("1.5", 1.0), exponents, negatives and anything over
// MaxFen are refused: amounts are never guessed. ok is false when the
// parameter is absent and not required.
func (p Params) Fen(name string, required bool) (n int64, ok bool, err error) {
	v, present := p[name]
	if !present || v == nil {
		if required {
			return 0, false, Missing(name)
		}
		return 0, false, nil
	}
	n, err = ParseFen(v)
	if err != nil {
		return 0, false, AmountError(name, "an integer number of fen", err)
	}
	return n, true, nil
}

// PositiveFen is a required Fen of at least 1 fen.
func (p Params) PositiveFen(name string) (int64, error) {
	n, _, err := p.Fen(name, true)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, BadRequest("parameter must be at least 1 fen: " + name)
	}
	return n, nil
}

// errFenTooLarge: an integer number of fen over MaxFen.
var errFenTooLarge = errors.New("over MaxFen")

// AmountError is the caller's error for parameter name, which ParseFen
// refused with err: over MaxFen, or not what (an integer number of fen).
func AmountError(name, what string, err error) error {
	if errors.Is(err, errFenTooLarge) {
		return BadRequest("parameter must be at most " + strconv.Itoa(MaxFen) + ": " + name)
	}
	return BadRequest("parameter must be " + what + ": " + name)
}

// ParseFen reads a JSON integer or a string of digits as fen.
func ParseFen(v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, errors.New("not a number")
	}
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not an integer")
	}
	if t := strings.TrimLeft(s, "0"); len(t) > len(strconv.Itoa(MaxFen)) {
		return 0, errFenTooLarge
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxFen {
		return 0, errFenTooLarge
	}
	return n, nil
}

// Text is a parameter value as a provider's text: strings as they are,
// numbers as written, booleans as true/false, objects and arrays as JSON
// with snake_case keys (sceneInfo.h5Info.wapUrl → scene_info's
// h5_info.wap_url).
func Text(name string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case map[string]any, []any:
		b, err := json.Marshal(casing.ToSnake(x))
		if err != nil {
			return "", BadRequest("parameter cannot be encoded: " + name)
		}
		return string(b), nil
	}
	return "", BadRequest("parameter has an unsupported type: " + name)
}
