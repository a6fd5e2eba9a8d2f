package handlers

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// The caller's side of the amount table: integer fen only.
func TestParseFen(t *testing.T) {
	for in, want := range map[any]int64{
		json.Number("0"): 0, json.Number("1"): 1, json.Number("10"): 10, json.Number("100"): 100,
		json.Number("123456"): 123456, json.Number("999999999"): 999999999, "123456": 123456, "0": 0,
	} {
		got, err := parseFen(in)
		if err != nil || got != want {
			t.Errorf("%v → %d, %v", in, got, err)
		}
	}
	for _, in := range []any{
		json.Number("1.5"), json.Number("1.0"), json.Number("-1"), json.Number("1e2"), json.Number("0.01"),
		"0.1", "0.10", "1234.56", "1.234", "-1", " 1", "", "1000000000001", 1.5, true, nil, map[string]any{},
		json.Number("99999999999999999999"),
	} {
		if got, err := parseFen(in); err == nil {
			t.Errorf("%#v accepted as %d", in, got)
		}
	}
}

func TestPaymentCallName(t *testing.T) {
	for p, want := range map[string]string{
		"/getOrderInfo": "getOrderInfo", "/pay/wxpay/refund/": "refund", "/payment.orderQuery": "orderQuery",
		"/x/downloadFundflow": "downloadFundflow",
	} {
		if got, ok := paymentCallName(p); !ok || got != want {
			t.Errorf("%s: %s %v", p, got, ok)
		}
	}
	for _, p := range []string{"/", "/getorderinfo", "/refund/x", "/GetOrderInfo"} {
		if got, ok := paymentCallName(p); ok {
			t.Errorf("%s: %s", p, got)
		}
	}
}

func provisionPayment(t *testing.T, h *Payment) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		return err
	}
	return h.Validate()
}

func testKeys(t *testing.T) (pkcs1PEM, pkcs8B64, pubB64 string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der8, _ := x509.MarshalPKCS8PrivateKey(k)
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})),
		base64.StdEncoding.EncodeToString(der8), base64.StdEncoding.EncodeToString(pub)
}

func TestPaymentProvision(t *testing.T) {
	pkcs1, pkcs8, pub := testKeys(t)
	t.Setenv("UNICLOUD_TEST_WXPAY_KEY", "key-from-the-environment\n")

	h := &Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: "{env.UNICLOUD_TEST_WXPAY_KEY}"}
	if err := provisionPayment(t, h); err != nil {
		t.Fatal(err)
	}
	if h.wx.Key != "key-from-the-environment" || h.wx.Endpoint != wxpay.DefaultEndpoint || h.Version != "v2" || h.SignType != "MD5" ||
		h.wx.CertHTTP != nil || h.MaxBody != DefaultPaymentMaxBody || h.timeout != DefaultPaymentTimeout {
		t.Errorf("wxpay defaults: %+v", h)
	}

	for _, tc := range []struct {
		key, keyType string
		sandbox      bool
		endpoint     string
	}{
		{pkcs1, "PKCS1", false, alipay.DefaultEndpoint},
		{pkcs8, "", true, alipay.SandboxEndpoint},
		{pkcs1, "PKCS8", false, alipay.DefaultEndpoint}, // a mismatch is read anyway
	} {
		h := &Payment{Provider: "alipay", AppID: "2021", PrivateKey: tc.key, KeyType: tc.keyType, AlipayPublicKey: pub, Sandbox: tc.sandbox}
		if err := provisionPayment(t, h); err != nil {
			t.Fatal(err)
		}
		if h.ali.Endpoint != tc.endpoint || h.ali.PrivateKey == nil || h.ali.AlipayPublicKey == nil {
			t.Errorf("alipay: %+v", h.ali)
		}
	}

	for _, tc := range []struct {
		h    *Payment
		want string
	}{
		{&Payment{Provider: "wxpay", Version: "v3", AppID: "wx1", MchID: "100", Key: "k"}, "private_key and serial_no are required"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100"}, "key are required"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: "k", SignType: "SHA1"}, "sign_type"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: "k", SignType: "HMAC-SHA256", Sandbox: true}, "MD5 only"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: "k", Pfx: "/nonexistent/apiclient_cert.p12"}, "pfx"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: "k", AlipayPublicKey: pub}, "for provider alipay"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: "k", CACert: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, "ca_cert"},
		{&Payment{Provider: "alipay", AppID: "2021", PrivateKey: "secret-but-not-a-key", AlipayPublicKey: pub}, "private_key"},
		{&Payment{Provider: "alipay", AppID: "2021", PrivateKey: pkcs8}, "required"},
		{&Payment{Provider: "alipay", AppID: "2021", PrivateKey: pkcs8, AlipayPublicKey: pub, KeyType: "PKCS12"}, "key_type"},
		{&Payment{Provider: "alipay", AppID: "2021", PrivateKey: pkcs8, AlipayPublicKey: pub, MchID: "1"}, "for provider wxpay"},
		{&Payment{Provider: "unionpay"}, "unknown provider"},
		{&Payment{}, "provider is required"},
	} {
		err := provisionPayment(t, tc.h)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.h, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret-but-not-a-key") {
			t.Errorf("the key appears in the error: %v", err)
		}
	}
}
