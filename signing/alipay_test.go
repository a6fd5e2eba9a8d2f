package signing

import (
	"crypto"
	"errors"
	"strings"
	"testing"
)

func TestAlipayNotificationVectors(t *testing.T) {
	v := loadVectors(t).AlipayNotifications
	for _, c := range []struct {
		name         string
		n            alipayNotification
		keepSignType bool // the only content that verifies
	}{
		{"trade", v.Trade, false},
		{"servicemarket", v.ServiceMarket, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			pub := vectorPublicKey(t, c.n.PublicKeyFile)
			p := c.n.Params
			sign, signType := p["sign"], p["sign_type"]
			if err := AlipayVerify(pub, []byte(AlipaySignContent(p, c.keepSignType)), sign, signType); err != nil {
				t.Fatalf("content with keepSignType=%v does not verify: %v", c.keepSignType, err)
			}
			if err := AlipayVerify(pub, []byte(AlipaySignContent(p, !c.keepSignType)), sign, signType); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("content with keepSignType=%v verifies too: %v", !c.keepSignType, err)
			}
			if err := AlipayVerifyParams(pub, p); err != nil {
				t.Fatalf("AlipayVerifyParams: %v", err)
			}

			other := v.ServiceMarket.PublicKeyFile
			if c.n.PublicKeyFile == other {
				other = v.Trade.PublicKeyFile
			}
			mutate := func(f func(map[string]string)) map[string]string {
				q := cloneParams(p)
				f(q)
				return q
			}
			anyField := "notify_id"
			bad := []struct {
				name   string
				params map[string]string
				pub    string
				want   error
			}{
				{"field one byte changed", mutate(func(q map[string]string) { q[anyField] = q[anyField][:len(q[anyField])-1] + "9" }), c.n.PublicKeyFile, ErrBadSignature},
				{"field added", mutate(func(q map[string]string) { q["passback_params"] = "x" }), c.n.PublicKeyFile, ErrBadSignature},
				{"field removed", mutate(func(q map[string]string) { delete(q, anyField) }), c.n.PublicKeyFile, ErrBadSignature},
				{"sign changed", mutate(func(q map[string]string) { q["sign"] = flipBase64(q["sign"]) }), c.n.PublicKeyFile, ErrBadSignature},
				{"sign truncated", mutate(func(q map[string]string) { q["sign"] = q["sign"][:len(q["sign"])-4] }), c.n.PublicKeyFile, ErrBadSignature},
				{"sign not base64", mutate(func(q map[string]string) { q["sign"] = "!" + q["sign"] }), c.n.PublicKeyFile, ErrBadSignature},
				{"sign missing", mutate(func(q map[string]string) { delete(q, "sign") }), c.n.PublicKeyFile, ErrMissingSignature},
				{"sign empty", mutate(func(q map[string]string) { q["sign"] = "" }), c.n.PublicKeyFile, ErrMissingSignature},
				{"sign_type RSA (SHA1)", mutate(func(q map[string]string) { q["sign_type"] = "RSA" }), c.n.PublicKeyFile, ErrBadSignature},
				{"sign_type unknown", mutate(func(q map[string]string) { q["sign_type"] = "SM2" }), c.n.PublicKeyFile, ErrUnsupportedSignType},
				{"wrong key", cloneParams(p), other, ErrBadSignature},
				{"wrong key (app)", cloneParams(p), "keys/app-public-key.pem", ErrBadSignature},
			}
			for _, b := range bad {
				err := AlipayVerifyParams(vectorPublicKey(t, b.pub), b.params)
				if !errors.Is(err, b.want) {
					t.Errorf("%s: err = %v, want %v", b.name, err, b.want)
				}
			}
			if err := AlipayVerifyParams(nil, p); !errors.Is(err, ErrBadKey) {
				t.Errorf("nil key: %v", err)
			}
		})
	}
}

// The trade notification verifies with sign_type absent too (it is not in
// the signed string), RSA2 being the default.
func TestAlipayVerifyParamsDefaultRSA2(t *testing.T) {
	n := loadVectors(t).AlipayNotifications.Trade
	p := cloneParams(n.Params)
	delete(p, "sign_type")
	if err := AlipayVerifyParams(vectorPublicKey(t, n.PublicKeyFile), p); err != nil {
		t.Fatal(err)
	}
}

// A '+' turned into a space by a careless form decoder is still accepted:
// the signature bytes are the same.
func TestAlipayVerifySpaceForPlus(t *testing.T) {
	n := loadVectors(t).AlipayNotifications.Trade
	p := cloneParams(n.Params)
	if !strings.Contains(p["sign"], "+") {
		t.Fatal("vector signature has no '+'; the test needs one")
	}
	p["sign"] = strings.ReplaceAll(p["sign"], "+", " ")
	if err := AlipayVerifyParams(vectorPublicKey(t, n.PublicKeyFile), p); err != nil {
		t.Fatal(err)
	}
}

func TestAlipaySignContent(t *testing.T) {
	p := map[string]string{
		"sign": "S", "sign_type": "RSA2", "biz_content": `{"a":1}`, "app_id": "1", "Zed": "z", "empty": "", "method": "alipay.trade.query",
	}
	if got, want := AlipaySignContent(p, false), `Zed=z&app_id=1&biz_content={"a":1}&method=alipay.trade.query`; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if got, want := AlipaySignContent(p, true), `Zed=z&app_id=1&biz_content={"a":1}&method=alipay.trade.query&sign_type=RSA2`; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if AlipaySignContent(nil, true) != "" {
		t.Fatal("empty params")
	}
}

func TestAlipaySignVerifyAppKeys(t *testing.T) {
	priv := vectorPrivateKey(t, "keys/app-private-key.pem")
	pub := vectorPublicKey(t, "keys/app-public-key.pem")
	content := []byte(AlipaySignContent(map[string]string{
		"app_id": "2014072300007148", "method": "alipay.trade.query", "charset": "utf-8",
		"sign_type": "RSA2", "timestamp": "2014-07-24 03:07:50", "version": "1.0",
		"biz_content": `{"out_trade_no":"20150320010101001"}`,
	}, false))
	for _, st := range []string{SignTypeRSA2, SignTypeRSA, ""} {
		sig, err := AlipaySign(priv, content, st)
		if err != nil {
			t.Fatalf("%q: %v", st, err)
		}
		again, _ := AlipaySign(priv, content, st)
		if again != sig {
			t.Fatalf("%q: PKCS#1 v1.5 signatures should be deterministic", st)
		}
		if err := AlipayVerify(pub, content, sig, st); err != nil {
			t.Fatalf("%q: %v", st, err)
		}
		if err := AlipayVerify(pub, append(content, '&'), sig, st); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%q: changed content: %v", st, err)
		}
		if err := AlipayVerify(vectorPublicKey(t, "keys/alipay-public-key.pem"), content, sig, st); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%q: wrong key: %v", st, err)
		}
	}
	rsa2, _ := AlipaySign(priv, content, SignTypeRSA2)
	// PKCS#1 v1.5 is deterministic: the exact signatures, as openssl makes
	// them (printf '%s' "$content" | openssl dgst -sha256|-sha1 -sign
	// keys/app-private-key.pem | base64 -w0).
	if want := `app_id=2014072300007148&biz_content={"out_trade_no":"20150320010101001"}&charset=utf-8&method=alipay.trade.query&timestamp=2014-07-24 03:07:50&version=1.0`; string(content) != want {
		t.Fatalf("content %s\nwant    %s", content, want)
	}
	for st, want := range map[string]string{
		SignTypeRSA2: pinnedAlipayRSA2,
		"":           pinnedAlipayRSA2,
		SignTypeRSA:  "tBBf4JfC+UiLFoftqJByLYTON/uSPAZtW8888S+PPgXmFHNlH0KXkZpKAkayluR6hhTUt6giv7Tf8nopTXa4preQ1p1qPDI3g4+0FjfHjkybYL/Z6IBZXTDpdiTXAPdipdKsyQHfOJrAegLSlsq//7ANbfMs4q02mG0YefUYJZOkcTq2LfdycY/2EOJi26LgsUcnv4UcagM2Tubalu9hAh5qAquFU/TDxAyblhGTzqkwBVLXTwgmJh2fHyWucDdQjXjsZ7DybXU6PSeXIPwJBMkybLnCc4XDZYbP9AvrRL21DwAOK3OQMu5epvPrsSkXJEwDnp4Av3B2hEsA9bMgCg==",
	} {
		if got, _ := AlipaySign(priv, content, st); got != want {
			t.Errorf("sign_type %q: signature\n got %s\nwant %s", st, got, want)
		}
	}
	if err := AlipayVerify(pub, content, rsa2, SignTypeRSA); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("RSA2 signature accepted as RSA: %v", err)
	}
	if _, err := AlipaySign(priv, content, "MD5"); !errors.Is(err, ErrUnsupportedSignType) {
		t.Fatalf("MD5: %v", err)
	}
	if _, err := AlipaySign(nil, content, SignTypeRSA2); !errors.Is(err, ErrBadKey) {
		t.Fatalf("nil key: %v", err)
	}
	// RSA2 is RSASHA256Sign.
	if s, _ := RSASHA256Sign(priv, content); s != rsa2 {
		t.Fatal("RSA2 differs from RSASHA256Sign")
	}
	if err := rsaVerify(pub, crypto.SHA256, content, rsa2); err != nil {
		t.Fatal(err)
	}
}

// pinnedAlipayRSA2 is the RSA2 (SHA256withRSA) signature of the request
// of TestAlipaySignVerifyAppKeys with keys/app-private-key.pem.
const pinnedAlipayRSA2 = "mX1Wct8DNJzfrRf0e/SUw5j/msUskB3zgQKDwk4dfQlQn8xpoQLlqnFcrhrqy1OK0pnfGmOWPUFZ0CBGY629Y4V1B36Dzydtj37UgCH431K4R85vt3UGUQuKrrWqnvgDDBeQm41W261ftZk38d7VPeqdv5wNkub4M6svpzAIeRZzZ5bY0Alo+d7DNQoSGbmJnakDzhSnXFXyP6sMjCecismtHDH8L1B3z7J0/D8c48UIG+k3T9Ub3non0pX9Wq8Sbj32wj+i1c7cnCaB7xEIXRSjOElaIYjWaEsryzm42cS2VyQwCaWecnbunl/fc+x7Q8GZvU0CDNWq05M5PB8Tdw=="
