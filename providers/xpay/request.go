package xpay

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// BuildRequest makes api's body from the caller's parameters: required ones checked, amounts checked and sent as
// JSON integers (fen to yuan strings where WeChat takes yuan), the uniCloud names renamed, every key converted to
// snake_case (recursively; snake_case kept as is), env set to env (a caller's is ignored), serialised once as
// compact JSON. pay_sig and signature are computed over exactly these bytes.
func BuildRequest(api *API, p pay.Params, env Env) ([]byte, error) {
	for _, r := range api.Required {
		if !present(p, strings.Split(r, "|")) {
			return nil, pay.Missing(strings.ReplaceAll(r, "|", " or "))
		}
	}
	m := make(map[string]any, len(p)+1)
	for k, v := range p {
		m[k] = v
	}
	delete(m, "env")
	if api.BillDate {
		if err := billDate(m); err != nil {
			return nil, err
		}
	}
	for _, name := range api.Amounts {
		if err := integer(m, name, contains(api.Positive, name)); err != nil {
			return nil, err
		}
	}
	for _, name := range api.Yuan {
		if err := yuan(m, name); err != nil {
			return nil, err
		}
	}
	for from, to := range api.Renames {
		v, ok := m[from]
		if !ok {
			continue
		}
		if _, dup := m[casing.CamelKey(to)]; dup {
			return nil, pay.BadRequest("give " + from + " or " + casing.CamelKey(to) + ", not both")
		}
		delete(m, from)
		m[to] = v
	}
	out, _ := casing.ToSnake(m).(map[string]any)
	out["env"] = int(env)
	return marshal(out)
}

func present(p pay.Params, names []string) bool {
	for _, n := range names {
		switch v := p[n].(type) {
		case nil:
		case string:
			if v != "" {
				return true
			}
		default:
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// integer replaces m[name], when present, by a JSON integer: it must be one, or a string of digits.
func integer(m map[string]any, name string, positive bool) error {
	v, ok := m[name]
	if !ok || v == nil {
		delete(m, name)
		return nil
	}
	n, err := pay.ParseFen(v)
	if err != nil {
		return pay.AmountError(name, "an integer", err)
	}
	if positive && n < 1 {
		return pay.BadRequest("parameter must be at least 1: " + name)
	}
	m[name] = json.Number(strconv.FormatInt(n, 10))
	return nil
}

// yuan replaces m[name], an amount in fen, by WeChat's yuan string (1 → "0.01"), by integer arithmetic.
func yuan(m map[string]any, name string) error {
	v, ok := m[name]
	if !ok || v == nil {
		delete(m, name)
		return nil
	}
	n, err := pay.ParseFen(v)
	if err != nil {
		return pay.AmountError(name, "an integer number of fen", err)
	}
	if n < 1 {
		return pay.BadRequest("parameter must be at least 1 fen: " + name)
	}
	m[name] = FenToYuan(n)
	return nil
}

// FenToYuan writes n fen as yuan with two decimals: 1 → "0.01", 12345 → "123.45".
func FenToYuan(n int64) string {
	f := n % 100
	s := strconv.FormatInt(n/100, 10) + "."
	if f < 10 {
		s += "0"
	}
	return s + strconv.FormatInt(f, 10)
}

// YuanToFen reads a yuan amount ("0.01", "12.3", "5") as fen, exactly; ok is false for anything else (negative,
// more than two decimals, exponents, over pay.MaxFen).
func YuanToFen(s string) (int64, bool) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 11 || strings.TrimLeft(whole, "0123456789") != "" {
		return 0, false
	}
	if dot && (frac == "" || len(frac) > 2 || strings.TrimLeft(frac, "0123456789") != "") {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	n := w*100 + f
	return n, n <= pay.MaxFen
}

// billDate sets beginDs and endDs from uniCloud's billDate (yyyyMMdd) where they are absent.
func billDate(m map[string]any) error {
	v, ok := m["billDate"]
	if !ok {
		return nil
	}
	delete(m, "billDate")
	s, _ := v.(string)
	if n, isNum := v.(json.Number); isNum {
		s = n.String()
	}
	if len(s) != 8 || strings.TrimLeft(s, "0123456789") != "" {
		return pay.BadRequest("billDate must be yyyyMMdd")
	}
	for _, k := range []string{"beginDs", "endDs"} {
		if _, set := m[k]; !set {
			m[k] = s
		}
	}
	return nil
}

// marshal is compact JSON with UTF-8 and <>& unescaped; map keys sorted, so the bytes are reproducible.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, pay.BadRequest("the parameters cannot be encoded as JSON")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
