package handlers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
)

// payParams are a caller's parameters, keys in camelCase (snake_case keys
// are accepted and converted: out_trade_no is outTradeNo), numbers as
// json.Number.
type payParams map[string]any

// maxFen bounds an amount (10^12 fen: far above any provider's limit, far
// below overflow).
const maxFen = 1_000_000_000_000

// readPayParams reads the JSON object of a call (an empty body is no
// parameters), and the client type header.
func readPayParams(r *http.Request, limit int64) (payParams, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		return nil, bodyError(err)
	}
	m, err := decodeObject(b)
	if err != nil {
		return nil, err
	}
	p := make(payParams, len(m))
	for k, v := range m {
		p[casing.CamelKey(k)] = v
	}
	if _, ok := p["clientType"]; !ok {
		if ct := strings.TrimSpace(r.Header.Get("X-Unicloud-Client-Type")); ct != "" {
			p["clientType"] = ct
		}
	}
	return p, nil
}

func missing(name string) error {
	return newError(http.StatusBadRequest, ErrBadRequest, "missing required parameter: "+name)
}

// str returns a string parameter ("" when absent). Numbers are accepted
// as their text (outTradeNo: 20150320010101001).
func (p payParams) str(name string) (string, error) {
	switch v := p[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a string: "+name)
}

// required returns a string parameter that must be present and not empty.
func (p payParams) required(name string) (string, error) {
	s, err := p.str(name)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", missing(name)
	}
	return s, nil
}

// oneOf returns the first present parameter of names (its name and value),
// or an error naming them all.
func (p payParams) oneOf(names ...string) (string, string, error) {
	for _, n := range names {
		s, err := p.str(n)
		if err != nil {
			return "", "", err
		}
		if s != "" {
			return n, s, nil
		}
	}
	return "", "", missing(strings.Join(names, " or "))
}

// fen reads an amount in integer fen: a JSON integer, or a string of
// digits. Fractions ("1.5", 1.0), exponents, negatives and anything over
// maxFen are refused: amounts are never guessed.
func (p payParams) fen(name string, required bool) (int64, bool, error) {
	v, ok := p[name]
	if !ok || v == nil {
		if required {
			return 0, false, missing(name)
		}
		return 0, false, nil
	}
	n, err := parseFen(v)
	if err != nil {
		return 0, false, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be an integer number of fen: "+name)
	}
	return n, true, nil
}

// positiveFen is fen with at least 1 fen.
func (p payParams) positiveFen(name string) (int64, error) {
	n, _, err := p.fen(name, true)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be at least 1 fen: "+name)
	}
	return n, nil
}

// parseFen reads a JSON integer or a string of digits as fen.
func parseFen(v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, fmt.Errorf("not a number")
	}
	if s == "" || len(s) > 13 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not an integer")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxFen {
		return 0, fmt.Errorf("out of range")
	}
	return n, nil
}

// text is a parameter value as the provider's text: strings as they are,
// numbers as written, booleans as true/false, objects and arrays as JSON
// with snake_case keys (sceneInfo.h5Info.wapUrl → scene_info's
// h5_info.wap_url).
func text(name string, v any) (string, error) {
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
			return "", newError(http.StatusBadRequest, ErrBadRequest, "parameter cannot be encoded: "+name)
		}
		return string(b), nil
	}
	return "", newError(http.StatusBadRequest, ErrBadRequest, "parameter has an unsupported type: "+name)
}
