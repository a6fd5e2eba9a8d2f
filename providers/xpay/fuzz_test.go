package xpay

import (
	"encoding/json"
	"strconv"
	"testing"
)

// FuzzYuanToFen: what is accepted is exactly a yuan amount, and FenToYuan writes it back to the same value.
func FuzzYuanToFen(f *testing.F) {
	for _, s := range []string{"0.01", "12.34", "5", "0.1", "1.005", "-1", "1e2", "", "99999999999.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, ok := YuanToFen(s)
		if !ok {
			return
		}
		if fen < 0 {
			t.Fatalf("YuanToFen(%q) = %d", s, fen)
		}
		back, ok := YuanToFen(FenToYuan(fen))
		if !ok || back != fen {
			t.Fatalf("YuanToFen(%q) = %d, but FenToYuan gives %q", s, fen, FenToYuan(fen))
		}
		if f, err := strconv.ParseFloat(s, 64); err != nil || int64(f*100+0.5) != fen && fen < 1<<40 {
			t.Fatalf("YuanToFen(%q) = %d, ParseFloat %v %v", s, fen, f, err)
		}
	})
}

// FuzzMapAnswer: an answer is either refused or a camelCase object without errcode/errmsg; an errcode ≠ 0 is
// always an *Error carrying it.
func FuzzMapAnswer(f *testing.F) {
	for _, s := range []string{`{"errcode":0,"errmsg":"ok","balance":1}`, `{"errcode":268490003,"errmsg":"x"}`,
		`{"errcode":0,"withdraw_amount":"0.01"}`, `[1]`, `{"errcode":"1"}`, `{"errcode":1.5}`} {
		f.Add([]byte(s))
	}
	api := APIs["queryWithdrawOrder"]
	f.Fuzz(func(t *testing.T, raw []byte) {
		ans, err := MapAnswer(api, raw)
		var m map[string]any
		isObj := json.Unmarshal(raw, &m) == nil && m != nil
		if err == nil {
			if !isObj {
				t.Fatalf("accepted a non-object %q", raw)
			}
			if _, ok := ans["errCode"]; ok {
				t.Fatalf("errCode left in %v", ans)
			}
			return
		}
		if xe, ok := err.(*Error); ok && (xe.Code == 0 || !isObj) {
			t.Fatalf("*Error %v from %q", xe, raw)
		}
	})
}
