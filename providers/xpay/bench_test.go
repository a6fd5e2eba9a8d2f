package xpay

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

func BenchmarkGetOrderInfo(b *testing.B) {
	c := &Client{Config: Config{AppID: "wxapp", OfferID: "1450019686", AppKey: "app_key_123"},
		Sessions: keys{"wxapp/o1": "session_key_123"}}
	p := pay.Params{"openid": "o1", "outTradeNo": "order12345", "productId": "product_001",
		"goodsPrice": json.Number("100"), "attach": "attach中文"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetOrderInfo(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildRequest(b *testing.B) {
	api, _ := Lookup("currencyPay")
	p := pay.Params{"openid": "o1", "userIp": "127.0.0.1", "amount": json.Number("10"), "orderId": "c1", "payitem": "x"}
	b.ReportAllocs()
	for b.Loop() {
		body, err := BuildRequest(api, p, EnvProduction)
		if err != nil {
			b.Fatal(err)
		}
		_ = PaySig("k", api.Path, body)
	}
}
