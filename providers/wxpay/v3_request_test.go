package wxpay

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// v3Params decodes a caller's JSON body as the payment host does.
func v3Params(t *testing.T, body string) pay.Params {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return pay.NewParams(m)
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

func TestV3OrderBody(t *testing.T) {
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
		body, err := v3OrderBody(v3Params(t, tc.in), tc.clientType, "https://example.com/n")
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
		_, err := v3OrderBody(v3Params(t, tc.in), tc.clientType, tc.notify)
		var pe *pay.Error
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &pe) || pe.Kind != pay.ErrBadRequest {
			t.Errorf("%s: %v, want a 400 naming %s", tc.in, err, tc.want)
		}
	}
}

func TestV3ClientType(t *testing.T) {
	for in, want := range map[string]string{
		`{"clientType":"app-plus"}`: "app-plus", `{"tradeType":"NATIVE"}`: "native", `{"tradeType":"MWEB"}`: "h5",
		`{"openid":"o"}`: "mp-weixin", `{"clientType":"h5","openid":"o"}`: "h5",
	} {
		if got, err := v3ClientType(v3Params(t, in)); got != want || err != nil {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	if _, err := v3ClientType(v3Params(t, `{"clientType":"mp-alipay"}`)); err == nil || !errors.Is(err, pay.ErrNotSupported) {
		t.Errorf("mp-alipay: %v", err)
	}
	if _, err := v3ClientType(v3Params(t, `{}`)); err == nil {
		t.Error("no client type accepted")
	}
}

// refundBodyOf is the refund body of the caller's JSON.
func refundBodyOf(t *testing.T, in string) (map[string]any, error) {
	t.Helper()
	req, err := pay.NewRefundRequest(v3Params(t, in))
	if err != nil {
		return nil, err
	}
	return v3RefundBody(req)
}

func TestV3RefundBody(t *testing.T) {
	body, err := refundBodyOf(t, `{"outTradeNo":"T1","outRefundNo":"R1","totalFee":100,"refundFee":"60","refundDesc":"broken","notifyUrl":"https://x/r","refundAccount":"REFUND_SOURCE_RECHARGE_FUNDS","opUserId":"1900000109","goodsDetail":[{"merchantGoodsId":"g1"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"amount":{"currency":"CNY","refund":60,"total":100},"funds_account":"AVAILABLE","goods_detail":[{"merchant_goods_id":"g1"}],"notify_url":"https://x/r","out_refund_no":"R1","out_trade_no":"T1","reason":"broken"}`
	if got := canonical(t, body); got != want {
		t.Errorf("refund body\n got %s\nwant %s", got, want)
	}
	body, err = refundBodyOf(t, `{"transactionId":"4200","outRefundNo":"R1","totalFee":1,"refundFee":1}`)
	if err != nil || body["transaction_id"] != "4200" || body["out_trade_no"] != nil {
		t.Errorf("by transaction id: %v %v", body, err)
	}
	for in, want := range map[string]string{
		`{"outRefundNo":"R1","totalFee":1,"refundFee":1}`:                     "transactionId or outTradeNo",
		`{"outTradeNo":"T1","totalFee":1,"refundFee":1}`:                      "outRefundNo",
		`{"outTradeNo":"T1","outRefundNo":"R1","totalFee":1}`:                 "refundFee",
		`{"outTradeNo":"T1","outRefundNo":"R1","totalFee":1,"refundFee":0.5}`: "fen",
	} {
		if _, err := refundBodyOf(t, in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

func TestV3TimeExpire(t *testing.T) {
	for in, want := range map[string]string{
		"20250102030405":            "2025-01-02T03:04:05+08:00",
		"2025-01-02T03:04:05+08:00": "2025-01-02T03:04:05+08:00",
		"2025-01-01T19:04:05Z":      "2025-01-01T19:04:05Z",
	} {
		if got, err := v3ExpireTime(in); got != want || err != nil {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
}
