package wxpay_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// ntInnerXML writes req_info fields as WeChat Pay's <root> document.
func ntInnerXML(fields map[string]string) []byte {
	b := ntV2XML(fields)
	return append(append([]byte("<root>"), b[len("<xml>"):len(b)-len("</xml>")]...), "</root>"...)
}

func ntEncryptRefund(tb testing.TB, key string, inner []byte) []byte {
	tb.Helper()
	ct, err := signing.EncryptWxpayRefundReqInfo(inner, key)
	if err != nil {
		tb.Fatal(err)
	}
	return ntRefundXML(ct, nil)
}

func ntWith(m map[string]string, kv ...string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "-" {
			delete(c, kv[i])
		} else {
			c[kv[i]] = kv[i+1]
		}
	}
	return c
}

// req_info is AES-256-ECB without a MAC: its 16-byte blocks can be
// dropped, repeated or swapped without the key. Every such variant of a
// genuine req_info that still decrypts and parses is confirmed with the
// refund query, and refused unless it says exactly what the genuine one
// says.
func TestNotifyV2RefundBlockShuffle(t *testing.T) {
	vec, _ := loadVectors(t)
	rv := vec.WxpayV2RefundReqInfo
	genuine := ntVectorRefund(t)
	q := newRefundFake(t, rv.Key, genuine)
	v := q.verifier(ntTestMchID)
	n, err := v.VerifyV2(ntBg, ntRefundXML(rv.ReqInfo, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := n.Event.(*wxpay.NotifyRefund)

	ct, err := base64.StdEncoding.DecodeString(rv.ReqInfo)
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	for i := 0; i < len(ct); i += 16 {
		blocks = append(blocks, ct[i:i+16])
	}
	var variants [][][]byte
	for i := range blocks {
		variants = append(variants, splice(blocks[:i], blocks[i+1:])) // drop
		for j := range blocks {
			variants = append(variants, splice(blocks[:j], [][]byte{blocks[i]}, blocks[j:])) // repeat
			if i < j {
				s := splice(blocks)
				s[i], s[j] = s[j], s[i] // swap
				variants = append(variants, s)
			}
		}
	}
	forged := 0  // variants that decrypt to a refund that says something else
	stopped := 0 // of those, refused only by the refund query
	for _, blks := range variants {
		reqInfo := base64.StdEncoding.EncodeToString(bytes.Join(blks, nil))
		got, err := v.VerifyV2(ntBg, ntRefundXML(reqInfo, nil))
		plain, derr := signing.DecryptWxpayRefundReqInfo(reqInfo, rv.Key)
		fields, perr := wxpay.ParseNotifyXML(plain, "root")
		changed := derr == nil && perr == nil && !reflect.DeepEqual(fields, genuine)
		if changed {
			forged++
			if ntCheckOf(err) == wxpay.CheckRefundQuery {
				stopped++
			} else if ntCheckOf(err) != wxpay.CheckMalformed {
				t.Errorf("a block-shuffled req_info that parses (%v): got %v, want refund_query", fields, err)
			}
		}
		if err == nil && !reflect.DeepEqual(got.Event, want) {
			t.Fatalf("a block-shuffled req_info was accepted with other content: %+v", got.Event)
		}
	}
	// The attack is real: some variants decrypt and parse with a changed
	// field (an id, a status, a time), which decryption alone accepted.
	if stopped == 0 {
		t.Fatalf("none of %d variants reaches the refund query: the test does not exercise the forgery", len(variants))
	}
	t.Logf("%d of %d block-shuffled variants parse with changed fields; %d of them are well-formed refunds that only the refund query refuses", forged, len(variants), stopped)
}

func splice(parts ...[][]byte) [][]byte {
	var out [][]byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// A req_info encrypted with the key (so it decrypts) whose fields differ
// from WeChat Pay's record of the refund is refused, naming the field.
func TestNotifyV2RefundTampered(t *testing.T) {
	genuine := ntVectorRefund(t)
	key := ntTestV2Key
	q := newRefundFake(t, key, genuine)
	for _, tc := range []struct {
		name  string
		inner map[string]string
		want  string // in the error
	}{
		{"refund_fee", ntWith(genuine, "refund_fee", "5"), "refund_fee differs"},
		{"refund_status", ntWith(genuine, "refund_status", "CHANGE"), "refund_status differs"},
		{"out_trade_no", ntWith(genuine, "out_trade_no", "another-order"), "out_trade_no differs"},
		{"total_fee", ntWith(genuine, "total_fee", "7"), "total_fee differs"},
		{"settlement_total_fee", ntWith(genuine, "settlement_total_fee", "5"), "settlement_total_fee differs"},
		{"success_time", ntWith(genuine, "success_time", "2017-11-25 15:36:18"), "success_time differs"},
		{"refund_recv_accout", ntWith(genuine, "refund_recv_accout", "其他账户"), "refund_recv_accout differs"},
		{"refund_id", ntWith(genuine, "refund_id", "50000404922017112502468056158"), "refund_id differs"},
		{"unknown refund", ntWith(genuine, "out_refund_no", "re1"), "does not know"},
		{"refund_id dropped", ntWith(genuine, "refund_id", "-"), "refund_id is not confirmed"},
		{"refund_status dropped", ntWith(genuine, "refund_status", "-"), "refund_status is not confirmed"},
	} {
		_, err := q.verifier(ntTestMchID).VerifyV2(ntBg, ntEncryptRefund(t, key, ntInnerXML(tc.inner)))
		if ntCheckOf(err) != wxpay.CheckRefundQuery || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want refund_query (%s)", tc.name, err, tc.want)
		}
	}
	// The same fields, genuine: accepted.
	if _, err := q.verifier(ntTestMchID).VerifyV2(ntBg, ntEncryptRefund(t, key, ntInnerXML(genuine))); err != nil {
		t.Fatal(err)
	}
}

// A refund query that cannot be made is neither an acceptance nor a
// refusal: CheckRefundQueryFailed, which the gateway answers 500 so that
// WeChat Pay sends the notification again.
func TestNotifyV2RefundQueryFailed(t *testing.T) {
	genuine := ntVectorRefund(t)
	key := ntTestV2Key
	body := ntEncryptRefund(t, key, ntInnerXML(genuine))
	signed := func(key string, a map[string]string) func(http.ResponseWriter, *http.Request, map[string]string) {
		return func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
			_, _ = w.Write(signedV2(a, key, signing.SignTypeMD5))
		}
	}
	redirected := false
	for _, tc := range []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request, map[string]string)
		down   bool
	}{
		{"unreachable", nil, true},
		{"return_code FAIL", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
			_, _ = w.Write([]byte("<xml><return_code>FAIL</return_code><return_msg>签名错误</return_msg></xml>"))
		}, false},
		{"answer signed with another key", signed("ffffffffffffffffffffffffffffffff", map[string]string{"return_code": "SUCCESS", "result_code": "SUCCESS",
			"mch_id": ntTestMchID, "out_refund_no_0": genuine["out_refund_no"]}), false},
		{"unsigned answer", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
			_, _ = w.Write(wxpay.EncodeXML(map[string]string{"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_id": ntTestMchID}))
		}, false},
		{"SYSTEMERROR", signed(key, map[string]string{"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "SYSTEMERROR", "mch_id": ntTestMchID}), false},
		{"HTTP 503", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}, false},
		{"redirect", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
			redirected = true
		}, false},
		{"answer too large", func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
			_, _ = w.Write([]byte("<xml><a>" + strings.Repeat("x", 2<<20) + "</a></xml>"))
		}, false},
	} {
		q := newRefundFake(t, key, genuine)
		q.v2Write = tc.answer
		v := q.verifier(ntTestMchID)
		if tc.down {
			q.srv.Close()
		}
		_, err := v.VerifyV2(ntBg, body)
		if ntCheckOf(err) != wxpay.CheckRefundQueryFailed {
			t.Errorf("%s: got %v, want refund_query_failed", tc.name, err)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("%s: the error holds the key", tc.name)
		}
		if tc.name == "redirect" && (!redirected || q.calls.Load() != 1) {
			t.Errorf("redirect: %d calls: the redirect was followed", q.calls.Load())
		}
	}
}

// The decrypted req_info must name each field once: a duplicate (a block
// repeated) is malformed (400), and no query is made for it.
func TestNotifyV2RefundDuplicateField(t *testing.T) {
	genuine := ntVectorRefund(t)
	q := newRefundFake(t, ntTestV2Key, genuine)
	inner := ntInnerXML(genuine)
	inner = bytes.Replace(inner, []byte("</root>"), []byte("<refund_fee><![CDATA[1]]></refund_fee></root>"), 1)
	_, err := q.verifier(ntTestMchID).VerifyV2(ntBg, ntEncryptRefund(t, ntTestV2Key, inner))
	if ntCheckOf(err) != wxpay.CheckMalformed || !strings.Contains(err.Error(), "refund_fee") {
		t.Fatalf("got %v, want malformed naming refund_fee", err)
	}
	if q.calls.Load() != 0 {
		t.Errorf("%d refund queries for a malformed req_info", q.calls.Load())
	}
}

// WeChat Pay signs no empty value: empty fields appended to a genuine
// notification (outside or inside req_info) never reach the event.
func TestNotifyV2EmptyFieldsDropped(t *testing.T) {
	p := ntV2PaymentParams()
	body := ntSignedV2(t, p, ntTestV2Key, "")
	body = bytes.Replace(body, []byte("</xml>"), []byte("<x></x><coupon_fee><![CDATA[]]></coupon_fee><req_info_x/></xml>"), 1)
	n, err := (&wxpay.NotifyVerifier{Key: ntTestV2Key}).VerifyV2(ntBg, body)
	if err != nil {
		t.Fatal(err)
	}
	raw := n.Event.(*wxpay.NotifyPayment).Raw
	for _, k := range []string{"x", "couponFee", "reqInfoX"} {
		if _, ok := raw[k]; ok {
			t.Errorf("payment raw holds the unsigned empty field %s", k)
		}
	}
	if len(raw) != len(p) {
		t.Errorf("payment raw has %d fields, want the %d signed ones: %v", len(raw), len(p), raw)
	}

	genuine := ntVectorRefund(t)
	q := newRefundFake(t, ntTestV2Key, genuine)
	inner := bytes.Replace(ntInnerXML(genuine), []byte("</root>"), []byte("<cash_refund_fee></cash_refund_fee><y/></root>"), 1)
	ct, err := signing.EncryptWxpayRefundReqInfo(inner, ntTestV2Key)
	if err != nil {
		t.Fatal(err)
	}
	n, err = q.verifier(ntTestMchID).VerifyV2(ntBg, ntRefundXML(ct, map[string]string{"x": " "}))
	if err != nil {
		t.Fatal(err)
	}
	rraw := n.Event.(*wxpay.NotifyRefund).Raw
	for _, k := range []string{"cashRefundFee", "y", "x"} {
		if _, ok := rraw[k]; ok {
			t.Errorf("refund raw holds %s", k)
		}
	}
}
