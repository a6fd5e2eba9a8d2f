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

// FuzzParseNotifyXML: whatever the XML reader accepts has no entity
// declaration and plain keys; and a parsed document whose v2 signature
// verifies with the merchant key carries exactly the signed fields of a
// seed (the same sign string), however the fuzzer rewrote the XML around
// them.
func FuzzParseNotifyXML(f *testing.F) {
	hp := ntV2PaymentParams()
	hp["sign_type"] = "HMAC-SHA256"
	var signed []string
	for _, p := range []struct {
		params   map[string]string
		signType string
	}{{ntV2PaymentParams(), ""}, {hp, "HMAC-SHA256"}} {
		f.Add(ntSignedV2(f, p.params, ntTestV2Key, p.signType))
		signed = append(signed, signing.WxpayV2SignString(p.params, ntTestV2Key))
	}
	// The 安全规范 example is signed with the same key.
	vec, _ := loadVectors(f)
	if vec.WxpayV2Sign.Key != ntTestV2Key {
		f.Fatal("the v2 vector's key is not the notification tests' key")
	}
	signed = append(signed, signing.WxpayV2SignString(vec.WxpayV2Sign.Params, ntTestV2Key))
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
		if signing.WxpayV2Verify(m, ntTestV2Key) != nil {
			return
		}
		got := signing.WxpayV2SignString(m, ntTestV2Key)
		for _, s := range signed {
			if got == s {
				return
			}
		}
		t.Fatalf("fields that were never signed verify: %q", data)
	})
}

// FuzzParseNotifyV3Envelope: whatever the envelope parser accepts,
// encoding/json reads the same event_type and resource members from it; and
// a resource that decrypts (AES-256-GCM authenticates its ciphertext,
// nonce and associated data) is one of the seeds' resources, with the
// seed's plaintext: the parser hands over exactly the authenticated
// members, never a mix of several.
func FuzzParseNotifyV3Envelope(f *testing.F) {
	type sealed struct {
		key   string
		res   wxpay.NotifyV3Resource
		plain []byte
	}
	var seeds []sealed
	for _, n := range []ntV3Notification{
		{EventType: "TRANSACTION.SUCCESS", Resource: ntV3Transaction()},
		{EventType: "REFUND.SUCCESS", Resource: ntV3Refund()},
	} {
		_, body := n.build(f)
		f.Add(body)
		env, err := wxpay.ParseNotifyV3Envelope(body)
		if err != nil {
			f.Fatal(err)
		}
		plain, err := signing.DecryptAEADAES256GCM(ntTestAPIv3Key, env.Resource.AssociatedData, env.Resource.Nonce, env.Resource.Ciphertext)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, sealed{ntTestAPIv3Key, *env.Resource, plain})
	}
	// The published AEAD vector (wechatpay-java's), as a notification.
	vec := sealed{"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb", wxpay.NotifyV3Resource{
		OriginalType: "transaction", Algorithm: "AEAD_AES_256_GCM", Ciphertext: "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=",
		AssociatedData: "associatedData", Nonce: "uluk4a9R25RW"}, []byte("message")}
	seeds = append(seeds, vec)
	vecBody, _ := json.Marshal(map[string]any{"id": "EV-1", "event_type": "TRANSACTION.SUCCESS", "resource": vec.res})
	f.Add(vecBody)
	f.Add([]byte(`{"event_type":"X","resource":{}}`))
	f.Add([]byte(`{"resource":null}`))
	f.Add([]byte(`[]`))
	keys := []string{ntTestAPIv3Key, vec.key}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := wxpay.ParseNotifyV3Envelope(data)
		if err != nil {
			if env != nil {
				t.Fatal("an envelope and an error")
			}
			return
		}
		if env.Resource == nil || env.EventType == "" {
			t.Fatalf("accepted without resource or event_type: %q", data)
		}
		var std struct {
			EventType string                  `json:"event_type"`
			Resource  *wxpay.NotifyV3Resource `json:"resource"`
		}
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("encoding/json refuses an accepted envelope: %v", err)
		}
		if std.EventType != env.EventType || std.Resource == nil || *std.Resource != *env.Resource {
			t.Fatalf("the envelope's members differ from encoding/json's: %q", data)
		}
		r := env.Resource
		for _, k := range keys {
			plain, err := signing.DecryptAEADAES256GCM(k, r.AssociatedData, r.Nonce, r.Ciphertext)
			if err != nil {
				continue
			}
			found := false
			for _, s := range seeds {
				if s.key == k && bytes.Equal(s.plain, plain) && s.res.Nonce == r.Nonce && s.res.AssociatedData == r.AssociatedData {
					found = true
				}
			}
			if !found {
				t.Fatalf("a resource that was never sealed decrypts: %+v", *r)
			}
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
	q := newRefundFake(f, ntTestV2Key, refund)
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
