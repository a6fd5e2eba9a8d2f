package wxpay_test

import (
	"context"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// unifiedOrderParams is a typical unifiedorder request.
var unifiedOrderParams = map[string]string{
	"body": "腾讯充值中心-QQ会员充值", "out_trade_no": "1415659990", "total_fee": "1", "spbill_create_ip": "14.23.150.211",
	"notify_url": "https://example.com/notify/wxpay", "trade_type": "JSAPI", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
	"attach": "order=42", "time_expire": "20250101120000",
}

// BenchmarkRequestSign builds and signs a unifiedorder request (XML and
// sign), MD5 and HMAC-SHA256.
func BenchmarkRequestSign(b *testing.B) {
	for _, signType := range []string{signing.SignTypeMD5, signing.SignTypeHMACSHA256} {
		b.Run(signType, func(b *testing.B) {
			c := &wxpay.Client{AppID: payAppID, MchID: payMchID, Key: payKey, SignType: signType}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Request(wxpay.APIUnifiedOrder, unifiedOrderParams, payKey, signType); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnifiedOrderAndOrderInfo is a whole getOrderInfo at the client
// level against a local fake: request, answer check, orderInfo.
func BenchmarkUnifiedOrderAndOrderInfo(b *testing.B) {
	f := newV2Fake(b, signing.SignTypeMD5)
	f.v2Answer = func(string, map[string]string) (map[string]string, bool) {
		return payOK(map[string]string{"trade_type": "JSAPI", "prepay_id": "wx201410272009395522657a690389285100"}), true
	}
	c := f.v2Client()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ans, err := c.Call(ctx, wxpay.APIUnifiedOrder, unifiedOrderParams)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.OrderInfo(ctx, "mp-weixin", ans); err != nil {
			b.Fatal(err)
		}
	}
}
