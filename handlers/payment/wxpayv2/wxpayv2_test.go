package wxpayv2

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// testV2Key is an APIv2 key of the required 32 characters.
const testV2Key = "test-apiv2-key-0123456789abcdefg"

func TestProvisionDefaults(t *testing.T) {
	t.Setenv("UNICLOUD_TEST_WXPAY_KEY", testV2Key+"\n")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	w := &WxpayV2{AppID: "wx1", MchID: "100", Key: "{env.UNICLOUD_TEST_WXPAY_KEY}", Endpoint: "http://127.0.0.1:1/"}
	if err := w.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	if w.client.Key != testV2Key || w.client.Endpoint != "http://127.0.0.1:1" || w.SignType != "MD5" || w.client.CertHTTP != nil {
		t.Errorf("defaults: %+v", w.client)
	}
	p, ok := w.PayProvider(3 * time.Second).(*wxpay.PayV2)
	if !ok || p.Client != w.client || w.client.HTTP.Timeout != 3*time.Second {
		t.Errorf("the payment API: %+v, timeout %v", p, w.client.HTTP.Timeout)
	}
	if err := w.Cleanup(); err != nil {
		t.Error(err)
	}
	if err := (&WxpayV2{}).Cleanup(); err != nil {
		t.Errorf("Cleanup before Provision: %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	var w WxpayV2
	d := caddyfile.NewTestDispenser("wxpay {\n app_id wx1\n mch_id 100\n key k\n sandbox\n sign_type MD5\n}")
	if err := w.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if w.AppID != "wx1" || w.MchID != "100" || w.Key != "k" || !w.Sandbox || w.SignType != "MD5" {
		t.Errorf("%+v", w)
	}
	for in, want := range map[string]string{
		"wxpay {\n serial_no 1\n}":         "serial_no is for WeChat Pay APIv3: add `version v3`",
		"wxpay {\n alipay_public_key x\n}": "alipay_public_key is not a subdirective of unicloud_payment wxpay",
		"wxpay {\n key a\n key b\n}":       "key is given twice",
		"wxpay {\n sandbox yes\n}":         "wrong argument count",
		"wxpay {\n refund_all yes\n}":      `unknown subdirective "refund_all"`,
	} {
		var w WxpayV2
		if err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// TestClientAppID: client_app_id reaches the payment API (h5-weixin from a
// placeholder), and a JSON config with an unknown clientType fails
// Validate.
func TestClientAppID(t *testing.T) {
	var w WxpayV2
	d := caddyfile.NewTestDispenser("wxpay {\n app_id wx1\n mch_id 100\n key " + testV2Key + "\n client_app_id h5-weixin {env.UNICLOUD_TEST_OA_APPID}\n client_app_id app-plus wxapp\n}")
	if err := w.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	t.Setenv("UNICLOUD_TEST_OA_APPID", "wxoa")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := w.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	p := w.PayProvider(time.Second).(*wxpay.PayV2)
	if p.AppIDs.For("h5-weixin", "") != "wxoa" || p.AppIDs.For("app-plus", "") != "wxapp" || p.AppIDs.For("mp-weixin", p.Client.AppID) != "wx1" {
		t.Errorf("appids %v", p.AppIDs)
	}
	bad := &WxpayV2{AppID: "wx1", MchID: "100", Key: testV2Key, ClientAppIDs: map[string]string{"mp-toutiao": "tt1"}}
	if err := bad.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `client_app_id: clientType "mp-toutiao" is not one of mp-weixin, h5-weixin, app-plus, h5, native`) {
		t.Errorf("Validate: %v", err)
	}
	if err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser("wxpay {\n client_app_id web wx2\n}")); err == nil ||
		!strings.Contains(err.Error(), `clientType "web" is not one of`) {
		t.Errorf("client_app_id web: %v", err)
	}
}
