package handlers

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
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

// testV2Key is an APIv2 key of the required 32 characters.
const testV2Key = "test-apiv2-key-0123456789abcdefg"

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
	t.Setenv("UNICLOUD_TEST_WXPAY_KEY", testV2Key+"\n")

	h := &Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: "{env.UNICLOUD_TEST_WXPAY_KEY}"}
	if err := provisionPayment(t, h); err != nil {
		t.Fatal(err)
	}
	if h.wx.Key != testV2Key || h.wx.Endpoint != wxpay.DefaultEndpoint || h.Version != "v2" || h.SignType != "MD5" ||
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
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: testV2Key, SignType: "SHA1"}, "sign_type"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: testV2Key, SignType: "HMAC-SHA256", Sandbox: true}, "MD5 only"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: testV2Key, Pfx: "/nonexistent/apiclient_cert.p12"}, "pfx"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: testV2Key, AlipayPublicKey: pub}, "for provider alipay"},
		{&Payment{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: testV2Key, CACert: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, "ca_cert"},
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

// TestPaymentConfigRules checks that a value that cannot work is refused at
// load, with the subdirective and the rule, and never the secret.
func TestPaymentConfigRules(t *testing.T) {
	pkcs1, pkcs8, pub := testKeys(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const v3Key = "test-apiv3-key-0123456789abcdefg"
	wx := func(mod func(*Payment)) *Payment {
		h := &Payment{Provider: "wxpay", AppID: "wx1", MchID: "1900000109", Key: testV2Key, NotifyURL: "https://example.com/notify/wxpay"}
		mod(h)
		return h
	}
	wx3 := func(mod func(*Payment)) *Payment {
		h := &Payment{Provider: "wxpay", Version: "v3", AppID: "wx1", MchID: "1900000109", PrivateKey: pkcs1,
			SerialNo: "3775B6A45ACD588826D15E583A95F5DD00000000", APIv3Key: v3Key,
			PlatformKeys: []NotifyPlatformKey{{Serial: "PUB_KEY_ID_0001", Key: pub}}, Endpoint: "http://127.0.0.1:1"}
		mod(h)
		return h
	}
	ali := func(mod func(*Payment)) *Payment {
		h := &Payment{Provider: "alipay", AppID: "2021", PrivateKey: pkcs8, AlipayPublicKey: pub}
		mod(h)
		return h
	}
	for name, tc := range map[string]struct {
		h      *Payment
		want   string
		secret string
	}{
		"v2 key short": {wx(func(h *Payment) { h.Key = "0123456789abcdef0123456789abcde" }),
			"unicloud_payment wxpay: key must be 32 characters (the APIv2 key set in the merchant platform), not 31", "0123456789abcdef"},
		"v2 key long": {wx(func(h *Payment) { h.Key = testV2Key + "x" }), "key must be 32 characters", testV2Key},
		"v2 notify_url relative": {wx(func(h *Payment) { h.NotifyURL = "/notify/wxpay" }),
			`unicloud_payment wxpay: notify_url must be an absolute http(s) URL such as https://example.com/notify, not "/notify/wxpay"`, ""},
		"v2 notify_url no scheme": {wx(func(h *Payment) { h.NotifyURL = "example.com/notify/wxpay" }), "notify_url must be an absolute http(s) URL", ""},
		"v2 notify_url ftp":       {wx(func(h *Payment) { h.NotifyURL = "ftp://example.com/notify" }), "notify_url must be an absolute http(s) URL", ""},
		"v2 endpoint no scheme":   {wx(func(h *Payment) { h.Endpoint = "127.0.0.1:9100" }), "endpoint must be an absolute http(s) URL", ""},
		"v2 pfx_password alone":   {wx(func(h *Payment) { h.PfxPassword = "pw-SECRETISH" }), "pfx_password needs pfx", "SECRETISH"},
		"v2 key empty file": {wx(func(h *Payment) { h.Key = "{file." + empty + "}" }),
			"unicloud_payment wxpay: key: {file." + empty + "} resolved to an empty value (missing or empty file?)", ""},
		"v3 api_v3_key short": {wx3(func(h *Payment) { h.APIv3Key = "abc-SECRETISH" }),
			"unicloud_payment wxpay v3: api_v3_key must be 32 bytes (the APIv3 key set in the merchant platform), not 13", "SECRETISH"},
		"v3 api_v3_key 32 runes, more bytes": {wx3(func(h *Payment) { h.APIv3Key = "密钥" + v3Key[2:] }), "api_v3_key must be 32 bytes", ""},
		"v3 serial_no empty":                 {wx3(func(h *Payment) { h.SerialNo = "" }), "serial_no are required", ""},
		"v3 serial_no not hex":               {wx3(func(h *Payment) { h.SerialNo = `12" x="y` }), "serial_no must be the merchant API certificate's serial number in hex", ""},
		"v3 notify_url relative":             {wx3(func(h *Payment) { h.NotifyURL = "notify" }), "notify_url must be an absolute http(s) URL", ""},
		"v3 private_key path": {wx3(func(h *Payment) { h.PrivateKey = "/etc/wxpay/apiclient_key.pem" }),
			`unicloud_payment wxpay: private_key: "/etc/wxpay/apiclient_key.pem" looks like a file path: use {file./etc/wxpay/apiclient_key.pem}`, ""},
		"v3 platform_key path": {wx3(func(h *Payment) { h.PlatformKeys[0].Key = "./keys/pub_key.pem" }),
			"platform_key PUB_KEY_ID_0001: \"./keys/pub_key.pem\" looks like a file path: use {file../keys/pub_key.pem}", ""},
		"v3 private_key empty file": {wx3(func(h *Payment) { h.PrivateKey = "{file." + empty + "}" }),
			"private_key: {file." + empty + "} resolved to an empty value (missing or empty file?)", ""},
		"alipay private_key path": {ali(func(h *Payment) { h.PrivateKey = "/etc/alipay/key.pem" }),
			"unicloud_payment alipay: private_key: \"/etc/alipay/key.pem\" looks like a file path: use {file./etc/alipay/key.pem}", ""},
		"alipay public key path": {ali(func(h *Payment) { h.AlipayPublicKey = "alipay_public_key.pem" }),
			"alipay_public_key: \"alipay_public_key.pem\" looks like a file path: use {file.alipay_public_key.pem}", ""},
		"alipay public key missing file": {ali(func(h *Payment) { h.AlipayPublicKey = "{file." + filepath.Join(dir, "nope.pem") + "}" }),
			"alipay_public_key: {file." + filepath.Join(dir, "nope.pem") + "} resolved to an empty value (missing or empty file?)", ""},
		"alipay keys swapped": {ali(func(h *Payment) { h.PrivateKey, h.AlipayPublicKey = pub, pkcs8 }),
			"private_key: signing: private key: this is a public key or a certificate, not a private key", ""},
		"alipay notify_url relative": {ali(func(h *Payment) { h.NotifyURL = "/notify/alipay" }), "unicloud_payment alipay: notify_url must be an absolute http(s) URL", ""},
		"alipay endpoint":            {ali(func(h *Payment) { h.Endpoint = "openapi.alipay.com/gateway.do" }), "endpoint must be an absolute http(s) URL", ""},
	} {
		t.Run(name, func(t *testing.T) {
			err := provisionPayment(t, tc.h)
			_ = tc.h.Cleanup()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v\nwant %q", err, tc.want)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("the secret appears in the error: %v", err)
			}
			if strings.Contains(err.Error(), pkcs8[40:60]) || strings.Contains(err.Error(), pub[40:60]) {
				t.Fatalf("a key appears in the error: %v", err)
			}
		})
	}
	// The rules accept what works.
	for name, h := range map[string]*Payment{
		"v2": wx(func(*Payment) {}), "v3": wx3(func(*Payment) {}), "alipay": ali(func(h *Payment) { h.NotifyURL = "http://localhost:8080/notify/alipay" }),
	} {
		if err := provisionPayment(t, h); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		_ = h.Cleanup()
	}
}
