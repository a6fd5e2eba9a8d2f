package wxpay_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// v3OrderBody is the published JSAPI order body.
var v3OrderBody = []byte(`{"appid":"wxd678efh567hg6787","mchid":"1900007291","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}`)

// BenchmarkV3RequestSign builds a signed APIv3 request (Authorization over
// METHOD\nURL\ntimestamp\nnonce\nbody\n, RSA-2048 SHA256).
func BenchmarkV3RequestSign(b *testing.B) {
	v3TestKeys(b)
	c := &wxpay.ClientV3{MchID: v3MchID, PrivateKey: v3Keys.merchant, SerialNo: v3Serial}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.NewRequest(ctx, http.MethodPost, "/v3/pay/transactions/jsapi", v3OrderBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkV3AnswerVerify checks an answer's Wechatpay-Signature (freshness,
// key by serial, RSA-2048 SHA256 verification).
func BenchmarkV3AnswerVerify(b *testing.B) {
	v3TestKeys(b)
	body := []byte(`{"prepay_id":"wx26112221580621e9b071c00d9e093b0000"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := signing.NonceStr()
	sig, err := signing.RSASHA256Sign(v3Keys.platform, signing.WxpayV3VerifyMessage(ts, nonce, body))
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{}
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Serial", v3Platform)
	c := &wxpay.ClientV3{PlatformKeys: wxpay.StaticPlatformKeys{v3Platform: &v3Keys.platform.PublicKey}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Verify(ctx, h, body); err != nil {
			b.Fatal(err)
		}
	}
}
