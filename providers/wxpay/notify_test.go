package wxpay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

func TestNotifyV2SignVector(t *testing.T) {
	vec, _ := loadVectors(t)
	v := &wxpay.NotifyVerifier{Key: vec.WxpayV2Sign.Key}
	for _, tc := range []struct {
		signType, sign string
	}{
		{"", vec.WxpayV2Sign.MD5},
		{"HMAC-SHA256", vec.WxpayV2Sign.HMACSHA256},
	} {
		p := map[string]string{}
		for k, val := range vec.WxpayV2Sign.Params {
			p[k] = val
		}
		// The vector's HMAC-SHA256 sign is computed without sign_type:
		// that case checks the fallback for a notification that leaves
		// sign_type out.
		p["sign"] = tc.sign
		// The vector is a request, not a notification: the signature must
		// pass and the missing return_code be the refusal.
		_, err := v.VerifyV2(ntBg, ntV2XML(p))
		if got := ntCheckOf(err); got != wxpay.CheckMalformed || !strings.Contains(err.Error(), "return_code") {
			t.Errorf("%s vector: got %v, want a signature that verifies and a malformed refusal", tc.signType, err)
		}
		// Lowercase hex is accepted (WeChat Pay compares case-insensitively).
		p["sign"] = strings.ToLower(tc.sign)
		if _, err := v.VerifyV2(ntBg, ntV2XML(p)); ntCheckOf(err) != wxpay.CheckMalformed {
			t.Errorf("%s vector, lowercase: %v", tc.signType, err)
		}
		// One field changed.
		p["sign"] = tc.sign
		p["body"] = "test2"
		if _, err := v.VerifyV2(ntBg, ntV2XML(p)); ntCheckOf(err) != wxpay.CheckSignature {
			t.Errorf("%s vector tampered: got %v, want signature", tc.signType, err)
		}
	}
}

func TestNotifyV2Payment(t *testing.T) {
	v := &wxpay.NotifyVerifier{AppID: ntTestAppID, MchID: ntTestMchID, Key: ntTestV2Key}
	for _, st := range []string{"", "MD5", "HMAC-SHA256"} {
		p := ntV2PaymentParams()
		if st != "" {
			p["sign_type"] = st
		}
		n, err := v.VerifyV2(ntBg, ntSignedV2(t, p, ntTestV2Key, st))
		if err != nil {
			t.Fatalf("sign_type %q: %v", st, err)
		}
		if n.Version != wxpay.NotifyV2 || n.Kind != wxpay.NotifyPaymentKind {
			t.Fatalf("got %s %s", n.Version, n.Kind)
		}
		e := n.Event.(*wxpay.NotifyPayment)
		want := wxpay.NotifyPayment{Provider: "wxpay", Type: "payment", OutTradeNo: "1409811653",
			TransactionID: "1004400740201409030005092168", TotalFee: 1, CashFee: 1, FeeType: "CNY",
			TimeEnd: "20140903131540", OpenID: "oUpF8uMEb4qRXf22hE3X68TekukE", TradeState: "SUCCESS"}
		got := *e
		got.Raw = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event\n got %+v\nwant %+v", got, want)
		}
		if e.Raw["appId"] != ntTestAppID || e.Raw["mchId"] != ntTestMchID || e.Raw["outTradeNo"] != "1409811653" ||
			e.Raw["attach"] != "支付测试 <&>" || e.Raw["totalFee"] != "1" {
			t.Errorf("raw: %v", e.Raw)
		}
		if _, ok := e.Raw["sign"]; ok {
			t.Error("raw keeps sign")
		}
	}
}

// A notification for an HMAC-SHA256 order that leaves sign_type out is still
// checked (the 64-digit sign only fits HMAC-SHA256).
func TestNotifyV2HMACWithoutSignType(t *testing.T) {
	v := &wxpay.NotifyVerifier{Key: ntTestV2Key}
	p := ntV2PaymentParams()
	if _, err := v.VerifyV2(ntBg, ntSignedV2(t, p, ntTestV2Key, "HMAC-SHA256")); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyV2(ntBg, ntSignedV2(t, p, "another key", "HMAC-SHA256")); ntCheckOf(err) != wxpay.CheckSignature {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestNotifyV2PaymentRefused(t *testing.T) {
	base := ntV2PaymentParams()
	v := &wxpay.NotifyVerifier{AppID: ntTestAppID, MchID: ntTestMchID, Key: ntTestV2Key}
	with := func(k, val string) map[string]string {
		p := ntV2PaymentParams()
		if val == "" {
			delete(p, k)
		} else {
			p[k] = val
		}
		return p
	}
	good := ntSignedV2(t, base, ntTestV2Key, "")
	cases := []struct {
		name  string
		body  []byte
		v     *wxpay.NotifyVerifier
		check string
	}{
		{"tampered total_fee", bytes.Replace(good, []byte("<total_fee><![CDATA[1]]>"), []byte("<total_fee><![CDATA[100]]>"), 1), v, wxpay.CheckSignature},
		{"tampered out_trade_no", bytes.Replace(good, []byte("1409811653"), []byte("1409811654"), 1), v, wxpay.CheckSignature},
		{"wrong key", ntSignedV2(t, base, "0123456789abcdef0123456789abcdef", ""), v, wxpay.CheckSignature},
		{"missing sign", ntV2XML(base), v, wxpay.CheckSignature},
		{"empty sign", ntV2XML(with("sign", "")), v, wxpay.CheckSignature},
		{"unknown sign_type", ntSignedV2(t, with("sign_type", "SHA1"), ntTestV2Key, "MD5"), v, wxpay.CheckSignature},
		{"signed as MD5, says HMAC", ntSignedV2(t, with("sign_type", "HMAC-SHA256"), ntTestV2Key, "MD5"), v, wxpay.CheckSignature},
		{"wrong appid", ntSignedV2(t, with("appid", "wx0000000000000000"), ntTestV2Key, ""), v, wxpay.CheckMerchant},
		{"wrong mch_id", ntSignedV2(t, with("mch_id", "1900000000"), ntTestV2Key, ""), v, wxpay.CheckMerchant},
		{"no mch_id", ntSignedV2(t, with("mch_id", ""), ntTestV2Key, ""), v, wxpay.CheckMerchant},
		{"return_code FAIL unsigned", []byte("<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[x]]></return_msg></xml>"), v, wxpay.CheckSignature},
		{"no total_fee", ntSignedV2(t, with("total_fee", ""), ntTestV2Key, ""), v, wxpay.CheckMalformed},
		{"negative total_fee", ntSignedV2(t, with("total_fee", "-1"), ntTestV2Key, ""), v, wxpay.CheckMalformed},
		{"decimal total_fee", ntSignedV2(t, with("total_fee", "0.01"), ntTestV2Key, ""), v, wxpay.CheckMalformed},
		{"no key configured", good, &wxpay.NotifyVerifier{}, wxpay.CheckSignature},
		{"garbage", []byte("\x00\x01garbage"), v, wxpay.CheckMalformed},
		{"empty", nil, v, wxpay.CheckMalformed},
		{"json to v2", []byte(`{"a":1}`), v, wxpay.CheckMalformed},
	}
	for _, tc := range cases {
		n, err := tc.v.VerifyV2(ntBg, tc.body)
		if n != nil || ntCheckOf(err) != tc.check {
			t.Errorf("%s: got %v, want check %s", tc.name, err, tc.check)
		}
	}
	// The merchant check is skipped when nothing is configured.
	if _, err := (&wxpay.NotifyVerifier{Key: ntTestV2Key}).VerifyV2(ntBg, ntSignedV2(t, with("appid", "wx0000000000000000"), ntTestV2Key, "")); err != nil {
		t.Errorf("no merchant configured: %v", err)
	}
}

func TestNotifyV2PaymentResultFail(t *testing.T) {
	p := ntV2PaymentParams()
	p["result_code"] = "FAIL"
	p["err_code"] = "SYSTEMERROR"
	n, err := (&wxpay.NotifyVerifier{Key: ntTestV2Key}).VerifyV2(ntBg, ntSignedV2(t, p, ntTestV2Key, ""))
	if err != nil {
		t.Fatal(err)
	}
	if s := n.Event.(*wxpay.NotifyPayment).TradeState; s != "PAYERROR" {
		t.Fatalf("tradeState %s", s)
	}
}

func ntRefundXML(reqInfo string, extra map[string]string) []byte {
	p := map[string]string{
		"return_code": "SUCCESS",
		"appid":       ntTestAppID,
		"mch_id":      ntTestMchID,
		"nonce_str":   "TeqClE3i0mvn3DrK",
		"req_info":    reqInfo,
	}
	for k, v := range extra {
		if v == "" {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	return ntV2XML(p)
}

func TestNotifyV2RefundVector(t *testing.T) {
	vec, _ := loadVectors(t)
	rv := vec.WxpayV2RefundReqInfo
	q := newRefundFake(t, rv.Key, ntVectorRefund(t))
	v := q.verifier(ntTestMchID)
	v.AppID = ntTestAppID
	n, err := v.VerifyV2(ntBg, ntRefundXML(rv.ReqInfo, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The refund was confirmed with the refund query, by out_refund_no,
	// for the configured merchant.
	last := q.lastReq().Fields
	if q.calls.Load() != 1 || last["out_refund_no"] != "50fd012ed1b311e7af7800163e32c503" || last["mch_id"] != ntTestMchID || last["appid"] != ntTestAppID {
		t.Errorf("refund query: %d calls, last %v", q.calls.Load(), last)
	}
	if n.Kind != wxpay.NotifyRefundKind {
		t.Fatalf("kind %s", n.Kind)
	}
	e := n.Event.(*wxpay.NotifyRefund)
	got := *e
	got.Raw = nil
	want := wxpay.NotifyRefund{Provider: "wxpay", Type: "refund",
		OutTradeNo: "4893e76d8c8b434cb64e9cd536338e33", TransactionID: "4200000015201711256947025404",
		OutRefundNo: "50fd012ed1b311e7af7800163e32c503", RefundID: "50000404922017112502468056157",
		TotalFee: 6, RefundFee: 6, SettlementTotalFee: 6, SettlementRefundFee: 6, RefundStatus: "SUCCESS",
		RefundAccount: "REFUND_SOURCE_RECHARGE_FUNDS", RefundRecvAccout: "支付用户零钱"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event\n got %+v\nwant %+v", got, want)
	}
	if e.Raw["successTime"] != "2017-11-25 15:36:17" || e.Raw["refundId"] != "50000404922017112502468056157" {
		t.Errorf("raw %v", e.Raw)
	}
	// refund_request_source is not in a refund query answer: unconfirmed,
	// not forwarded.
	if _, ok := e.Raw["refundRequestSource"]; ok {
		t.Errorf("raw holds a field the refund query did not confirm: %v", e.Raw)
	}
	// The outer fields are not signed in a refund notification: not in raw.
	for _, k := range []string{"appId", "mchId", "returnCode", "nonceStr"} {
		if _, ok := e.Raw[k]; ok {
			t.Errorf("raw holds the unverified outer field %s", k)
		}
	}
	if _, ok := e.Raw["reqInfo"]; ok {
		t.Error("raw keeps the ciphertext")
	}

	ct := rv.ReqInfo
	for _, tc := range []struct {
		name  string
		body  []byte
		key   string
		check string
	}{
		{"wrong key", ntRefundXML(ct, nil), "ziR0QKsTUfMOuochC9RfCdmfHECorQAq", wxpay.CheckDecrypt},
		{"truncated", ntRefundXML(ct[:len(ct)-24], nil), rv.Key, wxpay.CheckDecrypt},
		{"not base64", ntRefundXML("!!"+ct[2:], nil), rv.Key, wxpay.CheckDecrypt},
		{"last block changed", ntRefundXML(ct[:len(ct)-8]+"AAAAAAA=", nil), rv.Key, wxpay.CheckDecrypt},
		{"empty req_info", []byte("<xml><return_code>SUCCESS</return_code><req_info></req_info></xml>"), rv.Key, wxpay.CheckDecrypt},
		{"wrong appid", ntRefundXML(ct, map[string]string{"appid": "wx0000000000000000"}), rv.Key, wxpay.CheckMerchant},
		{"wrong mch_id", ntRefundXML(ct, map[string]string{"mch_id": "1"}), rv.Key, wxpay.CheckMerchant},
		{"return_code FAIL", ntRefundXML(ct, map[string]string{"return_code": "FAIL"}), rv.Key, wxpay.CheckMalformed},
	} {
		v := q.verifier(ntTestMchID)
		v.AppID, v.Key = ntTestAppID, tc.key
		if n, err := v.VerifyV2(ntBg, tc.body); n != nil || ntCheckOf(err) != tc.check {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.check)
		}
	}
	if q.calls.Load() != 1 {
		t.Errorf("%d refund queries for notifications refused before the query", q.calls.Load()-1)
	}
}

// ntVectorRefund is the published refund vector's req_info fields.
func ntVectorRefund(tb testing.TB) map[string]string {
	tb.Helper()
	vec, _ := loadVectors(tb)
	m, err := wxpay.ParseNotifyXML([]byte(vec.WxpayV2RefundReqInfo.Plaintext), "root")
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// A req_info that decrypts but holds a hostile document is refused too.
func TestNotifyV2RefundInnerXML(t *testing.T) {
	for name, inner := range map[string]string{
		"doctype":    `<!DOCTYPE root [<!ENTITY x "y">]><root><out_refund_no>&x;</out_refund_no></root>`,
		"not root":   `<xml><out_refund_no>1</out_refund_no></xml>`,
		"no amounts": `<root><out_refund_no>1</out_refund_no></root>`,
	} {
		ct, err := signing.EncryptWxpayRefundReqInfo([]byte(inner), ntTestV2Key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = newRefundFake(t, ntTestV2Key).verifier(ntTestMchID).VerifyV2(ntBg, ntRefundXML(ct, nil))
		want := wxpay.CheckDecrypt
		if name == "no amounts" {
			want = wxpay.CheckMalformed
		}
		if ntCheckOf(err) != want {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseNotifyXML(t *testing.T) {
	ok := map[string]struct {
		in   string
		want map[string]string
	}{
		"cdata":       {"<xml><a><![CDATA[x<y]]></a><b>2</b></xml>", map[string]string{"a": "x<y", "b": "2"}},
		"decl":        {"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n <a>1</a>\n</xml>\n", map[string]string{"a": "1"}},
		"spaces kept": {"<xml><a> 1 </a></xml>", map[string]string{"a": " 1 "}},
		"entities":    {"<xml><a>&lt;&amp;&#x4e2d;</a></xml>", map[string]string{"a": "<&中"}},
		"mixed cdata": {"<xml><a>x<![CDATA[y]]>z</a></xml>", map[string]string{"a": "xyz"}},
		"empty":       {"<xml><a></a><b/></xml>", map[string]string{"a": "", "b": ""}},
		"comment":     {"<xml><!-- c --><a>1</a></xml>", map[string]string{"a": "1"}},
	}
	for name, tc := range ok {
		got, err := wxpay.ParseNotifyXML([]byte(tc.in), "xml")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v", name, got)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s=%q, want %q", name, k, got[k], v)
			}
		}
	}
	bad := map[string]string{
		"doctype":          `<!DOCTYPE xml><xml><a>1</a></xml>`,
		"xxe file":         `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>`,
		"xxe url":          `<!DOCTYPE xml [<!ENTITY xxe SYSTEM "http://127.0.0.1/">]><xml><a>&xxe;</a></xml>`,
		"billion laughs":   `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><a>&lol2;</a></xml>`,
		"parameter entity": `<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1/x.dtd"> %p;]><xml/>`,
		"undeclared ref":   `<xml><a>&xxe;</a></xml>`,
		"entity after":     `<xml><a>1</a></xml><!ENTITY x "y">`,
		"pi":               `<xml><?php echo 1; ?><a>1</a></xml>`,
		"stylesheet pi":    `<?xml-stylesheet href="x"?><xml><a>1</a></xml>`,
		"late decl":        `<xml><a>1</a></xml><?xml version="1.0"?>`,
		"gbk":              `<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`,
		"nested":           `<xml><a><b>1</b></a></xml>`,
		"duplicate":        `<xml><a>1</a><a>2</a></xml>`,
		"namespace":        `<xml xmlns:x="u"><x:a>1</x:a></xml>`,
		"text outside":     `<xml>oops<a>1</a></xml>`,
		"two roots":        `<xml><a>1</a></xml><xml><a>2</a></xml>`,
		"wrong root":       `<root><a>1</a></root>`,
		"unclosed":         `<xml><a>1</a>`,
		"mismatched":       `<xml><a>1</b></xml>`,
		"no root":          ``,
		"only text":        `hello`,
		"invalid utf8":     "<xml><a>\xff</a></xml>",
		"json":             `{"return_code":"SUCCESS"}`,
		"too large":        "<xml><a>" + strings.Repeat("x", 1<<20) + "</a></xml>",
		"too many fields":  "<xml>" + strings.Repeat("<a0/>", 1) + ntManyFields(201) + "</xml>",
	}
	for name, in := range bad {
		if got, err := wxpay.ParseNotifyXML([]byte(in), "xml"); err == nil {
			t.Errorf("%s: accepted: %v", name, got)
		} else if strings.Contains(err.Error(), "passwd") {
			t.Errorf("%s: error echoes input: %v", name, err)
		}
	}
}

func ntManyFields(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString("<f" + strconv.Itoa(i) + ">1</f" + strconv.Itoa(i) + ">")
	}
	return b.String()
}

// A signed v2 document carrying a DOCTYPE is refused before any signature
// work: the hostile parts never reach the verifier.
func TestNotifyV2DoctypeRefused(t *testing.T) {
	good := ntSignedV2(t, ntV2PaymentParams(), ntTestV2Key, "")
	body := append([]byte(`<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "1">]>`), good...)
	if _, err := (&wxpay.NotifyVerifier{Key: ntTestV2Key}).VerifyV2(ntBg, body); ntCheckOf(err) != wxpay.CheckMalformed {
		t.Fatalf("got %v", err)
	}
}

func TestNotifyV3Transaction(t *testing.T) {
	v := ntV3Verifier(t)
	h, body := ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: ntV3Transaction()}.build(t)
	n, err := v.Verify(ntBg, h, body)
	if err != nil {
		t.Fatal(err)
	}
	if n.Version != wxpay.NotifyV3 || n.Kind != wxpay.NotifyPaymentKind {
		t.Fatalf("%s %s", n.Version, n.Kind)
	}
	e := n.Event.(*wxpay.NotifyPayment)
	got := *e
	got.Raw = nil
	want := wxpay.NotifyPayment{Provider: "wxpay", Type: "payment", OutTradeNo: "1217752501201407033233368018",
		TransactionID: "1217752501201407033233368018", TotalFee: 100, CashFee: 90, FeeType: "CNY",
		TimeEnd: "20180608103456", OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", TradeState: "SUCCESS"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event\n got %+v\nwant %+v", got, want)
	}
	raw, _ := json.Marshal(e.Raw)
	for _, s := range []string{`"appId":"wxd678efh567hg6787"`, `"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`,
		`"payerTotal":90`, `"promotionDetail":[{"amount":10,"couponId":"109519"}]`, `"tradeStateDesc":"支付成功"`,
		`"notification":{"createTime":"2015-05-20T13:29:35+08:00","eventType":"TRANSACTION.SUCCESS","id":"EV-2018022511223320873"`} {
		if !strings.Contains(string(raw), s) {
			t.Errorf("raw lacks %s: %s", s, raw)
		}
	}
}

func TestNotifyV3TimeEndChinaTime(t *testing.T) {
	tx := ntV3Transaction()
	tx["success_time"] = "2018-06-08T02:34:56Z" // same instant as 10:34:56+08:00
	h, body := ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: tx}.build(t)
	n, err := ntV3Verifier(t).Verify(ntBg, h, body)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Event.(*wxpay.NotifyPayment).TimeEnd; got != "20180608103456" {
		t.Fatalf("timeEnd %s", got)
	}
}

func TestNotifyV3Refund(t *testing.T) {
	v := ntV3Verifier(t) // AppID configured: v3 refunds carry none and still pass
	for status, want := range map[string]string{"SUCCESS": "SUCCESS", "ABNORMAL": "CHANGE", "CLOSED": "REFUNDCLOSE"} {
		r := ntV3Refund()
		r["refund_status"] = status
		h, body := ntV3Notification{EventType: "REFUND." + status, Resource: r}.build(t)
		n, err := v.Verify(ntBg, h, body)
		if err != nil {
			t.Fatal(err)
		}
		e := n.Event.(*wxpay.NotifyRefund)
		got := *e
		got.Raw = nil
		w := wxpay.NotifyRefund{Provider: "wxpay", Type: "refund", OutTradeNo: "20150806125346",
			TransactionID: "1008450740201411110005820873", OutRefundNo: "7752501201407033233368018",
			RefundID: "50200207182018070300011301001", TotalFee: 999, RefundFee: 888, SettlementTotalFee: 990,
			SettlementRefundFee: 880, RefundStatus: want, RefundRecvAccout: "招商银行信用卡0403"}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", status, got, w)
		}
		if e.Raw["refundStatus"] != status || e.Raw["userReceivedAccount"] != "招商银行信用卡0403" {
			t.Errorf("raw %v", e.Raw)
		}
	}
}

func TestNotifyV3Refused(t *testing.T) {
	now := time.Now()
	tx := ntV3Transaction()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: tx}
	mod := func(f func(n *ntV3Notification)) ntV3Notification { n := good; f(&n); return n }
	withTx := func(k string, val any) map[string]any {
		m := ntV3Transaction()
		if val == nil {
			delete(m, k)
		} else {
			m[k] = val
		}
		return m
	}
	type tcase struct {
		name  string
		h     http.Header
		body  []byte
		check string
	}
	var cases []tcase
	add := func(name string, n ntV3Notification, check string) {
		h, b := n.build(t)
		cases = append(cases, tcase{name, h, b, check})
	}
	add("stale", mod(func(n *ntV3Notification) { n.Time = now.Add(-6 * time.Minute) }), wxpay.CheckFreshness)
	add("future", mod(func(n *ntV3Notification) { n.Time = now.Add(6 * time.Minute) }), wxpay.CheckFreshness)
	add("unknown serial", mod(func(n *ntV3Notification) { n.Serial = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C" }), wxpay.CheckSerial)
	add("other platform key", mod(func(n *ntV3Notification) { n.Key = other }), wxpay.CheckSignature)
	add("wrong APIv3 key", mod(func(n *ntV3Notification) { n.APIv3Key = "0123456789abcdef0123456789abcdef" }), wxpay.CheckDecrypt)
	add("not json inside", mod(func(n *ntV3Notification) { n.Plain = []byte("<xml/>") }), wxpay.CheckMalformed)
	add("wrong mchid", mod(func(n *ntV3Notification) { n.Resource = withTx("mchid", "1900000000") }), wxpay.CheckMerchant)
	add("no mchid", mod(func(n *ntV3Notification) { n.Resource = withTx("mchid", nil) }), wxpay.CheckMerchant)
	add("wrong appid", mod(func(n *ntV3Notification) { n.Resource = withTx("appid", "wx0000000000000000") }), wxpay.CheckMerchant)
	add("no amount", mod(func(n *ntV3Notification) { n.Resource = withTx("amount", nil) }), wxpay.CheckMalformed)
	add("float amount", mod(func(n *ntV3Notification) { n.Resource = withTx("amount", map[string]any{"total": 1.5}) }), wxpay.CheckMalformed)
	add("bad success_time", mod(func(n *ntV3Notification) { n.Resource = withTx("success_time", "2018-06-08 10:34:56") }), wxpay.CheckMalformed)
	add("unsupported event", mod(func(n *ntV3Notification) { n.EventType = "MCHTRANSFER.BILL.FINISHED" }), wxpay.CheckUnsupported)
	// Stale and wrong merchant: the merchant check comes first.
	add("stale and wrong mchid", mod(func(n *ntV3Notification) {
		n.Time = now.Add(-time.Hour)
		n.Resource = withTx("mchid", "1")
	}), wxpay.CheckMerchant)

	h, body := good.build(t)
	tampered := bytes.Replace(body, []byte(`"summary":"支付成功"`), []byte(`"summary":"支付成功 "`), 1)
	cases = append(cases, tcase{"one byte added", h, tampered, wxpay.CheckSignature})
	cases = append(cases, tcase{"trailing newline", h, append(append([]byte{}, body...), '\n'), wxpay.CheckSignature})

	// Truncated ciphertext, re-signed: the signature is right, the AEAD tag is not.
	var env map[string]any
	_ = json.Unmarshal(body, &env)
	res := env["resource"].(map[string]any)
	ct := res["ciphertext"].(string)
	for name, c := range map[string]string{"truncated ciphertext": ct[:len(ct)-8], "short ciphertext": "AAAA", "not base64": "***"} {
		res["ciphertext"] = c
		b, _ := json.Marshal(env)
		cases = append(cases, tcase{name, good.sign(t, b), b, wxpay.CheckDecrypt})
	}
	res["ciphertext"] = ct
	res["algorithm"] = "AEAD_AES_128_GCM"
	b, _ := json.Marshal(env)
	cases = append(cases, tcase{"other algorithm", good.sign(t, b), b, wxpay.CheckMalformed})
	delete(env, "resource")
	b, _ = json.Marshal(env)
	cases = append(cases, tcase{"no resource", good.sign(t, b), b, wxpay.CheckMalformed})
	cases = append(cases, tcase{"signed garbage", good.sign(t, []byte("{garbage")), []byte("{garbage"), wxpay.CheckMalformed})
	cases = append(cases, tcase{"two objects", good.sign(t, append(body, body...)), append(body, body...), wxpay.CheckMalformed})

	for _, hdr := range []string{"Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial"} {
		hh := h.Clone()
		hh.Del(hdr)
		cases = append(cases, tcase{"no " + hdr, hh, body, wxpay.CheckSignature})
	}
	hh := h.Clone()
	hh.Set("Wechatpay-Timestamp", "-1")
	cases = append(cases, tcase{"negative timestamp", hh, body, wxpay.CheckSignature})
	hh = h.Clone()
	hh.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+hh.Get("Wechatpay-Signature"))
	cases = append(cases, tcase{"signature probe", hh, body, wxpay.CheckSignature})
	hh = h.Clone()
	signedAt, _ := strconv.ParseInt(h.Get("Wechatpay-Timestamp"), 10, 64)
	hh.Set("Wechatpay-Timestamp", strconv.FormatInt(signedAt+1, 10))
	cases = append(cases, tcase{"timestamp changed", hh, body, wxpay.CheckSignature})

	v := ntV3Verifier(t)
	for _, tc := range cases {
		if n, err := v.Verify(ntBg, tc.h, tc.body); n != nil || ntCheckOf(err) != tc.check {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.check)
		}
	}
	// v3 not configured.
	if _, err := (&wxpay.NotifyVerifier{Key: ntTestV2Key}).Verify(ntBg, h, body); ntCheckOf(err) != wxpay.CheckSignature {
		t.Errorf("v3 unconfigured: %v", err)
	}
}

func TestNotifyV3MaxSkew(t *testing.T) {
	at := time.Unix(1700000000, 0)
	h, body := ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: ntV3Transaction(), Time: at}.build(t)
	for _, tc := range []struct {
		now  time.Time
		skew time.Duration
		ok   bool
	}{
		{at, 0, true},
		{at.Add(5 * time.Minute), 0, true},
		{at.Add(-5 * time.Minute), 0, true},
		{at.Add(5*time.Minute + time.Second), 0, false},
		{at.Add(-5*time.Minute - time.Second), 0, false},
		{at.Add(time.Hour), 2 * time.Hour, true},
		{at.Add(-time.Minute), 30 * time.Second, false},
	} {
		v := ntV3Verifier(t)
		v.Now = func() time.Time { return tc.now }
		v.MaxSkew = tc.skew
		_, err := v.Verify(ntBg, h, body)
		if (err == nil) != tc.ok || (err != nil && ntCheckOf(err) != wxpay.CheckFreshness) {
			t.Errorf("now %v skew %v: %v", tc.now.Sub(at), tc.skew, err)
		}
	}
}

type ntRefreshingKeys struct {
	keys      wxpay.StaticPlatformKeys
	pending   wxpay.StaticPlatformKeys
	refreshes atomic.Int32
}

func (r *ntRefreshingKeys) PlatformKey(s string, at time.Time) (*rsa.PublicKey, bool) {
	return r.keys.PlatformKey(s, at)
}
func (r *ntRefreshingKeys) RefreshPlatformKeys(context.Context) error {
	r.refreshes.Add(1)
	for k, v := range r.pending {
		r.keys[k] = v
	}
	return nil
}

func TestNotifyV3UnknownSerialRefreshOnce(t *testing.T) {
	pub := &ntPlatformKey(t).PublicKey
	src := &ntRefreshingKeys{keys: wxpay.StaticPlatformKeys{}, pending: wxpay.StaticPlatformKeys{"NEWSERIAL": pub}}
	v := ntV3Verifier(t)
	v.PlatformKeys = src
	h, body := ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: ntV3Transaction(), Serial: "newserial"}.build(t)
	if _, err := v.Verify(ntBg, h, body); err != nil {
		t.Fatal(err)
	}
	if n := src.refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes", n)
	}
	// Known now: no more refreshes.
	if _, err := v.Verify(ntBg, h, body); err != nil || src.refreshes.Load() != 1 {
		t.Fatalf("%v, %d refreshes", err, src.refreshes.Load())
	}
	// Still unknown after a refresh: refused, one refresh only.
	h, body = ntV3Notification{EventType: "TRANSACTION.SUCCESS", Resource: ntV3Transaction(), Serial: "OTHER"}.build(t)
	if _, err := v.Verify(ntBg, h, body); ntCheckOf(err) != wxpay.CheckSerial || src.refreshes.Load() != 2 {
		t.Fatalf("%v, %d refreshes", err, src.refreshes.Load())
	}
}

// The official response-verification vector goes through the same
// signature path: it verifies (and is then refused as not a notification),
// and one added byte makes it a signature failure.
func TestNotifyV3OfficialSignatureVector(t *testing.T) {
	vec, _ := loadVectors(t)
	rv := vec.WxpayV3ResponseVerification
	pub, err := signing.ParseRSAPublicKey(ntReadVectorFile(t, rv.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, val := range rv.Headers {
		h.Set(k, val)
	}
	h.Set("Wechatpay-Serial", "PUB_KEY_ID_0000000000000024101100397200000006")
	ts, _ := strconv.ParseInt(rv.Headers["Wechatpay-Timestamp"], 10, 64)
	v := &wxpay.NotifyVerifier{APIv3Key: ntTestAPIv3Key,
		PlatformKeys: wxpay.StaticPlatformKeys{"PUB_KEY_ID_0000000000000024101100397200000006": pub},
		Now:          func() time.Time { return time.Unix(ts, 0) }}
	_, err = v.Verify(ntBg, h, []byte(rv.Body))
	if ntCheckOf(err) != wxpay.CheckMalformed || !strings.Contains(err.Error(), "resource") {
		t.Fatalf("official vector: %v", err)
	}
	_, err = v.Verify(ntBg, h, []byte(rv.Body+" "))
	if ntCheckOf(err) != wxpay.CheckSignature {
		t.Fatalf("one added byte: %v", err)
	}
}

// The official AEAD vector decrypts through the notification path (its
// plaintext "message" is then refused as not JSON); a wrong key does not.
func TestNotifyV3OfficialAEADVector(t *testing.T) {
	vec, _ := loadVectors(t)
	c := vec.WxpayV3AEAD.Cases[0]
	body, _ := json.Marshal(map[string]any{
		"id": "EV-1", "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
		"resource": map[string]string{"algorithm": "AEAD_AES_256_GCM", "ciphertext": c.Ciphertext,
			"associated_data": c.AssociatedData, "nonce": c.Nonce, "original_type": "transaction"},
	})
	n := ntV3Notification{}
	h := n.sign(t, body)
	v := ntV3Verifier(t)
	v.APIv3Key = c.APIV3Key
	if _, err := v.Verify(ntBg, h, body); ntCheckOf(err) != wxpay.CheckMalformed {
		t.Fatalf("vector: %v", err)
	}
	v.APIv3Key = ntTestAPIv3Key[:31] + "X"
	if _, err := v.Verify(ntBg, h, body); ntCheckOf(err) != wxpay.CheckDecrypt {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestDetectNotifyVersion(t *testing.T) {
	h := http.Header{}
	if wxpay.DetectNotifyVersion(h, []byte("<xml/>")) != wxpay.NotifyV2 ||
		wxpay.DetectNotifyVersion(h, []byte(" \n{}")) != wxpay.NotifyV3 ||
		wxpay.DetectNotifyVersion(h, nil) != wxpay.NotifyV2 {
		t.Fatal("by body")
	}
	h.Set("Wechatpay-Signature", "x")
	if wxpay.DetectNotifyVersion(h, []byte("<xml/>")) != wxpay.NotifyV3 {
		t.Fatal("by header")
	}
}

// Error messages carry neither keys nor notification secrets.
func TestNotifyErrorsCarryNoSecrets(t *testing.T) {
	p := ntV2PaymentParams()
	v := &wxpay.NotifyVerifier{AppID: ntTestAppID, MchID: ntTestMchID, Key: ntTestV2Key, APIv3Key: ntTestAPIv3Key}
	for _, body := range [][]byte{ntSignedV2(t, p, "wrong", ""), ntV2XML(p), ntRefundXML("AAAA", nil)} {
		_, err := v.VerifyV2(ntBg, body)
		if err == nil || strings.Contains(err.Error(), ntTestV2Key) || strings.Contains(err.Error(), ntTestAPIv3Key) {
			t.Errorf("%v", err)
		}
		var ne *wxpay.NotifyError
		if !errors.As(err, &ne) {
			t.Errorf("not a NotifyError: %T", err)
		}
	}
}
