package xpay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

func n(s string) json.Number { return json.Number(s) }

func TestGetOrderInfoValidation(t *testing.T) {
	c := &Client{Config: Config{AppID: "wxapp", OfferID: "1450019686", AppKey: "ak"}, Sessions: keys{"wxapp/o1": "sk"}}
	goods := func(kv ...any) pay.Params {
		p := pay.Params{"openid": "o1", "outTradeNo": "o-1", "productId": "p1", "goodsPrice": n("100")}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(p, kv[i].(string))
			} else {
				p[kv[i].(string)] = kv[i+1]
			}
		}
		return p
	}
	bad := []struct {
		name string
		p    pay.Params
		msg  string
	}{
		{"no openid", goods("openid", nil), "openid"},
		{"no outTradeNo", goods("outTradeNo", nil), "outTradeNo"},
		{"outTradeNo too long", goods("outTradeNo", strings.Repeat("a", 33)), "outTradeNo"},
		{"outTradeNo charset", goods("outTradeNo", "a b"), "outTradeNo"},
		{"outTradeNo unicode", goods("outTradeNo", "订单"), "outTradeNo"},
		{"bad mode", goods("mode", "coins"), "mode"},
		{"no productId", goods("productId", nil), "productId"},
		{"no goodsPrice", goods("goodsPrice", nil), "goodsPrice"},
		{"fraction", goods("goodsPrice", n("1.5")), "goodsPrice"},
		{"negative", goods("goodsPrice", n("-1")), "goodsPrice"},
		{"zero", goods("goodsPrice", n("0")), "goodsPrice"},
		{"yuan string", goods("goodsPrice", "1.00"), "goodsPrice"},
		{"float literal", goods("goodsPrice", n("1.0")), "goodsPrice"},
		{"quantity zero", goods("buyQuantity", n("0")), "buyQuantity"},
		{"coin without quantity", goods("mode", ModeCoin), "buyQuantity"},
		{"attach number-like object", goods("attach", map[string]any{}), "attach"},
	}
	for _, tc := range bad {
		_, err := c.GetOrderInfo(context.Background(), tc.p)
		if !errors.Is(err, pay.ErrBadRequest) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want a bad request naming %s", tc.name, err, tc.msg)
		}
	}

	_, err := c.GetOrderInfo(context.Background(), goods("openid", "o2"))
	if !errors.Is(err, ErrSessionKeyNotFound) {
		t.Errorf("unknown openid: err = %v, want ErrSessionKeyNotFound", err)
	}
}

func TestSignData(t *testing.T) {
	cases := []struct {
		name string
		p    pay.Params
		env  Env
		want string
	}{
		{"goods defaults, no attach", pay.Params{"outTradeNo": "o1", "productId": "p", "goodsPrice": "100"}, 0,
			`{"offerId":"1450019686","buyQuantity":1,"env":0,"currencyType":"CNY","productId":"p","goodsPrice":100,"outTradeNo":"o1"}`},
		{"coin sandbox", pay.Params{"mode": ModeCoin, "outTradeNo": "o1", "buyQuantity": n("60"), "attach": "<a&b>"}, 1,
			`{"offerId":"1450019686","buyQuantity":60,"env":1,"currencyType":"CNY","outTradeNo":"o1","attach":"<a&b>"}`},
		{"quotes escaped", pay.Params{"outTradeNo": "o1", "productId": `p"1`, "goodsPrice": n("1"), "attach": "中\n"}, 0,
			`{"offerId":"1450019686","buyQuantity":1,"env":0,"currencyType":"CNY","productId":"p\"1","goodsPrice":1,"outTradeNo":"o1","attach":"中\n"}`},
	}
	for _, tc := range cases {
		o, err := ParseOrder(tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := o.SignData("1450019686", tc.env)
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s: not JSON", tc.name)
		}
	}
}

func TestPaySigUsesTheKeyOfTheEnv(t *testing.T) {
	p := pay.Params{"openid": "o1", "outTradeNo": "o1", "productId": "p", "goodsPrice": "100"}
	sessions := keys{"wxapp/o1": "sk"}
	prod := &Client{Config: Config{AppID: "wxapp", OfferID: "1", AppKey: "prod", SandboxAppKey: "sand"}, Sessions: sessions}
	sand := &Client{Config: Config{AppID: "wxapp", OfferID: "1", Env: EnvSandbox, AppKey: "prod", SandboxAppKey: "sand"}, Sessions: sessions}
	for _, c := range []*Client{prod, sand} {
		ans, err := c.GetOrderInfo(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		oi := ans["orderInfo"].(*OrderInfo)
		key := map[Env]string{0: "prod", 1: "sand"}[c.Env]
		if oi.PaySig != PaySig(key, ClientURI, []byte(oi.SignData)) || oi.Signature != Signature("sk", []byte(oi.SignData)) {
			t.Errorf("env %d: signed with the wrong key", c.Env)
		}
		if !strings.Contains(oi.SignData, `"env":`+string(rune('0'+c.Env))) {
			t.Errorf("env %d: signData %s", c.Env, oi.SignData)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c  Config
		ok bool
	}{
		{Config{OfferID: "1", AppKey: "k"}, true},
		{Config{OfferID: "1", SandboxAppKey: "k"}, false},
		{Config{OfferID: "1", Env: EnvSandbox, SandboxAppKey: "k"}, true},
		{Config{OfferID: "1", Env: EnvSandbox, AppKey: "k"}, false},
		{Config{AppKey: "k"}, false},
		{Config{OfferID: "1", Env: 2, AppKey: "k"}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v", tc.c, err)
		}
	}
}

// signData strings are JSON with only what JSON requires escaped: the
// same as encoding/json without HTML escaping, except that U+2028 and
// U+2029 stay raw UTF-8 (encoding/json escapes them for JavaScript), and
// invalid UTF-8 becomes a raw U+FFFD (encoding/json writes \ufffd).
func TestAppendStringUnescaped(t *testing.T) {
	for _, s := range []string{
		"", "plain", `q"uote`, `back\slash`, "tab\tnl\nret\r", "\x00\x01\x1f\x7f", "<a>&amp;", "中文 😀",
		"\u2028x\u2029", "bad\xffutf8\xc3", "\\u2028 as text",
	} {
		got := string(appendString(nil, s))
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(buf.String(), "\n")
		want = strings.NewReplacer(`\\u2028`, `\\u2028`, `\u2028`, "\u2028", `\u2029`, "\u2029", `\ufffd`, "\uFFFD").Replace(want)
		if got != want {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != strings.ToValidUTF8(s, "\uFFFD") {
			t.Errorf("%q: %s reads back as %q, %v", s, got, back, err)
		}
	}
}
