package signing

import (
	"strings"
	"testing"
)

// A payment notification of realistic size (about 20 fields).
func benchV2Params() map[string]string {
	return map[string]string{
		"appid": "wx2421b1c4370ec43b", "attach": "支付测试", "bank_type": "CFT", "fee_type": "CNY",
		"is_subscribe": "Y", "mch_id": "10000100", "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c",
		"openid": "oUpF8uMEb4qRXf22hE3X68TekukE", "out_trade_no": "1409811653", "result_code": "SUCCESS",
		"return_code": "SUCCESS", "sub_mch_id": "10000100", "time_end": "20140903131540", "total_fee": "1",
		"coupon_fee": "10", "coupon_count": "1", "coupon_type": "CASH", "coupon_id": "10000",
		"trade_type": "JSAPI", "transaction_id": "1004400740201409030005092168", "cash_fee": "1",
	}
}

const benchKey = "192006250b4c09247ec02edce69f6a2d"

func BenchmarkWxpayV2SignMD5(b *testing.B) {
	p := benchV2Params()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WxpayV2Sign(p, benchKey, SignTypeMD5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWxpayV2SignHMAC(b *testing.B) {
	p := benchV2Params()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WxpayV2Sign(p, benchKey, SignTypeHMACSHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWxpayV2Verify(b *testing.B) {
	p := benchV2Params()
	p["sign"], _ = WxpayV2Sign(p, benchKey, SignTypeMD5)
	b.ReportAllocs()
	for b.Loop() {
		if err := WxpayV2Verify(p, benchKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptWxpayRefundReqInfo(b *testing.B) {
	v := loadVectors(b).WxpayV2RefundReqInfo
	b.SetBytes(int64(len(v.Plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecryptWxpayRefundReqInfo(v.ReqInfo, v.Key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWxpayV3Verify(b *testing.B) {
	v := loadVectors(b).WxpayV3ResponseVerification
	pub := vectorPublicKey(b, v.PublicKeyFile)
	body := []byte(v.Body)
	ts, nonce, sig := v.Headers["Wechatpay-Timestamp"], v.Headers["Wechatpay-Nonce"], v.Headers["Wechatpay-Signature"]
	b.ReportAllocs()
	for b.Loop() {
		if err := WxpayV3Verify(pub, ts, nonce, body, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRSASHA256Sign(b *testing.B) {
	v := loadVectors(b).WxpayV3RequestSignatures
	key := vectorPrivateKey(b, v.PrivateKeyFile)
	c := v.Cases[0]
	msg := []byte(WxpayV3Message(c.Method, c.URL, c.Timestamp, c.Nonce, c.Body))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RSASHA256Sign(key, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAlipayVerifyParams(b *testing.B) {
	for _, c := range []struct {
		name string
		n    alipayNotification
	}{
		{"trade", loadVectors(b).AlipayNotifications.Trade},
		// Verified on the second try (sign_type kept): the worst case.
		{"servicemarket", loadVectors(b).AlipayNotifications.ServiceMarket},
	} {
		b.Run(c.name, func(b *testing.B) {
			pub := vectorPublicKey(b, c.n.PublicKeyFile)
			b.ReportAllocs()
			for b.Loop() {
				if err := AlipayVerifyParams(pub, c.n.Params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecryptAEADAES256GCM(b *testing.B) {
	c := loadVectors(b).WxpayV3AEAD.Cases[1]
	ct := strings.TrimSpace(vectorFileText(b, c.CiphertextFile))
	b.SetBytes(int64(len(ct) * 3 / 4))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecryptAEADAES256GCM(c.APIV3Key, c.AssociatedData, c.Nonce, ct); err != nil {
			b.Fatal(err)
		}
	}
}
