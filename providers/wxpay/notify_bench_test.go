package wxpay_test

import (
	"net/http"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

func ntBenchVerify(b *testing.B, v *wxpay.NotifyVerifier, h http.Header, body []byte) {
	b.Helper()
	if _, err := v.Verify(ntBg, h, body); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ntBg, h, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNotifyV2MD5(b *testing.B) {
	v := &wxpay.NotifyVerifier{AppID: ntTestAppID, MchID: ntTestMchID, Key: ntTestV2Key}
	ntBenchVerify(b, v, http.Header{}, ntSignedV2(b, ntV2PaymentParams(), ntTestV2Key, ""))
}

func BenchmarkNotifyV2HMACSHA256(b *testing.B) {
	p := ntV2PaymentParams()
	p["sign_type"] = "HMAC-SHA256"
	v := &wxpay.NotifyVerifier{AppID: ntTestAppID, MchID: ntTestMchID, Key: ntTestV2Key}
	ntBenchVerify(b, v, http.Header{}, ntSignedV2(b, p, ntTestV2Key, "HMAC-SHA256"))
}

// BenchmarkNotifyV2Refund: decryption plus the refund query (to a local
// WeChat Pay over loopback).
func BenchmarkNotifyV2Refund(b *testing.B) {
	vec, _ := loadVectors(b)
	v := newRefundFake(b, vec.WxpayV2RefundReqInfo.Key, ntVectorRefund(b)).verifier(ntTestMchID)
	v.AppID = ntTestAppID
	ntBenchVerify(b, v, http.Header{}, ntRefundXML(vec.WxpayV2RefundReqInfo.ReqInfo, nil))
}

func BenchmarkNotifyV3Transaction(b *testing.B) {
	h, body := ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: ntV3Transaction()}.build(b)
	ntBenchVerify(b, ntV3Verifier(b), h, body)
}

func BenchmarkNotifyV3Refund(b *testing.B) {
	h, body := ntV3Notification{EventType: "REFUND.SUCCESS", Resource: ntV3Refund()}.build(b)
	ntBenchVerify(b, ntV3Verifier(b), h, body)
}

func BenchmarkParseNotifyXML(b *testing.B) {
	body := ntSignedV2(b, ntV2PaymentParams(), ntTestV2Key, "")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wxpay.ParseNotifyXML(body, "xml"); err != nil {
			b.Fatal(err)
		}
	}
}
