package wxpay_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

func FuzzParseNotifyXML(f *testing.F) {
	f.Add(ntSignedV2(f, ntV2PaymentParams(), ntTestV2Key, ""))
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><xml><a><![CDATA[1]]></a><b>2</b></xml>`))
	f.Add([]byte(`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>`))
	f.Add([]byte(`<xml><a><b/></a></xml>`))
	f.Add([]byte("<xml><a>&#x4e2d;&lt;</a><!-- c --></xml>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wxpay.ParseNotifyXML(data, "xml")
		if err != nil {
			return
		}
		if bytes.Contains(data, []byte("<!")) && bytes.Contains(data, []byte("<!ENTITY")) {
			t.Fatalf("accepted an entity declaration: %q", data)
		}
		for k := range m {
			if k == "" || strings.ContainsAny(k, "<>&") {
				t.Fatalf("odd key %q", k)
			}
		}
	})
}

func FuzzParseNotifyV3Envelope(f *testing.F) {
	_, body := ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: ntV3Transaction()}.build(f)
	f.Add(body)
	f.Add([]byte(`{"event_type":"X","resource":{}}`))
	f.Add([]byte(`{"resource":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := wxpay.ParseNotifyV3Envelope(data)
		if err == nil && (env.Resource == nil || env.EventType == "") {
			t.Fatalf("accepted without resource or event_type: %q", data)
		}
	})
}

// FuzzNotifyVerify drives the verifier's entry point with arbitrary bodies
// and signature headers. Seeds are real signed notifications; whatever the
// fuzzer does to them, the verifier must not panic and must accept only
// what carries the same signed content (v2 leaves empty fields unsigned, by
// WeChat Pay's rules, so those are ignored in the comparison).
func FuzzNotifyVerify(f *testing.F) {
	at := time.Unix(1700000000, 0)
	v := ntV3Verifier(f)
	v.Now = func() time.Time { return at }

	var seedEvents [][]byte
	addSeed := func(h http.Header, body []byte) {
		n, err := v.Verify(ntBg, h, body)
		if err != nil {
			f.Fatalf("seed refused: %v", err)
		}
		seedEvents = append(seedEvents, ntSignedContent(n))
		f.Add(body, h.Get("Wechatpay-Signature"), h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), h.Get("Wechatpay-Serial"))
	}
	addSeed(http.Header{}, ntSignedV2(f, ntV2PaymentParams(), ntTestV2Key, ""))
	hp := ntV2PaymentParams()
	hp["sign_type"] = "HMAC-SHA256"
	addSeed(http.Header{}, ntSignedV2(f, hp, ntTestV2Key, "HMAC-SHA256"))
	refund := map[string]string{"out_refund_no": "R1", "refund_id": "5000R1", "out_trade_no": "T1", "transaction_id": "4200T1",
		"total_fee": "6", "refund_fee": "6", "refund_status": "SUCCESS"}
	q := newNtRefundQuery(f, ntTestV2Key, refund)
	v.Endpoint = q.srv.URL
	inner := `<root><out_refund_no><![CDATA[R1]]></out_refund_no><refund_id>5000R1</refund_id><out_trade_no>T1</out_trade_no><transaction_id>4200T1</transaction_id><total_fee>6</total_fee><refund_fee>6</refund_fee><refund_status>SUCCESS</refund_status></root>`
	reqInfo, err := signing.EncryptWxpayRefundReqInfo([]byte(inner), ntTestV2Key)
	if err != nil {
		f.Fatal(err)
	}
	addSeed(http.Header{}, ntRefundXML(reqInfo, nil))
	addSeed(ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: ntV3Transaction(), Time: at}.build(f))
	addSeed(ntV3Notification{EventType: "REFUND.SUCCESS", Resource: ntV3Refund(), Time: at}.build(f))
	f.Add([]byte("garbage"), "", "", "", "")
	f.Add([]byte(`{"resource":{}}`), "c2ln", "1700000000", "n", ntTestSerial)

	f.Fuzz(func(t *testing.T, body []byte, sig, ts, nonce, serial string) {
		h := http.Header{}
		for k, val := range map[string]string{"Wechatpay-Signature": sig, "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial} {
			if val != "" {
				h[k] = []string{val}
			}
		}
		n, err := v.Verify(ntBg, h, body)
		if err != nil {
			if n != nil {
				t.Fatal("notification and error")
			}
			if _, ok := err.(interface{ NotifyCheck() string }); !ok {
				t.Fatalf("not a NotifyError: %T", err)
			}
			return
		}
		got := ntSignedContent(n)
		for _, s := range seedEvents {
			if bytes.Equal(got, s) {
				return
			}
		}
		t.Fatalf("accepted content that was never signed: %s", got)
	})
}

// ntSignedContent is an event as JSON, empty raw fields dropped (v2 does not
// sign empty values).
func ntSignedContent(n *wxpay.Notification) []byte {
	var raw map[string]any
	switch e := n.Event.(type) {
	case *wxpay.NotifyPayment:
		raw = e.Raw
	case *wxpay.NotifyRefund:
		raw = e.Raw
	}
	saved := make(map[string]any, len(raw))
	for k, v := range raw {
		saved[k] = v
		if v == "" {
			delete(raw, k)
		}
	}
	b, _ := json.Marshal(n.Event)
	for k, v := range saved {
		raw[k] = v
	}
	return b
}
