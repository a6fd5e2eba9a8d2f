package emulator

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The appids of a merchant: the emulator's test apps (a mini-program, an
// official account, an open-platform app).
const (
	appsOA      = "wx7c3e1a9b5d2f4e60"
	appsOpenApp = "wx5e1d2c3b4a596870"
	appsUnbound = "wx0000000000000bad"
)

func appsConfig() Config {
	return Config{
		WeixinApps:             map[string]string{payAppID: "mini-secret"},
		WeixinOfficialAccounts: map[string]string{appsOA: "oa-secret"},
		WeixinOpenApps:         map[string]string{appsOpenApp: "app-secret"},
	}
}

// TestWxpayV2AppIDs: v2 orders (JSAPI for the mini-program and the
// official account, APP for the open-platform app) are taken for every
// appid of the emulator, answered and notified with that appid; an appid
// that is none of them is refused as WeChat Pay refuses it (return_code
// FAIL, appid和mch_id不匹配), for orders and queries alike.
func TestWxpayV2AppIDs(t *testing.T) {
	cfg := appsConfig()
	cfg.WxpayMerchants = []WxpayMerchant{{MchID: payMchID, Key: payKey}}
	emu := New(cfg)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	sink := newNotifySink(t, "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>")
	c := payClient(srv.URL, srv.Client(), "")
	ctx := context.Background()
	order := func(no, appid, tradeType string) map[string]string {
		o := map[string]string{"appid": appid, "body": "b", "out_trade_no": no, "total_fee": "1", "spbill_create_ip": "127.0.0.1",
			"notify_url": sink.srv.URL, "trade_type": tradeType}
		if tradeType == "JSAPI" {
			o["openid"] = "oPayer"
		}
		return o
	}
	for i, tc := range []struct{ appid, tradeType string }{{payAppID, "JSAPI"}, {appsOA, "JSAPI"}, {appsOpenApp, "APP"}} {
		no := "A-" + string(rune('1'+i))
		ans, err := c.Call(ctx, v2UnifiedOrder, order(no, tc.appid, tc.tradeType))
		if err != nil || ans["appid"] != tc.appid || ans["prepay_id"] == "" {
			t.Fatalf("%s %s: %v %v", tc.appid, tc.tradeType, ans, err)
		}
		if q, err := c.Call(ctx, v2OrderQuery, map[string]string{"appid": tc.appid, "out_trade_no": no}); err != nil || q["appid"] != tc.appid {
			t.Errorf("orderquery %s: %v %v", tc.appid, q, err)
		}
	}
	if _, err := emu.PayWxpayOrder(ctx, payMchID, "A-2"); err != nil {
		t.Fatal(err)
	}
	if p := v2Notice(t, sink.wait(t), payKey); p["appid"] != appsOA || p["out_trade_no"] != "A-2" {
		t.Errorf("notification %v", p)
	}
	var be *v2BizError
	if _, err := c.Call(ctx, v2UnifiedOrder, order("A-9", appsUnbound, "JSAPI")); !errors.As(err, &be) || be.Code != "FAIL" || be.Msg != "appid和mch_id不匹配" {
		t.Errorf("an unbound appid's order: %v", err)
	}
	if _, err := c.Call(ctx, v2OrderQuery, map[string]string{"appid": appsUnbound, "out_trade_no": "A-1"}); !errors.As(err, &be) || be.Msg != "appid和mch_id不匹配" {
		t.Errorf("an unbound appid's query: %v", err)
	}
}

// TestWxpayV3AppIDs: APIv3 JSAPI orders are taken for the official
// account's appid as for the mini-program's, and refused for an appid of
// none of the emulator's apps (400 PARAM_ERROR appid和mch_id不匹配).
func TestWxpayV3AppIDs(t *testing.T) {
	v3Keys(t)
	cfg := appsConfig()
	cfg.WxpayV3Merchants = []WxpayV3Merchant{{MchID: v3MchID2, APIv3Key: v3Key, MerchantKey: pemPublic(&v3TestKeys.merchant.PublicKey),
		PublicKeyID: "PUB_KEY_ID_0119000072922025010100000000000001", PlatformPrivateKey: pemPrivate(v3TestKeys.pubMode)}}
	emu := New(cfg)
	if err := emu.validateWxpayV3(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c := newV3Client(srv, v3MchID2, platformKeys(t, emu, v3MchID2))
	ctx := context.Background()
	order := func(no, appid string) map[string]any {
		return map[string]any{"appid": appid, "description": "b", "out_trade_no": no, "notify_url": "https://example.com/n",
			"amount": map[string]any{"total": 1}, "payer": map[string]any{"openid": "oPayer"}}
	}
	for i, appid := range []string{payAppID, appsOA} {
		no := "V-" + string(rune('1'+i))
		if ans, err := c.Prepay(ctx, "mp-weixin", order(no, appid)); err != nil || ans["prepay_id"] == nil {
			t.Fatalf("%s: %v %v", appid, ans, err)
		}
		if q, err := c.QueryOrder(ctx, "", no); err != nil || q["appid"] != appid {
			t.Errorf("query %s: %v %v", no, q, err)
		}
	}
	var be *v3BizError
	if _, err := c.Prepay(ctx, "mp-weixin", order("V-9", appsUnbound)); !errors.As(err, &be) || be.Status != http.StatusBadRequest ||
		be.Code != "PARAM_ERROR" || be.Message != "appid和mch_id不匹配" {
		t.Errorf("an unbound appid: %v", err)
	}
}

// TestWxpayAppsUnconfigured: an emulator with no test apps (payments only)
// takes any appid.
func TestWxpayAppsUnconfigured(t *testing.T) {
	emu := New(Config{})
	for _, a := range []string{payAppID, appsUnbound} {
		if !emu.wxpayAppBound(a) {
			t.Errorf("%s refused", a)
		}
	}
	if emu := New(appsConfig()); emu.wxpayAppBound(appsUnbound) || !emu.wxpayAppBound(appsOpenApp) {
		t.Error("with test apps: the wrong appids bound")
	}
}
