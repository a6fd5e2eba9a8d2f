package unicloud

// Acceptance checks of §5 (unicloud_payment_notify wxpay | alipay), with
// notifications built here from the contract's text and sent by the
// emulator: what the backend receives, what the provider gets back, the
// refusals that never reach the backend, retries, secrets kept out of the
// logs.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

const payqaV2OK = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

var payqaOtherKey struct {
	k *rsa.PrivateKey
}

func payqaOther(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	if payqaOtherKey.k == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		payqaOtherKey.k = k
	}
	return payqaOtherKey.k
}

// payqaForwarded checks what the backend got for one accepted
// notification: method, path, Content-Type, the X-Unicloud-* headers (the
// caller's removed), the HMAC when hmacKey is set (none otherwise), and the
// body's members (numbers compared as integers).
func payqaForwarded(t *testing.T, e *payqaEnv, before int, path, provider, kind, hmacKey string, want map[string]any) map[string]any {
	t.Helper()
	if n := e.backend.n(); n != before+1 {
		t.Fatalf("the backend got %d requests, want 1", n-before)
	}
	g, m := e.backend.last(t)
	if g.Method != http.MethodPost || g.Path != path || g.Header.Get("Content-Type") != "application/json" ||
		g.Header.Get("X-Unicloud-Provider") != provider || g.Header.Get("X-Unicloud-Notify-Type") != kind || g.Header.Get("X-Unicloud-Forged") != "" {
		t.Errorf("backend got %s %s with headers %v", g.Method, g.Path, g.Header)
	}
	sig := g.Header.Get("X-Unicloud-Signature")
	if hmacKey == "" {
		if sig != "" {
			t.Errorf("without upstream_secret the backend got X-Unicloud-Signature %q", sig)
		}
	} else {
		mac := hmac.New(sha256.New, []byte(hmacKey))
		mac.Write(g.Body)
		if sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("X-Unicloud-Signature %q is not the HMAC-SHA256 of the body", sig)
		}
	}
	for k, v := range want {
		got := m[k]
		if n, ok := got.(json.Number); ok {
			if _, isInt := v.(int); !isInt || n.String() != fmt.Sprint(v) {
				t.Errorf("backend %s = %v, want %#v", k, got, v)
			}
			continue
		}
		if got != v {
			t.Errorf("backend %s = %#v, want %#v", k, got, v)
		}
	}
	if m["provider"] != provider || m["type"] != kind {
		t.Errorf("backend provider/type %v/%v", m["provider"], m["type"])
	}
	if _, ok := m["raw"].(map[string]any); !ok {
		t.Errorf("backend body has no raw object: %s", g.Body)
	}
	qaNoneOf(t, "backend body", g.Body, e.secrets()...)
	return m
}

// payqaRefused sends and checks a refusal: the status, the failure form,
// nothing at the backend.
func payqaRefused(t *testing.T, e *payqaEnv, what, path, ct string, body []byte, statuses []int, form func(string) bool, header ...string) {
	t.Helper()
	before := e.backend.n()
	status, answer, _ := e.send(t, path, ct, body, header...)
	ok := false
	for _, s := range statuses {
		ok = ok || status == s
	}
	if !ok || !form(answer) {
		t.Errorf("%s: provider got %d %q, want %v and the failure form", what, status, answer, statuses)
	}
	if e.backend.n() != before {
		t.Errorf("%s: a refused notification reached the backend", what)
	}
}

func payqaV2Fail(s string) bool {
	f := qaXMLFields([]byte(s))
	return f["return_code"] == "FAIL" && f["return_msg"] != ""
}

func payqaV3Fail(s string) bool {
	var f struct{ Code, Message string }
	return json.Unmarshal([]byte(s), &f) == nil && f.Code == "FAIL" && f.Message != ""
}

func payqaAliFail(s string) bool { return s == "fail" }

// payqaLogsClean checks the log: refusals lines of "payment notification
// refused", each with its check, and no secret anywhere.
func payqaLogsClean(t *testing.T, e *payqaEnv, want ...string) {
	t.Helper()
	checks := e.refusals(t)
	if strings.Join(checks, ",") != strings.Join(want, ",") {
		t.Errorf("refusal log lines name the checks %v, want %v", checks, want)
	}
	logs, _ := os.ReadFile(e.logFile)
	qaNoneOf(t, "the log", logs, e.secrets()...)
}

var payqaStatuses401 = []int{401}

// TestAcceptanceNotifyWxpayV2: a v2 payment result signed MD5, or
// HMAC-SHA256 when sign_type says so, reaches the backend as the
// contract's JSON with the headers and the HMAC, and WeChat Pay gets the
// exact SUCCESS XML; wrong signatures, merchant or appid, DOCTYPE,
// unreadable or oversized bodies never reach it and get the FAIL XML with
// 400/401 (413 for the size), one log line each, no secret logged.
func TestAcceptanceNotifyWxpayV2(t *testing.T) {
	e := payqaStart(t)
	xmlCT := "text/xml"
	for _, signType := range []string{"MD5", "HMAC-SHA256"} {
		f := payqaV2Payment("pq-n2-" + signType)
		if signType != "MD5" {
			f["sign_type"] = signType
		}
		before := e.backend.n()
		status, answer, h := e.send(t, "/notify/wx", xmlCT, payqaV2XML(f, payqaKey, signType),
			"X-Unicloud-Signature", "sha256=00", "X-Unicloud-Notify-Type", "refund", "X-Unicloud-Forged", "1")
		if status != 200 || answer != payqaV2OK || h.Get("X-Backend-Own") != "" {
			t.Errorf("%s: WeChat Pay got %d %q %v, want 200 and the SUCCESS XML only", signType, status, answer, h)
			continue
		}
		m := payqaForwarded(t, e, before, "/notify/wx", "wxpay", "payment", payqaHMACKey, map[string]any{
			"outTradeNo": "pq-n2-" + signType, "transactionId": "4200000000202403040000000042", "totalFee": 1234, "cashFee": 1200,
			"feeType": "CNY", "timeEnd": "20240304130607", "openid": "oPayqaPayer", "tradeState": "SUCCESS"})
		raw, _ := m["raw"].(map[string]any)
		if raw["attach"] != "a&b<c>" || raw["bankType"] != "CFT" || raw["mchId"] != payqaMch || raw["outTradeNo"] != "pq-n2-"+signType {
			t.Errorf("%s: raw %v", signType, raw)
		}
	}

	good := payqaV2XML(payqaV2Payment("pq-n2-bad"), payqaKey, "MD5")
	wrongApp := payqaV2Payment("pq-n2-bad")
	wrongApp["appid"] = "wx0000000000000other"
	wrongMch := payqaV2Payment("pq-n2-bad")
	wrongMch["mch_id"] = "1900000999"
	hmacClaimed := payqaV2Payment("pq-n2-bad")
	hmacClaimed["sign_type"] = "HMAC-SHA256"
	big := payqaV2Payment("pq-n2-big")
	big["attach"] = strings.Repeat("x", 5000)
	noSign := bytes.Replace(good, []byte("<sign><![CDATA["+qaXMLFields(good)["sign"]+"]]></sign>"), nil, 1)
	cases := []struct {
		what     string
		body     []byte
		statuses []int
	}{
		{"total_fee changed after signing", bytes.Replace(good, []byte("<total_fee><![CDATA[1234]]>"), []byte("<total_fee><![CDATA[1]]>"), 1), payqaStatuses401},
		{"signed with another key", payqaV2XML(payqaV2Payment("pq-n2-bad"), "payqa-other-key-0000000000000001", "MD5"), payqaStatuses401},
		{"sign_type HMAC-SHA256, signed MD5", payqaV2XML(hmacClaimed, payqaKey, "MD5"), payqaStatuses401},
		{"another appid", payqaV2XML(wrongApp, payqaKey, "MD5"), payqaStatuses401},
		{"another mch_id", payqaV2XML(wrongMch, payqaKey, "MD5"), payqaStatuses401},
		{"no sign", noSign, []int{400, 401}},
		{"a DOCTYPE before a signed body", append([]byte(`<?xml version="1.0"?><!DOCTYPE xml>`), good...), []int{400}},
		{"not XML", []byte("hello"), []int{400}},
		{"empty body", nil, []int{400}},
		{"over max_body 4KB", payqaV2XML(big, payqaKey, "MD5"), []int{413, 400}},
	}
	for _, tc := range cases {
		payqaRefused(t, e, tc.what, "/notify/wx", xmlCT, tc.body, tc.statuses, payqaV2Fail)
	}
	if !bytes.Contains(cases[0].body, []byte("[1]]>")) {
		t.Fatal("the tampered body was not changed")
	}

	// The backend does not answer 2xx: WeChat Pay gets FAIL with 500, and
	// its retry (the emulator pays the order again) succeeds once the
	// backend answers 2xx.
	status, m, raw := qaPost(t, e.base+"/pay/wx/getOrderInfo", `{"body":"b","outTradeNo":"pq-n2-retry","totalFee":88,"clientType":"native"}`)
	if !qaWant(t, "getOrderInfo", status, m, raw, 200, 0) {
		return
	}
	for i, tc := range []struct {
		backend int
		status  int
	}{{500, 500}, {404, 500}, {302, 500}, {200, 200}} {
		e.backend.status.Store(int32(tc.backend))
		before := e.backend.n()
		res := e.hook(t, "/_emulator/wxpay/pay?out_trade_no=pq-n2-retry", nil)
		answer := fmt.Sprint(res["notify_answer"])
		if num(res["notify_status"]) != int64(tc.status) || (tc.status == 200) != (answer == payqaV2OK) || (tc.status == 500 && !payqaV2Fail(answer)) {
			t.Errorf("attempt %d, backend %d: WeChat Pay got %v %q, want %d", i+1, tc.backend, res["notify_status"], answer, tc.status)
		}
		payqaForwarded(t, e, before, "/notify/wx", "wxpay", "payment", payqaHMACKey, map[string]any{"outTradeNo": "pq-n2-retry", "totalFee": 88})
	}
	e.backend.status.Store(204)
	payqaLogsClean(t, e, "signature", "signature", "signature", "merchant", "merchant", "signature", "malformed", "malformed", "malformed", "body_too_large")
}

// payqaTxn is an APIv3 transaction resource.
func payqaTxn(no, appid, mchid string) map[string]any {
	return map[string]any{"mchid": mchid, "appid": appid, "out_trade_no": no, "transaction_id": "4200000000202403040000000043",
		"trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "CMC", "attach": "x=1",
		"success_time": "2024-03-04T05:06:07+00:00", "payer": map[string]any{"openid": "oPayqaV3Payer"},
		"amount": map[string]any{"total": 1234, "payer_total": 1200, "currency": "CNY", "payer_currency": "CNY"}}
}

// TestAcceptanceNotifyWxpayV3: TRANSACTION.* and REFUND.* notifications
// signed with the platform key and encrypted with the APIv3 key reach the
// backend mapped (success_time converted to China time, payer.openid,
// amounts in fen; a refund carries no appid and passes app_id), WeChat Pay
// gets 204; signature, serial, freshness (max_skew 1m), decryption,
// merchant and appid failures get {"code":"FAIL"} with 401 and never reach
// the backend; a backend failure gives 500, and the emulator's retry
// succeeds.
func TestAcceptanceNotifyWxpayV3(t *testing.T) {
	e := payqaStart(t)
	ct := "application/json"
	now := time.Now()
	for _, age := range []time.Duration{0, 30 * time.Second} {
		body, h := payqaV3Notify(t, "TRANSACTION.SUCCESS", "transaction", payqaTxn("pq-n3-1", payqaWxApp, payqaMch3), payqaV3Key, payV3Keys.platform, payqaPubID, now.Add(-age))
		before := e.backend.n()
		status, answer, _ := e.send(t, "/notify/wx3", ct, body, append(h, "X-Unicloud-Signature", "sha256=forged", "X-Unicloud-Forged", "1")...)
		if status != 204 || answer != "" {
			t.Errorf("transaction %v old: WeChat Pay got %d %q, want 204 and no body", age, status, answer)
			continue
		}
		payqaForwarded(t, e, before, "/notify/wx3", "wxpay", "payment", "", map[string]any{
			"outTradeNo": "pq-n3-1", "transactionId": "4200000000202403040000000043", "totalFee": 1234, "cashFee": 1200,
			"feeType": "CNY", "timeEnd": "20240304130607", "openid": "oPayqaV3Payer", "tradeState": "SUCCESS"})
	}

	refund := map[string]any{"mchid": payqaMch3, "out_trade_no": "pq-n3-1", "transaction_id": "4200000000202403040000000043",
		"out_refund_no": "pq-n3-r1", "refund_id": "50300000000000000001", "refund_status": "SUCCESS",
		"success_time": "2024-03-04T13:10:00+08:00", "user_received_account": "支付用户零钱",
		"amount": map[string]any{"total": 1234, "refund": 234, "payer_total": 1200, "payer_refund": 200}}
	body, h := payqaV3Notify(t, "REFUND.SUCCESS", "refund", refund, payqaV3Key, payV3Keys.platform, payqaPubID, now)
	before := e.backend.n()
	if status, answer, _ := e.send(t, "/notify/wx3", ct, body, h...); status != 204 || answer != "" {
		t.Errorf("refund: WeChat Pay got %d %q, want 204", status, answer)
	} else {
		payqaForwarded(t, e, before, "/notify/wx3", "wxpay", "refund", "", map[string]any{
			"outTradeNo": "pq-n3-1", "transactionId": "4200000000202403040000000043", "outRefundNo": "pq-n3-r1",
			"refundId": "50300000000000000001", "totalFee": 1234, "refundFee": 234, "settlementTotalFee": 1200,
			"settlementRefundFee": 200, "refundStatus": "SUCCESS", "refundRecvAccout": "支付用户零钱"})
	}

	txn := payqaTxn("pq-n3-bad", payqaWxApp, payqaMch3)
	good, gh := payqaV3Notify(t, "TRANSACTION.SUCCESS", "transaction", txn, payqaV3Key, payV3Keys.platform, payqaPubID, now)
	build := func(res map[string]any, key string, signer *rsa.PrivateKey, serial string, ts time.Time) ([]byte, []string) {
		return payqaV3Notify(t, "TRANSACTION.SUCCESS", "transaction", res, key, signer, serial, ts)
	}
	var cases []struct {
		what string
		body []byte
		h    []string
		st   []int
	}
	add := func(what string, body []byte, h []string, st ...int) {
		cases = append(cases, struct {
			what string
			body []byte
			h    []string
			st   []int
		}{what, body, h, st})
	}
	add("body changed after signing", bytes.Replace(good, []byte(`"summary":"payqa"`), []byte(`"summary":"payqb"`), 1), gh, 401)
	b, hh := build(txn, payqaV3Key, payqaOther(t), payqaPubID, now)
	add("signed with another key", b, hh, 401)
	b, hh = build(txn, payqaV3Key, payV3Keys.platform, "PUB_KEY_ID_0000000000000000000000000000000000000009", now)
	add("unknown Wechatpay-Serial", b, hh, 401)
	b, hh = build(txn, payqaV3Key, payV3Keys.platform, payqaPubID, now.Add(-2*time.Minute))
	add("Wechatpay-Timestamp 2 minutes old (max_skew 1m)", b, hh, 401)
	b, hh = build(txn, "payqa-other-apiv3-key-0000000001", payV3Keys.platform, payqaPubID, now)
	add("encrypted with another APIv3 key", b, hh, 401)
	b, hh = build(payqaTxn("pq-n3-bad", payqaWxApp, "1900000999"), payqaV3Key, payV3Keys.platform, payqaPubID, now)
	add("another mchid", b, hh, 401)
	b, hh = build(payqaTxn("pq-n3-bad", "wx0000000000000other", payqaMch3), payqaV3Key, payV3Keys.platform, payqaPubID, now)
	add("another appid", b, hh, 401)
	add("no Wechatpay-Signature", good, gh[:6], 400, 401)
	junk := []byte(`{"id":`)
	add("unreadable JSON, signed", junk, payqaV3Headers(t, junk, payV3Keys.platform, payqaPubID, now), 400)
	for _, tc := range cases {
		payqaRefused(t, e, tc.what, "/notify/wx3", ct, tc.body, tc.st, payqaV3Fail, tc.h...)
	}

	// Backend failure: 500 and the FAIL JSON; the emulator's retry succeeds.
	status, m, raw := qaPost(t, e.base+"/pay/wx3/getOrderInfo", `{"body":"b","outTradeNo":"pq-n3-retry","totalFee":66,"clientType":"native"}`)
	if !qaWant(t, "getOrderInfo", status, m, raw, 200, 0) {
		return
	}
	for i, tc := range []struct{ backend, status int }{{503, 500}, {204, 204}} {
		e.backend.status.Store(int32(tc.backend))
		before := e.backend.n()
		res := e.hook(t, "/_emulator/wxpay/pay?out_trade_no=pq-n3-retry", nil)
		if num(res["notify_status"]) != int64(tc.status) || (tc.status == 500 && !payqaV3Fail(fmt.Sprint(res["notify_answer"]))) {
			t.Errorf("attempt %d, backend %d: WeChat Pay got %v %v, want %d", i+1, tc.backend, res["notify_status"], res["notify_answer"], tc.status)
		}
		payqaForwarded(t, e, before, "/notify/wx3", "wxpay", "payment", "", map[string]any{"outTradeNo": "pq-n3-retry", "totalFee": 66})
	}
	e.backend.status.Store(204)
	payqaLogsClean(t, e, "signature", "signature", "serial", "freshness", "decrypt", "merchant", "merchant", "signature", "malformed")
}

// TestAcceptanceNotifyAlipay: Alipay notifications signed RSA2, RSA, or
// with sign_type kept in the signed string, reach the backend with yuan
// converted to fen, gmt_payment as timeEnd, the trade states mapped, the
// buyer as openid (an empty buyer_open_id dropped), refund_fee/gmt_refund
// making a refund; Alipay gets "success"; tampered, foreign-key,
// foreign-app, unreadable and oversized (default max_body) notifications
// get "fail" with 400/401/413 and never reach the backend; a backend
// failure gives "fail" with 500.
func TestAcceptanceNotifyAlipay(t *testing.T) {
	e := payqaStart(t)
	ct := "application/x-www-form-urlencoded; charset=utf-8"
	type tcase struct {
		what     string
		change   map[string]string
		signType string
		keep     bool
		kind     string
		want     map[string]any
	}
	base := map[string]any{"outTradeNo": "pq-na", "transactionId": "2024030422001400000000000042", "totalFee": 1234, "cashFee": 1200,
		"feeType": "CNY", "timeEnd": "20240304130607", "openid": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5", "tradeState": "SUCCESS"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, tc := range []tcase{
		{"RSA2", nil, "RSA2", false, "payment", base},
		{"RSA", nil, "RSA", false, "payment", base},
		{"RSA2 signed with sign_type kept", nil, "RSA2", true, "payment", base},
		{"TRADE_FINISHED", map[string]string{"trade_status": "TRADE_FINISHED"}, "RSA2", false, "payment", with("tradeState", "FINISHED")},
		{"TRADE_CLOSED", map[string]string{"trade_status": "TRADE_CLOSED"}, "RSA2", false, "payment", with("tradeState", "CLOSED")},
		{"WAIT_BUYER_PAY", map[string]string{"trade_status": "WAIT_BUYER_PAY", "gmt_payment": "", "receipt_amount": ""}, "RSA2", false, "payment", with("tradeState", "USERPAYING", "timeEnd", "", "cashFee", 0)},
		{"0.10 yuan", map[string]string{"total_amount": "0.10", "receipt_amount": "0.10"}, "RSA2", false, "payment", with("totalFee", 10, "cashFee", 10)},
		{"buyer_id only", map[string]string{"buyer_open_id": ""}, "RSA2", false, "payment", with("openid", "2088102146225135")},
		{"refund", map[string]string{"refund_fee": "2.34", "gmt_refund": "2024-03-04 13:10:00.123", "out_biz_no": "pq-na-r1"}, "RSA2", false, "refund",
			map[string]any{"outTradeNo": "pq-na", "transactionId": "2024030422001400000000000042", "totalFee": 1234, "refundFee": 234, "outRefundNo": "pq-na-r1"}},
		{"gmt_refund only", map[string]string{"gmt_refund": "2024-03-04 13:10:00.123"}, "RSA2", false, "refund", map[string]any{"outTradeNo": "pq-na"}},
	} {
		f := payqaAliTrade("pq-na")
		for k, v := range tc.change {
			f[k] = v
		}
		body := payqaAliForm(t, f, payKeys.ali, tc.signType, tc.keep)
		if tc.what == "buyer_id only" && !bytes.Contains(body, []byte("buyer_open_id=&")) && !bytes.HasSuffix(body, []byte("buyer_open_id=")) {
			t.Fatalf("no empty buyer_open_id in %s", body) // empty: unsigned, to be dropped
		}
		before := e.backend.n()
		status, answer, _ := e.send(t, "/notify/ali", ct, body, "X-Unicloud-Forged", "1")
		if status != 200 || answer != "success" {
			t.Errorf("%s: Alipay got %d %q, want 200 success", tc.what, status, answer)
			continue
		}
		payqaForwarded(t, e, before, "/notify/ali", "alipay", tc.kind, payqaHMACKey, tc.want)
	}

	good := payqaAliForm(t, payqaAliTrade("pq-na-bad"), payKeys.ali, "RSA2", false)
	wrongApp := payqaAliTrade("pq-na-bad")
	wrongApp["app_id"] = "2021000000000999"
	big := payqaAliTrade("pq-na-big")
	big["body"] = strings.Repeat("y", 70*1024)
	cases := []struct {
		what string
		body []byte
		st   []int
	}{
		{"total_amount changed after signing", bytes.Replace(good, []byte("total_amount=12.34"), []byte("total_amount=0.01"), 1), []int{401}},
		{"signed with another key", payqaAliForm(t, payqaAliTrade("pq-na-bad"), payqaOther(t), "RSA2", false), []int{401}},
		{"another app_id", payqaAliForm(t, wrongApp, payKeys.ali, "RSA2", false), []int{401}},
		{"no sign", []byte("out_trade_no=pq-na-bad&trade_status=TRADE_SUCCESS&app_id=" + payqaAliApp + "&total_amount=1.00"), []int{400, 401}},
		{"unreadable form", []byte("%%%"), []int{400}},
		{"over the default max_body", payqaAliForm(t, big, payKeys.ali, "RSA2", false), []int{413, 400}},
	}
	if !bytes.Contains(cases[0].body, []byte("total_amount=0.01")) {
		t.Fatal("the tampered body was not changed")
	}
	for _, tc := range cases {
		payqaRefused(t, e, tc.what, "/notify/ali", ct, tc.body, tc.st, payqaAliFail)
	}

	e.backend.status.Store(500)
	before := e.backend.n()
	if status, answer, _ := e.send(t, "/notify/ali", ct, good); status != 500 || answer != "fail" || e.backend.n() != before+1 {
		t.Errorf("backend 500: Alipay got %d %q, want 500 fail", status, answer)
	}
	e.backend.status.Store(204)
	payqaLogsClean(t, e, "signature", "signature", "merchant", "signature", "malformed", "body_too_large")
}
