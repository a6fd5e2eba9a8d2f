package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

func notifyTestKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Every notification the emulator builds passes the verifier and says what
// the order says.
func TestNotifyMessagesVerify(t *testing.T) {
	key := notifyTestKey(t)
	const v2Key, v3Key = "0123456789abcdef0123456789abcdef", "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) // 15:08:09 in China
	o := NotifyOrder{AppID: "wx1234567890abcdef", MchID: "1900000109", OutTradeNo: "T-1]]>x",
		TransactionID: "4200000001", TotalFee: 1234, CashFee: 1200, OpenID: "oUser", Time: at,
		Attach: "a<b>", OutRefundNo: "R-1", RefundID: "5000001", RefundFee: 234}
	// The v2 refund is confirmed with this emulator's refund query, which
	// holds the same refund.
	emu := New(Config{WxpayMerchants: []WxpayMerchant{{MchID: o.MchID, Key: v2Key}}})
	emu.wxpay().orders[orderKey(o.MchID, o.OutTradeNo)] = &wxOrder{appid: o.AppID, mchID: o.MchID, outTradeNo: o.OutTradeNo,
		transactionID: o.TransactionID, totalFee: o.TotalFee, state: "REFUND", paid: at,
		refunds: []*wxRefund{{outRefundNo: o.OutRefundNo, refundID: o.RefundID, status: "SUCCESS", fee: o.RefundFee, at: at}}}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	wx := &wxpay.NotifyVerifier{AppID: o.AppID, MchID: o.MchID, Key: v2Key, APIv3Key: v3Key, Endpoint: srv.URL,
		PlatformKeys: wxpay.StaticPlatformKeys{"SERIAL1": &key.PublicKey}}
	signer := WxpayV3NotifySigner{PlatformKey: key, Serial: "SERIAL1", APIv3Key: v3Key}
	ali := &alipay.NotifyVerifier{AppID: o.AppID, PublicKey: &key.PublicKey}

	payment := wxpay.NotifyPayment{Provider: "wxpay", Type: "payment", OutTradeNo: o.OutTradeNo,
		TransactionID: "4200000001", TotalFee: 1234, CashFee: 1200, FeeType: "CNY", TimeEnd: "20240506150809",
		OpenID: "oUser", TradeState: "SUCCESS"}
	refund := wxpay.NotifyRefund{Provider: "wxpay", Type: "refund", OutTradeNo: o.OutTradeNo,
		TransactionID: "4200000001", OutRefundNo: "R-1", RefundID: "5000001", TotalFee: 1234, RefundFee: 234,
		SettlementTotalFee: 1234, SettlementRefundFee: 234, RefundStatus: "SUCCESS",
		RefundRecvAccout: "支付用户零钱"}
	v2refund := refund
	v2refund.RefundAccount = "REFUND_SOURCE_RECHARGE_FUNDS"
	v3refund := refund
	v3refund.SettlementTotalFee = 1200

	for name, tc := range map[string]struct {
		build func() (*NotifyMessage, error)
		want  any
	}{
		"v2 payment MD5":  {func() (*NotifyMessage, error) { return WxpayV2PaymentNotification(o, v2Key, "MD5") }, payment},
		"v2 payment HMAC": {func() (*NotifyMessage, error) { return WxpayV2PaymentNotification(o, v2Key, "HMAC-SHA256") }, payment},
		"v2 refund":       {func() (*NotifyMessage, error) { return WxpayV2RefundNotification(o, v2Key) }, v2refund},
		"v3 transaction":  {func() (*NotifyMessage, error) { return WxpayV3TransactionNotification(o, signer) }, payment},
		"v3 refund":       {func() (*NotifyMessage, error) { return WxpayV3RefundNotification(o, signer) }, v3refund},
	} {
		m, err := tc.build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, err := wx.Verify(context.Background(), m.Header, m.Body)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, m.Body)
		}
		var got any
		switch e := n.Event.(type) {
		case *wxpay.NotifyPayment:
			c := *e
			c.Raw = nil
			got = c
		case *wxpay.NotifyRefund:
			c := *e
			c.Raw = nil
			got = c
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, tc.want)
		}
	}

	m, err := AlipayTradeNotification(o, key)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ali.Verify(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if e := n.Event.(*alipay.NotifyPayment); e.TotalFee != 1234 || e.CashFee != 1200 || e.TimeEnd != "20240506150809" ||
		e.TradeState != "SUCCESS" || e.OpenID != "oUser" || e.OutTradeNo != o.OutTradeNo || e.Raw["passbackParams"] != "a<b>" {
		t.Errorf("alipay trade: %+v", e)
	}
	full := o
	full.RefundFee = full.TotalFee
	m, err = AlipayRefundNotification(full, key)
	if err != nil {
		t.Fatal(err)
	}
	n, err = ali.Verify(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if e := n.Event.(*alipay.NotifyRefund); n.Kind != "refund" || e.RefundFee != 1234 || e.OutRefundNo != "R-1" ||
		e.Raw["tradeStatus"] != "TRADE_CLOSED" {
		t.Errorf("alipay refund: %+v", e)
	}
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
