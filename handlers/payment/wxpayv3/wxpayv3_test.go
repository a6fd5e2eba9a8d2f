package wxpayv3

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

func testKeys(t *testing.T) (keyPEM, pubB64 string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})),
		base64.StdEncoding.EncodeToString(pub)
}

func provision(t *testing.T, w *WxpayV3) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := w.Provision(ctx); err != nil {
		return err
	}
	return w.Validate()
}

func TestProvision(t *testing.T) {
	key, pub := testKeys(t)
	t.Setenv("UNICLOUD_TEST_WXPAY_V3_SERIAL", "3775B6A45ACD588826D15E583A95F5DD00000000\n")
	v3 := func(mod func(*WxpayV3)) *WxpayV3 {
		w := &WxpayV3{
			AppID: "wx1", MchID: "1900007291", PrivateKey: key,
			SerialNo: "{env.UNICLOUD_TEST_WXPAY_V3_SERIAL}", PlatformKeys: []PlatformKey{{Serial: "PUB_KEY_ID_0001", Key: pub}},
			Endpoint: "http://127.0.0.1:1/",
		}
		if mod != nil {
			mod(w)
		}
		return w
	}
	w := v3(nil)
	if err := provision(t, w); err != nil {
		t.Fatal(err)
	}
	c := w.client
	if c.PrivateKey == nil || c.SerialNo != "3775B6A45ACD588826D15E583A95F5DD00000000" ||
		c.Endpoint != "http://127.0.0.1:1" || c.MaxSkew != wxpay.DefaultV3MaxSkew {
		t.Errorf("v3 client: %+v", c)
	}
	if k, ok := c.PlatformKeys.PlatformKey("PUB_KEY_ID_0001", time.Now()); !ok || k == nil {
		t.Error("the configured platform key is not used")
	}
	if p, ok := w.PayProvider(2 * time.Second).(*wxpay.PayV3); !ok || p.Client != c || c.HTTP.Timeout != 2*time.Second {
		t.Errorf("the payment API: %+v", p)
	}
	w2 := v3(func(w *WxpayV3) { w.MaxSkew = caddy.Duration(time.Minute) })
	if err := provision(t, w2); err != nil || w2.client.MaxSkew != time.Minute {
		t.Errorf("max_skew: %v", err)
	}
	// Both providers use the merchant's one store; Cleanup gives it back,
	// so a provider loaded after the last Cleanup has a store of its own.
	if w2.client.PlatformKeys != c.PlatformKeys {
		t.Error("two providers of one merchant have two stores")
	}
	_ = w2.Cleanup()
	_ = w.Cleanup()
	_ = w.Cleanup() // twice is harmless
	w3 := v3(nil)
	if err := provision(t, w3); err != nil {
		t.Fatal(err)
	}
	if w3.client.PlatformKeys == c.PlatformKeys {
		t.Error("the store is kept after the last provider's Cleanup")
	}
	_ = w3.Cleanup()

	for _, tc := range []struct {
		mod  func(*WxpayV3)
		want string
	}{
		{func(w *WxpayV3) { w.SerialNo = "" }, "serial_no are required"},
		{func(w *WxpayV3) { w.PrivateKey = "secret-but-not-a-key" }, "private_key"},
		{func(w *WxpayV3) { w.PlatformKeys = nil }, "configure platform_key or platform_certs auto"},
		{func(w *WxpayV3) { w.PlatformCerts = "auto" }, "needs api_v3_key"},
		{func(w *WxpayV3) { w.PlatformCerts = "manual" }, "platform_certs must be auto"},
		{func(w *WxpayV3) { w.APIv3Key = "short" }, "api_v3_key must be 32 bytes (the APIv3 key set in the merchant platform), not 5"},
		{func(w *WxpayV3) { w.PlatformRoot = "/etc/root.pem" }, "platform_root"},
		{func(w *WxpayV3) { w.PlatformKeys = []PlatformKey{{Serial: "X", Key: "not a key"}} }, "platform_key"},
		{func(w *WxpayV3) {
			w.PlatformKeys = append(w.PlatformKeys, PlatformKey{Serial: "PUB_KEY_ID_0001", Key: pub})
		}, "twice"},
	} {
		w := v3(tc.mod)
		err := provision(t, w)
		_ = w.Cleanup()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret-but-not-a-key") || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("a key appears in the error: %v", err)
		}
	}
}

func TestUnprovisioned(t *testing.T) {
	w := &WxpayV3{AppID: "wx1", MchID: "1", PrivateKey: "k", SerialNo: "3775B6A45ACD588826D15E583A95F5DD00000000",
		PlatformKeys: []PlatformKey{{Serial: "s", Key: "k"}}}
	if err := w.Validate(); err == nil || !strings.Contains(err.Error(), "not provisioned") {
		t.Errorf("Validate before Provision: %v", err)
	}
	if err := w.Cleanup(); err != nil {
		t.Error(err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	var w WxpayV3
	in := "wxpay {\n app_id wx1\n platform_key PUB_KEY_ID_1 pem\n max_skew 2m\n platform_certs auto\n}"
	if err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if w.AppID != "wx1" || len(w.PlatformKeys) != 1 || w.PlatformKeys[0] != (PlatformKey{"PUB_KEY_ID_1", "pem"}) ||
		w.MaxSkew != caddy.Duration(2*time.Minute) || w.PlatformCerts != "auto" {
		t.Errorf("%+v", w)
	}
	for in, want := range map[string]string{
		"wxpay {\n key k\n}":                 "key is not an APIv3 option of unicloud_payment wxpay (it is for version v2)",
		"wxpay {\n sandbox\n}":               "sandbox is not an APIv3 option",
		"wxpay {\n key_type PKCS1\n}":        "key_type is not a subdirective of unicloud_payment wxpay",
		"wxpay {\n platform_key X\n}":        "platform_key takes a serial",
		"wxpay {\n platform_certs manual\n}": `platform_certs must be auto, not "manual"`,
		"wxpay {\n max_skew -1m\n}":          "max_skew",
	} {
		var w WxpayV3
		if err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// TestClientAppID: client_app_id reaches the APIv3 payment API; a repeated
// clientType and an unknown one are refused.
func TestClientAppID(t *testing.T) {
	key, pub := testKeys(t)
	var w WxpayV3
	d := caddyfile.NewTestDispenser("wxpay {\n app_id wx1\n client_app_id h5-weixin wxoa\n client_app_id app-plus wxapp\n}")
	if err := w.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	w.MchID, w.PrivateKey, w.SerialNo = "1900007291", key, "3775B6A45ACD588826D15E583A95F5DD00000000"
	w.PlatformKeys = []PlatformKey{{Serial: "PUB_KEY_ID_0001", Key: pub}}
	if err := provision(t, &w); err != nil {
		t.Fatal(err)
	}
	defer w.Cleanup()
	p := w.PayProvider(time.Second).(*wxpay.PayV3)
	if p.AppIDs.For("h5-weixin", "") != "wxoa" || p.AppIDs.For("app-plus", "") != "wxapp" || p.AppIDs.For("native", p.Client.AppID) != "wx1" {
		t.Errorf("appids %v", p.AppIDs)
	}
	for in, want := range map[string]string{
		"wxpay {\n client_app_id h5-weixin a\n client_app_id h5-weixin b\n}": "client_app_id h5-weixin is given twice",
		"wxpay {\n client_app_id mp-alipay a\n}":                             `clientType "mp-alipay" is not one of mp-weixin, h5-weixin, app-plus, h5, native`,
	} {
		var w WxpayV3
		if err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
