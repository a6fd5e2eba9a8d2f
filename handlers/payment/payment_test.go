package payment

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	_ "github.com/caddy-unicloud/unicloud/handlers/payment/alipay"
	_ "github.com/caddy-unicloud/unicloud/handlers/payment/wxpayv2"
	_ "github.com/caddy-unicloud/unicloud/handlers/payment/wxpayv3"
)

func TestCallName(t *testing.T) {
	for p, want := range map[string]string{
		"/getOrderInfo": "getOrderInfo", "/pay/wxpay/refund/": "refund", "/payment.orderQuery": "orderQuery",
		"/x/downloadFundflow": "downloadFundflow",
	} {
		if got, ok := callName(p); !ok || got != want {
			t.Errorf("%s: %s %v", p, got, ok)
		}
	}
	for _, p := range []string{"/", "/getorderinfo", "/refund/x", "/GetOrderInfo"} {
		if got, ok := callName(p); ok {
			t.Errorf("%s: %s", p, got)
		}
	}
}

// testV2Key is an APIv2 key of the required 32 characters.
const testV2Key = "test-apiv2-key-0123456789abcdefg"

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

// provision loads the handler {"provider": provider} as Caddy does and
// validates it; the context is cancelled (the guest cleaned up) at the
// end of the test.
func provision(t *testing.T, provider map[string]any) (*Payment, error) {
	t.Helper()
	raw, err := json.Marshal(provider)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := &Payment{ProviderRaw: raw}
	if err := h.Provision(ctx); err != nil {
		return h, err
	}
	return h, h.Validate()
}

func TestPaymentDefaults(t *testing.T) {
	h, err := provision(t, map[string]any{"name": "wxpay_v2", "app_id": "wx1", "mch_id": "100", "key": testV2Key})
	if err != nil {
		t.Fatal(err)
	}
	if h.MaxBody != DefaultMaxBody || h.timeout != DefaultTimeout || h.provider.Name() != "wxpay" || h.pay == nil {
		t.Errorf("defaults: %+v", h)
	}
	for _, tc := range []struct {
		provider map[string]any
		want     string
	}{
		{nil, "provider is required"},
		{map[string]any{"name": "unionpay"}, "unicloud.payment.providers.unionpay"},
		{map[string]any{"name": "wxpay_v2", "app_id": "wx1", "mch_id": "100", "key": testV2Key, "alipay_public_key": "x"}, `unknown field "alipay_public_key"`},
		{map[string]any{"name": "alipay", "mch_id": "1"}, `unknown field "mch_id"`},
		{map[string]any{"name": "wxpay_v3", "key": "k"}, `unknown field "key"`},
	} {
		var err error
		if tc.provider == nil {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			err = (&Payment{}).Provision(ctx)
			cancel()
		} else {
			_, err = provision(t, tc.provider)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.provider, err, tc.want)
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
	with := func(base map[string]any) func(kv ...any) map[string]any {
		return func(kv ...any) map[string]any {
			m := maps.Clone(base)
			for i := 0; i < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		}
	}
	wx := with(map[string]any{"name": "wxpay_v2", "app_id": "wx1", "mch_id": "1900000109", "key": testV2Key, "notify_url": "https://example.com/notify/wxpay"})
	wx3 := with(map[string]any{"name": "wxpay_v3", "app_id": "wx1", "mch_id": "1900000109", "private_key": pkcs1,
		"serial_no": "3775B6A45ACD588826D15E583A95F5DD00000000", "api_v3_key": v3Key,
		"platform_keys": []map[string]string{{"serial": "PUB_KEY_ID_0001", "key": pub}}, "endpoint": "http://127.0.0.1:1"})
	ali := with(map[string]any{"name": "alipay", "app_id": "2021", "private_key": pkcs8, "alipay_public_key": pub})
	for name, tc := range map[string]struct {
		provider map[string]any
		want     string
		secret   string
	}{
		"v2 key short": {wx("key", "0123456789abcdef0123456789abcde"),
			"unicloud_payment wxpay: key must be 32 characters (the APIv2 key set in the merchant platform), not 31", "0123456789abcdef"},
		"v2 key long":    {wx("key", testV2Key+"x"), "key must be 32 characters", testV2Key},
		"v2 key missing": {wx("key", ""), "key are required", ""},
		"v2 notify_url relative": {wx("notify_url", "/notify/wxpay"),
			`unicloud_payment wxpay: notify_url must be an absolute http(s) URL such as https://example.com/notify, not "/notify/wxpay"`, ""},
		"v2 notify_url no scheme": {wx("notify_url", "example.com/notify/wxpay"), "notify_url must be an absolute http(s) URL", ""},
		"v2 notify_url ftp":       {wx("notify_url", "ftp://example.com/notify"), "notify_url must be an absolute http(s) URL", ""},
		"v2 endpoint no scheme":   {wx("endpoint", "127.0.0.1:9100"), "endpoint must be an absolute http(s) URL", ""},
		"v2 pfx_password alone":   {wx("pfx_password", "pw-SECRETISH"), "pfx_password needs pfx", "SECRETISH"},
		"v2 pfx missing":          {wx("pfx", "/nonexistent/apiclient_cert.p12"), "pfx", ""},
		"v2 sign_type":            {wx("sign_type", "SHA1"), "sign_type must be MD5 or HMAC-SHA256", ""},
		"v2 sandbox HMAC":         {wx("sign_type", "HMAC-SHA256", "sandbox", true), "MD5 only", ""},
		"v2 ca_cert":              {wx("ca_cert", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"), "unicloud_payment: ca_cert: no PEM certificate found", ""},
		"v2 key empty file": {wx("key", "{file."+empty+"}"),
			"unicloud_payment wxpay: key: {file." + empty + "} resolved to an empty value (missing or empty file?)", ""},
		"v3 api_v3_key short": {wx3("api_v3_key", "abc-SECRETISH"),
			"unicloud_payment wxpay v3: api_v3_key must be 32 bytes (the APIv3 key set in the merchant platform), not 13", "SECRETISH"},
		"v3 api_v3_key 32 runes, more bytes": {wx3("api_v3_key", "密钥"+v3Key[2:]), "api_v3_key must be 32 bytes", ""},
		"v3 serial_no empty":                 {wx3("serial_no", ""), "serial_no are required", ""},
		"v3 serial_no not hex":               {wx3("serial_no", `12" x="y`), "serial_no must be the merchant API certificate's serial number in hex", ""},
		"v3 notify_url relative":             {wx3("notify_url", "notify"), "notify_url must be an absolute http(s) URL", ""},
		"v3 private_key path": {wx3("private_key", "/etc/wxpay/apiclient_key.pem"),
			`unicloud_payment wxpay: private_key: "/etc/wxpay/apiclient_key.pem" looks like a file path: use {file./etc/wxpay/apiclient_key.pem}`, ""},
		"v3 platform_key path": {wx3("platform_keys", []map[string]string{{"serial": "PUB_KEY_ID_0001", "key": "./keys/pub_key.pem"}}),
			"platform_key PUB_KEY_ID_0001: \"./keys/pub_key.pem\" looks like a file path: use {file../keys/pub_key.pem}", ""},
		"v3 private_key empty file": {wx3("private_key", "{file."+empty+"}"),
			"private_key: {file." + empty + "} resolved to an empty value (missing or empty file?)", ""},
		"alipay private_key path": {ali("private_key", "/etc/alipay/key.pem"),
			"unicloud_payment alipay: private_key: \"/etc/alipay/key.pem\" looks like a file path: use {file./etc/alipay/key.pem}", ""},
		"alipay private_key not a key": {ali("private_key", "secret-but-not-a-key"), "unicloud_payment alipay: private_key", "secret-but-not-a-key"},
		"alipay public key missing":    {ali("alipay_public_key", ""), "required", ""},
		"alipay key_type":              {ali("key_type", "PKCS12"), "key_type must be PKCS8 or PKCS1", ""},
		"alipay public key path": {ali("alipay_public_key", "alipay_public_key.pem"),
			"alipay_public_key: \"alipay_public_key.pem\" looks like a file path: use {file.alipay_public_key.pem}", ""},
		"alipay public key missing file": {ali("alipay_public_key", "{file."+filepath.Join(dir, "nope.pem")+"}"),
			"alipay_public_key: {file." + filepath.Join(dir, "nope.pem") + "} resolved to an empty value (missing or empty file?)", ""},
		"alipay keys swapped": {ali("private_key", pub, "alipay_public_key", pkcs8),
			"private_key: signing: private key: this is a public key or a certificate, not a private key", ""},
		"alipay notify_url relative": {ali("notify_url", "/notify/alipay"), "unicloud_payment alipay: notify_url must be an absolute http(s) URL", ""},
		"alipay endpoint":            {ali("endpoint", "openapi.alipay.com/gateway.do"), "endpoint must be an absolute http(s) URL", ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := provision(t, tc.provider)
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
	for name, p := range map[string]map[string]any{
		"v2": wx(), "v3": wx3(), "alipay": ali("notify_url", "http://localhost:8080/notify/alipay"),
	} {
		if _, err := provision(t, p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
