package pay

import (
	"encoding/json"
	"errors"
	"testing"
)

// The caller's side of the amount table: integer fen only.
func TestParseFen(t *testing.T) {
	for in, want := range map[any]int64{
		json.Number("0"): 0, json.Number("1"): 1, json.Number("10"): 10, json.Number("100"): 100,
		json.Number("123456"): 123456, json.Number("999999999"): 999999999, "123456": 123456, "0": 0,
	} {
		got, err := ParseFen(in)
		if err != nil || got != want {
			t.Errorf("%v → %d, %v", in, got, err)
		}
	}
	for _, in := range []any{
		json.Number("1.5"), json.Number("1.0"), json.Number("-1"), json.Number("1e2"), json.Number("0.01"),
		"0.1", "0.10", "1234.56", "1.234", "-1", " 1", "", "1000000000001", 1.5, true, nil, map[string]any{},
		json.Number("99999999999999999999"),
	} {
		if got, err := ParseFen(in); err == nil {
			t.Errorf("%#v accepted as %d", in, got)
		}
	}
}

// Every refusal of a parameter is a bad request naming the parameter.
func TestParamsRefusals(t *testing.T) {
	p := Params{"a": map[string]any{}, "fee": json.Number("1.5"), "zero": json.Number("0")}
	for name, err := range map[string]error{
		"parameter must be a string: a":                   func() error { _, err := p.Str("a"); return err }(),
		"missing required parameter: b":                   func() error { _, err := p.Required("b"); return err }(),
		"missing required parameter: b or c":              func() error { _, _, err := p.OneOf("b", "c"); return err }(),
		"parameter must be an integer number of fen: fee": func() error { _, _, err := p.Fen("fee", false); return err }(),
		"parameter must be at least 1 fen: zero":          func() error { _, err := p.PositiveFen("zero"); return err }(),
	} {
		var pe *Error
		if !errors.As(err, &pe) || pe.Msg != name || !errors.Is(err, ErrBadRequest) || errors.Is(err, ErrNotSupported) {
			t.Errorf("%q: %v", name, err)
		}
	}
	if _, ok, err := p.Fen("absent", false); ok || err != nil {
		t.Errorf("an absent optional amount: %v %v", ok, err)
	}
}
