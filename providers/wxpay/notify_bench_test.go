package wxpay_test

import (
	"net/http"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

func benchVerify(b *testing.B, v *wxpay.NotifyVerifier, h http.Header, body []byte) {
	b.Helper()
	if _, err := v.Verify(bg, h, body); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(bg, h, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNotifyV2MD5(b *testing.B) {
	v := &wxpay.NotifyVerifier{AppID: testAppID, MchID: testMchID, Key: testV2Key}
	benchVerify(b, v, http.Header{}, signedV2(b, v2PaymentParams(), testV2Key, ""))
}

func BenchmarkNotifyV2HMACSHA256(b *testing.B) {
	p := v2PaymentParams()
	p["sign_type"] = "HMAC-SHA256"
	v := &wxpay.NotifyVerifier{AppID: testAppID, MchID: testMchID, Key: testV2Key}
	benchVerify(b, v, http.Header{}, signedV2(b, p, testV2Key, "HMAC-SHA256"))
}

func BenchmarkNotifyV2RefundDecrypt(b *testing.B) {
	vec, _ := loadVectors(b)
	v := &wxpay.NotifyVerifier{AppID: testAppID, MchID: testMchID, Key: vec.WxpayV2RefundReqInfo.Key}
	benchVerify(b, v, http.Header{}, refundXML(vec.WxpayV2RefundReqInfo.ReqInfo, nil))
}

func BenchmarkNotifyV3Transaction(b *testing.B) {
	h, body := v3Notification{EventType: "TRANSACTION.SUCCESS", Resource: v3Transaction()}.build(b)
	benchVerify(b, v3Verifier(b), h, body)
}

func BenchmarkNotifyV3Refund(b *testing.B) {
	h, body := v3Notification{EventType: "REFUND.SUCCESS", Resource: v3Refund()}.build(b)
	benchVerify(b, v3Verifier(b), h, body)
}

func BenchmarkParseNotifyXML(b *testing.B) {
	body := signedV2(b, v2PaymentParams(), testV2Key, "")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wxpay.ParseNotifyXML(body, "xml"); err != nil {
			b.Fatal(err)
		}
	}
}
