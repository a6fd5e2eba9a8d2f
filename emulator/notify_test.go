package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func notifyTestKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Every notification the emulator builds is signed (and encrypted) as the
// provider's and says, field by field, what the order says.
func TestNotifyMessagesVerify(t *testing.T) {
	key := notifyTestKey(t)
	const v2Key, v3Key = "0123456789abcdef0123456789abcdef", "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) // 15:08:09 in China
	o := NotifyOrder{AppID: "wx1234567890abcdef", MchID: "1900000109", OutTradeNo: "T-1]]>x",
		TransactionID: "4200000001", TotalFee: 1234, CashFee: 1200, OpenID: "oUser", Time: when,
		Attach: "a<b>", OutRefundNo: "R-1", RefundID: "5000001", RefundFee: 234}
	signer := WxpayV3NotifySigner{PlatformKey: key, Serial: "SERIAL1", APIv3Key: v3Key}
	keys := map[string]*rsa.PublicKey{"SERIAL1": &key.PublicKey}
	want := func(t *testing.T, name string, got map[string]string, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got[k], v)
			}
		}
	}

	payment := map[string]string{"appid": o.AppID, "mch_id": o.MchID, "out_trade_no": o.OutTradeNo, "transaction_id": "4200000001",
		"total_fee": "1234", "cash_fee": "1200", "fee_type": "CNY", "time_end": "20240506150809", "openid": "oUser",
		"return_code": "SUCCESS", "result_code": "SUCCESS", "attach": "a<b>"}
	for _, st := range []string{"MD5", "HMAC-SHA256"} {
		m, err := WxpayV2PaymentNotification(o, v2Key, st)
		if err != nil {
			t.Fatal(err)
		}
		want(t, "v2 payment "+st, v2Notice(t, m.Body, v2Key), payment)
	}
	m, err := WxpayV2RefundNotification(o, v2Key)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "v2 refund", v2RefundNotice(t, m.Body, v2Key), map[string]string{"out_trade_no": o.OutTradeNo, "transaction_id": "4200000001",
		"out_refund_no": "R-1", "refund_id": "5000001", "total_fee": "1234", "refund_fee": "234", "settlement_total_fee": "1234",
		"settlement_refund_fee": "234", "refund_status": "SUCCESS", "success_time": "2024-05-06 15:08:09",
		"refund_recv_accout": "支付用户零钱", "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS"})

	m, err = WxpayV3TransactionNotification(o, signer)
	if err != nil {
		t.Fatal(err)
	}
	tx := v3Notice(t, m, keys, v3Key)
	if tx["event_type"] != "TRANSACTION.SUCCESS" || tx["out_trade_no"] != o.OutTradeNo || tx["transaction_id"] != "4200000001" ||
		tx["trade_state"] != "SUCCESS" || tx["success_time"] != "2024-05-06T15:08:09+08:00" || at(tx, "payer", "openid") != "oUser" ||
		jsonInt(at(tx, "amount", "total")) != 1234 || jsonInt(at(tx, "amount", "payer_total")) != 1200 || at(tx, "amount", "currency") != "CNY" ||
		tx["attach"] != "a<b>" || tx["appid"] != o.AppID || tx["mchid"] != o.MchID {
		t.Errorf("v3 transaction %v", tx)
	}
	m, err = WxpayV3RefundNotification(o, signer)
	if err != nil {
		t.Fatal(err)
	}
	rf := v3Notice(t, m, keys, v3Key)
	if rf["event_type"] != "REFUND.SUCCESS" || rf["out_refund_no"] != "R-1" || rf["refund_id"] != "5000001" || rf["refund_status"] != "SUCCESS" ||
		jsonInt(at(rf, "amount", "total")) != 1234 || jsonInt(at(rf, "amount", "refund")) != 234 ||
		jsonInt(at(rf, "amount", "payer_total")) != 1200 || jsonInt(at(rf, "amount", "payer_refund")) != 234 ||
		rf["user_received_account"] != "支付用户零钱" || rf["success_time"] != "2024-05-06T15:08:09+08:00" {
		t.Errorf("v3 refund %v", rf)
	}

	m, err = AlipayTradeNotification(o, key)
	if err != nil {
		t.Fatal(err)
	}
	trade := map[string]string{"app_id": o.AppID, "out_trade_no": o.OutTradeNo, "trade_no": "4200000001", "trade_status": "TRADE_SUCCESS",
		"total_amount": "12.34", "receipt_amount": "12.00", "buyer_pay_amount": "12.00", "invoice_amount": "12.00",
		"gmt_payment": "2024-05-06 15:08:09", "buyer_open_id": "oUser", "passback_params": "a<b>", "sign_type": "RSA2"}
	want(t, "alipay trade", aliNotice(t, m.Body, &key.PublicKey), trade)
	full := o
	full.RefundFee = full.TotalFee
	m, err = AlipayRefundNotification(full, key)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "alipay refund", aliNotice(t, m.Body, &key.PublicKey), map[string]string{"out_trade_no": o.OutTradeNo,
		"refund_fee": "12.34", "out_biz_no": "R-1", "trade_status": "TRADE_CLOSED"})
}

func TestSendNotification(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "success")
	}))
	defer srv.Close()
	status, answer, err := SendAlipayTrade(context.Background(), srv.URL+"/notify", NotifyOrder{AppID: "1", OutTradeNo: "T", TotalFee: 1}, notifyTestKey(t))
	if err != nil || status != 200 || string(answer) != "success" {
		t.Fatalf("%d %q %v", status, answer, err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/notify" || got.Header.Get("Content-Type") != "application/x-www-form-urlencoded; charset=utf-8" || len(body) == 0 {
		t.Fatalf("%s %s %v", got.Method, got.URL, got.Header)
	}
}
