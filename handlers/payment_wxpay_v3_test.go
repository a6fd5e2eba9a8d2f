package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// v3Params decodes a caller's JSON body as readPayParams does.
func v3Params(t *testing.T, body string) payParams {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, "/getOrderInfo", strings.NewReader(body))
	p, err := readPayParams(r, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// canonical re-encodes a value as sorted JSON, for comparisons.
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	_ = d.Decode(&x)
	b, _ = json.Marshal(x)
	return string(b)
}

func TestWxpayV3OrderBody(t *testing.T) {
	for _, tc := range []struct {
		name, in, clientType, want string
	}{
		{"mp-weixin", `{"openid":"oUser","body":"demo","outTradeNo":"T1","totalFee":88,"attach":"a=1","timeExpire":"20250102030405","goodsTag":"WXG"}`, "mp-weixin",
			`{"amount":{"currency":"CNY","total":88},"attach":"a=1","description":"demo","goods_tag":"WXG","notify_url":"https://example.com/n","out_trade_no":"T1","payer":{"openid":"oUser"},"time_expire":"2025-01-02T03:04:05+08:00"}`},
		{"app-plus, v2-only fields dropped, v3 fields passed", `{"body":"demo","out_trade_no":"T2","total_fee":"5","feeType":"CNY","limitPay":"no_credit","productId":"p","supportFapiao":true,"notifyUrl":"https://x/n","spbillCreateIp":"1.2.3.4","profitSharing":"Y"}`, "app-plus",
			`{"amount":{"currency":"CNY","total":5},"description":"demo","notify_url":"https://x/n","out_trade_no":"T2","scene_info":{"payer_client_ip":"1.2.3.4"},"settle_info":{"profit_sharing":true},"support_fapiao":true}`},
		{"h5 with v2 scene_info", `{"body":"demo","outTradeNo":"T3","totalFee":1,"spbillCreateIp":"1.2.3.4","sceneInfo":{"h5Info":{"type":"Wap","wapUrl":"https://m.example.com","wapName":"Demo"}},"detail":"{\"cost_price\":1}"}`, "h5",
			`{"amount":{"currency":"CNY","total":1},"description":"demo","detail":{"cost_price":1},"notify_url":"https://example.com/n","out_trade_no":"T3","scene_info":{"h5_info":{"app_name":"Demo","app_url":"https://m.example.com","type":"Wap"},"payer_client_ip":"1.2.3.4"}}`},
		{"h5 default type", `{"body":"demo","outTradeNo":"T4","totalFee":1,"spbillCreateIp":"1.2.3.4","deviceInfo":"WEB"}`, "h5",
			`{"amount":{"currency":"CNY","total":1},"description":"demo","notify_url":"https://example.com/n","out_trade_no":"T4","scene_info":{"device_id":"WEB","h5_info":{"type":"Wap"},"payer_client_ip":"1.2.3.4"}}`},
		{"native", `{"description":"demo","outTradeNo":"T5","totalFee":1,"openid":"ignored"}`, "native",
			`{"amount":{"currency":"CNY","total":1},"description":"demo","notify_url":"https://example.com/n","out_trade_no":"T5"}`},
	} {
		body, err := wxpayV3OrderBody(v3Params(t, tc.in), tc.clientType, "https://example.com/n")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := canonical(t, body); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, clientType, notify, want string }{
		{`{"outTradeNo":"T","totalFee":1,"openid":"o"}`, "mp-weixin", "n", "body"},
		{`{"body":"b","totalFee":1,"openid":"o"}`, "mp-weixin", "n", "outTradeNo"},
		{`{"body":"b","outTradeNo":"T","totalFee":1.5,"openid":"o"}`, "mp-weixin", "n", "fen"},
		{`{"body":"b","outTradeNo":"T","totalFee":0,"openid":"o"}`, "mp-weixin", "n", "at least 1 fen"},
		{`{"body":"b","outTradeNo":"T","totalFee":1}`, "mp-weixin", "n", "openid"},
		{`{"body":"b","outTradeNo":"T","totalFee":1,"openid":"o"}`, "mp-weixin", "", "notifyUrl"},
		{`{"body":"b","outTradeNo":"T","totalFee":1}`, "h5", "n", "spbillCreateIp"},
		{`{"body":"b","outTradeNo":"T","totalFee":1,"timeExpire":"tomorrow"}`, "native", "n", "timeExpire"},
		{`{"body":"b","outTradeNo":"T","totalFee":1,"detail":"not json"}`, "native", "n", "detail"},
		{`{"body":"b","outTradeNo":"T","totalFee":1,"sceneInfo":[1]}`, "native", "n", "sceneInfo"},
	} {
		_, err := wxpayV3OrderBody(v3Params(t, tc.in), tc.clientType, tc.notify)
		var ge *gatewayError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !asGateway(err, &ge) || ge.Status != http.StatusBadRequest {
			t.Errorf("%s: %v, want a 400 naming %s", tc.in, err, tc.want)
		}
	}
}

func asGateway(err error, ge **gatewayError) bool {
	g, ok := err.(*gatewayError)
	*ge = g
	return ok
}

func TestWxpayV3ClientType(t *testing.T) {
	for in, want := range map[string]string{
		`{"clientType":"app-plus"}`: "app-plus", `{"tradeType":"NATIVE"}`: "native", `{"tradeType":"MWEB"}`: "h5",
		`{"openid":"o"}`: "mp-weixin", `{"clientType":"h5","openid":"o"}`: "h5",
	} {
		if got, err := wxpayV3ClientType(v3Params(t, in)); got != want || err != nil {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	if _, err := wxpayV3ClientType(v3Params(t, `{"clientType":"mp-alipay"}`)); err == nil || !strings.Contains(err.Error(), ErrNotSupported) {
		t.Errorf("mp-alipay: %v", err)
	}
	if _, err := wxpayV3ClientType(v3Params(t, `{}`)); err == nil {
		t.Error("no client type accepted")
	}
}

func TestWxpayV3RefundBody(t *testing.T) {
	body, err := wxpayV3RefundBody(v3Params(t, `{"outTradeNo":"T1","outRefundNo":"R1","totalFee":100,"refundFee":"60","refundDesc":"broken","notifyUrl":"https://x/r","refundAccount":"REFUND_SOURCE_RECHARGE_FUNDS","opUserId":"1900000109","goodsDetail":[{"merchantGoodsId":"g1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"amount":{"currency":"CNY","refund":60,"total":100},"funds_account":"AVAILABLE","goods_detail":[{"merchant_goods_id":"g1"}],"notify_url":"https://x/r","out_refund_no":"R1","out_trade_no":"T1","reason":"broken"}`
	if got := canonical(t, body); got != want {
		t.Errorf("refund body\n got %s\nwant %s", got, want)
	}
	body, err = wxpayV3RefundBody(v3Params(t, `{"transactionId":"4200","outRefundNo":"R1","totalFee":1,"refundFee":1}`))
	if err != nil || body["transaction_id"] != "4200" || body["out_trade_no"] != nil {
		t.Errorf("by transaction id: %v %v", body, err)
	}
	for in, want := range map[string]string{
		`{"outRefundNo":"R1","totalFee":1,"refundFee":1}`:                     "transactionId or outTradeNo",
		`{"outTradeNo":"T1","totalFee":1,"refundFee":1}`:                      "outRefundNo",
		`{"outTradeNo":"T1","outRefundNo":"R1","totalFee":1}`:                 "refundFee",
		`{"outTradeNo":"T1","outRefundNo":"R1","totalFee":1,"refundFee":0.5}`: "fen",
	} {
		if _, err := wxpayV3RefundBody(v3Params(t, in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

func TestWxpayV3TimeExpire(t *testing.T) {
	for in, want := range map[string]string{
		"20250102030405":            "2025-01-02T03:04:05+08:00",
		"2025-01-02T03:04:05+08:00": "2025-01-02T03:04:05+08:00",
		"2025-01-01T19:04:05Z":      "2025-01-01T19:04:05Z",
	} {
		if got, err := v3Time(in); got != want || err != nil {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
}

func TestPaymentProvisionV3(t *testing.T) {
	key, _, pub := testKeys(t)
	t.Setenv("UNICLOUD_TEST_WXPAY_V3_SERIAL", "3775B6A45ACD588826D15E583A95F5DD00000000\n")
	v3 := func(mod func(*Payment)) *Payment {
		h := &Payment{
			Provider: "wxpay", Version: "v3", AppID: "wx1", MchID: "1900007291", PrivateKey: key,
			SerialNo: "{env.UNICLOUD_TEST_WXPAY_V3_SERIAL}", PlatformKeys: []NotifyPlatformKey{{Serial: "PUB_KEY_ID_0001", Key: pub}},
			Endpoint: "http://127.0.0.1:1/",
		}
		if mod != nil {
			mod(h)
		}
		return h
	}
	h := v3(nil)
	if err := provisionPayment(t, h); err != nil {
		t.Fatal(err)
	}
	if h.wx3 == nil || h.wx3.PrivateKey == nil || h.wx3.SerialNo != "3775B6A45ACD588826D15E583A95F5DD00000000" ||
		h.wx3.Endpoint != "http://127.0.0.1:1" || h.wx3.MaxSkew != wxpay.DefaultV3MaxSkew || h.wx != nil {
		t.Errorf("v3 client: %+v", h.wx3)
	}
	if k, ok := h.wx3.PlatformKeys.PlatformKey("PUB_KEY_ID_0001"); !ok || k == nil {
		t.Error("the configured platform key is not used")
	}
	h2 := v3(func(h *Payment) { h.MaxSkew = caddy.Duration(time.Minute) })
	if err := provisionPayment(t, h2); err != nil || h2.wx3.MaxSkew != time.Minute {
		t.Errorf("max_skew: %v", err)
	}
	// Both handlers use the merchant's one store; Cleanup gives it back.
	if h2.wx3.PlatformKeys != h.wx3.PlatformKeys {
		t.Error("two handlers of one merchant have two stores")
	}
	if _, ok := lookupPlatformStore("http://127.0.0.1:1", "1900007291"); !ok {
		t.Error("the store is not registered")
	}
	_ = h2.Cleanup()
	_ = h.Cleanup()
	if _, ok := lookupPlatformStore("http://127.0.0.1:1", "1900007291"); ok {
		t.Error("the store is kept after the last handler's Cleanup")
	}
	_ = h.Cleanup() // twice is harmless

	for _, tc := range []struct {
		mod  func(*Payment)
		want string
	}{
		{func(h *Payment) { h.SerialNo = "" }, "serial_no are required"},
		{func(h *Payment) { h.PrivateKey = "secret-but-not-a-key" }, "private_key"},
		{func(h *Payment) { h.PlatformKeys = nil }, "configure platform_key or platform_certs auto"},
		{func(h *Payment) { h.PlatformCerts = "auto" }, "needs api_v3_key"},
		{func(h *Payment) { h.PlatformCerts = "manual" }, "platform_certs must be auto"},
		{func(h *Payment) { h.APIv3Key = "short" }, "api_v3_key must be 32 bytes (the APIv3 key set in the merchant platform), not 5"},
		{func(h *Payment) { h.PlatformRoot = "/etc/root.pem" }, "platform_root"},
		{func(h *Payment) { h.Key = "v2-key" }, "not APIv3 options"},
		{func(h *Payment) { h.Sandbox = true }, "not APIv3 options"},
		{func(h *Payment) { h.PlatformKeys = []NotifyPlatformKey{{Serial: "X", Key: "not a key"}} }, "platform_key"},
		{func(h *Payment) {
			h.PlatformKeys = append(h.PlatformKeys, NotifyPlatformKey{Serial: "PUB_KEY_ID_0001", Key: pub})
		}, "twice"},
	} {
		h := v3(tc.mod)
		err := provisionPayment(t, h)
		_ = h.Cleanup()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret-but-not-a-key") || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("a key appears in the error: %v", err)
		}
	}
	for _, h := range []*Payment{
		{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: testV2Key, SerialNo: "S"},
		{Provider: "wxpay", AppID: "wx1", MchID: "100", Key: testV2Key, MaxSkew: caddy.Duration(time.Minute)},
	} {
		if err := provisionPayment(t, h); err == nil || !strings.Contains(err.Error(), "for version v3") {
			t.Errorf("v2 with a v3 option: %v", err)
		}
	}
}

func TestPaymentV3Unprovisioned(t *testing.T) {
	h := &Payment{Provider: "wxpay", Version: "v3", AppID: "wx1", MchID: "1", PrivateKey: "k", SerialNo: "3775B6A45ACD588826D15E583A95F5DD00000000",
		PlatformKeys: []NotifyPlatformKey{{Serial: "s", Key: "k"}}}
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "not provisioned") {
		t.Errorf("Validate before Provision: %v", err)
	}
	if err := h.Cleanup(); err != nil {
		t.Error(err)
	}
}
