package weixin

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// marshalParams is byte-identical to encoding/json: WeChat receives what it
// received before, whatever the caller sent.
func TestMarshalParamsMatchesEncodingJSON(t *testing.T) {
	var every []byte
	for b := 0; b < 256; b++ {
		every = append(every, byte(b))
	}
	values := []any{
		map[string]any{},
		map[string]any{"path": "pages/index/index", "query": "a=1&b=<2>", "is_expire": false, "n": json.Number("12"), "f": json.Number("-1.5e+3")},
		map[string]any{"z": nil, "a": []any{"x", json.Number("0"), true, nil, map[string]any{"k": []any{}}}, "m": map[string]any{"b": 1, "a": int64(-2)}},
		map[string]any{"every byte": string(every), "line sep": "a\u2028b\u2029c", "bad utf8": "\xff\xfe\xc3", "emoji": "😀 中文", "ctl": "\b\f\n\r\t\x00\x1f\x7f"},
		map[string]any{"<key>&": "v", "": "empty key", "esc\"aped": `back\slash`},
		map[string]any{"float": 1.25, "strs": []string{"a", "<b>"}, "strmap": map[string]string{"k": "v"}},
		map[string]any{"nil map": map[string]any(nil), "nil slice": []any(nil)},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		b := make([]byte, rng.IntN(24))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		values = append(values, map[string]any{string(b): string(b), "n": []any{string(b)}})
	}
	for i, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalParams(v.(map[string]any))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("value %d: got %s (%v), want %s", i, got, err, want)
		}
	}
}

func TestMarshalParamsNumbers(t *testing.T) {
	for _, n := range []string{"0", "-0", "12", "-1.5", "1e5", "1E+5", "2.5e-3", "", "-", "01", "1.", ".5", "1e", "1e+", "abc", "0x10", "1.5.5", "+1"} {
		want, wantErr := json.Marshal(map[string]any{"n": json.Number(n)})
		got, err := marshalParams(map[string]any{"n": json.Number(n)})
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("json.Number(%q): got %s %v, want %s %v", n, got, err, want, wantErr)
		}
	}
}

func BenchmarkMarshalParams(b *testing.B) {
	p := map[string]any{"path": "pages/index/index", "query": "a=1", "is_expire": false, "expire_type": json.Number("1"), "expire_interval": json.Number("30")}
	b.Run("marshalParams", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = marshalParams(p)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal(p)
		}
	})
}
