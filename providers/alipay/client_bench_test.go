package alipay_test

import (
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// BenchmarkRequestSignRSA2 signs a gateway request (alipay.trade.create)
// with the 2048-bit app key of the vectors.
func BenchmarkRequestSignRSA2(b *testing.B) {
	priv, _ := payKeys(b)
	c := &alipay.Client{AppID: payAppID, PrivateKey: priv}
	biz := []byte(`{"out_trade_no":"20150320010101001","total_amount":"88.88","subject":"Iphone6 16G","buyer_id":"2088102146225135"}`)
	extra := map[string]string{"notify_url": "https://example.com/notify/alipay"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SignedParams(alipay.MethodTradeCreate, biz, extra); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAnswer verifies (RSA2) and decodes a trade query answer.
func BenchmarkParseAnswer(b *testing.B) {
	priv, pub := payKeys(b)
	member := `{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","out_trade_no":"6823789339978248","trade_status":"TRADE_SUCCESS","total_amount":"88.88"}`
	sign := signMember(b, priv, member)
	body := []byte(`{"alipay_trade_query_response":` + member + `,"sign":"` + sign + `"}`)
	c := &alipay.Client{AppID: payAppID, AlipayPublicKey: pub}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ParseAnswer(alipay.MethodTradeQuery, body); err != nil {
			b.Fatal(err)
		}
	}
}
