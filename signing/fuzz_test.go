package signing

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzParseRSAPublicKey: any input either fails with ErrBadKey or yields a
// usable RSA public key; nothing panics.
func FuzzParseRSAPublicKey(f *testing.F) {
	for _, k := range []string{
		"keys/app-public-key.pem", "keys/alipay-public-key.pem", "keys/alipay-trade-notify-public-key.pem",
		"keys/alipay-notify-sign-public-key-v2.pem", "keys/wxpay_official_verify_pub.pem", "keys/app-private-key.pem",
	} {
		f.Add(vectorFileText(f, k))
	}
	pub := vectorPublicKey(f, "keys/app-public-key.pem")
	f.Add(base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(pub)))
	f.Add(pemString("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(pub)))
	f.Add("-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n")
	f.Add(`-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----`)
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseRSAPublicKey(in)
		if err != nil {
			if k != nil {
				t.Fatal("key and error")
			}
			return
		}
		if k == nil || k.N == nil || k.N.Sign() <= 0 || k.E <= 1 {
			t.Fatalf("accepted an unusable key")
		}
	})
}

// FuzzDecryptWxpayRefundReqInfo: nothing panics, and whatever decrypts
// encrypts back to the same bytes (ECB and PKCS#7 are deterministic), so no
// ciphertext is accepted with a padding other than its own.
func FuzzDecryptWxpayRefundReqInfo(f *testing.F) {
	v := loadVectors(f).WxpayV2RefundReqInfo
	f.Add(v.ReqInfo, v.Key)
	f.Add(v.ReqInfo[:len(v.ReqInfo)-24], v.Key)
	f.Add(v.ReqInfo, "")
	short, _ := EncryptWxpayRefundReqInfo([]byte("x"), v.Key)
	f.Add(short, v.Key)
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==", "k")
	f.Fuzz(func(t *testing.T, reqInfo, key string) {
		pt, err := DecryptWxpayRefundReqInfo(reqInfo, key)
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext and error")
			}
			return
		}
		ct, err := EncryptWxpayRefundReqInfo(pt, key)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(reqInfo))
		b, _ := base64.StdEncoding.DecodeString(ct)
		if !bytes.Equal(a, b) {
			t.Fatal("accepted a ciphertext that does not re-encrypt to itself")
		}
	})
}

// FuzzAlipayVerifyParams changes one field, the sign and the sign_type of
// the real Alipay notifications: nothing panics, and a notification is
// accepted only when the signed string and the signature bytes are the
// ones Alipay produced.
func FuzzAlipayVerifyParams(f *testing.F) {
	v := loadVectors(f).AlipayNotifications
	type vec struct {
		params map[string]string
		pub    string
		signed string
		sig    []byte
	}
	var vecs [2]vec
	for i, n := range []alipayNotification{v.Trade, v.ServiceMarket} {
		sig, _ := base64.StdEncoding.DecodeString(n.Params["sign"])
		vecs[i] = vec{n.Params, n.PublicKeyFile, AlipaySignContent(n.Params, i == 1), sig}
	}
	pubs := [2]*rsa.PublicKey{vectorPublicKey(f, vecs[0].pub), vectorPublicKey(f, vecs[1].pub)}
	for i, n := range []alipayNotification{v.Trade, v.ServiceMarket} {
		servicemarket := i == 1
		f.Add(servicemarket, "notify_id", n.Params["notify_id"], n.Params["sign"], "RSA2")
		f.Add(servicemarket, "total_amount", "100.00", n.Params["sign"], "RSA2")
		f.Add(servicemarket, "sign_type", "", n.Params["sign"], "")
		f.Add(servicemarket, "x", "y", flipBase64(n.Params["sign"]), "RSA")
		f.Add(servicemarket, "app_id", n.Params["app_id"], strings.ReplaceAll(n.Params["sign"], "+", " "), "RSA2")
	}
	f.Fuzz(func(t *testing.T, servicemarket bool, field, value, sign, signType string) {
		i := 0
		if servicemarket {
			i = 1
		}
		p := cloneParams(vecs[i].params)
		p[field] = value
		p["sign"] = sign
		p["sign_type"] = signType
		err := AlipayVerifyParams(pubs[i], p)
		if err != nil {
			return
		}
		got, decErr := base64.StdEncoding.DecodeString(strings.ReplaceAll(sign, " ", "+"))
		if decErr != nil || !bytes.Equal(got, vecs[i].sig) {
			t.Fatalf("accepted a signature that is not Alipay's")
		}
		if AlipaySignContent(p, false) != vecs[i].signed && AlipaySignContent(p, true) != vecs[i].signed {
			t.Fatalf("accepted a notification whose signed string changed")
		}
	})
}
