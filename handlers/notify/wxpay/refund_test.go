package wxpay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// notifyWxpay is the emulator standing in for WeChat Pay: it answers the
// refund query that confirms v2 refund notifications, and makes the
// refunds whose notifications the tests send.
type notifyWxpay struct {
	emu    *emulator.Server
	srv    *httptest.Server
	sink   *httptest.Server
	client *wxpay.Client
	got    chan []byte // refund notifications the emulator sent

	mu      sync.Mutex
	refunds map[string]notifyEmuRefund // by out_refund_no
}

type notifyEmuRefund struct {
	m                     *emulator.NotifyMessage
	transactionID, refund string
}

var (
	notifyWxpayOnce sync.Once
	notifyWxpayEmu  *notifyWxpay
)

// notifyTestWxpay is the package's emulated WeChat Pay (one for all tests,
// on loopback).
func notifyTestWxpay() *notifyWxpay {
	notifyWxpayOnce.Do(func() {
		e := &notifyWxpay{got: make(chan []byte, 1), refunds: map[string]notifyEmuRefund{}}
		e.emu = emulator.New(emulator.Config{WxpayMerchants: []emulator.WxpayMerchant{{MchID: notifyTestMchID, Key: notifyTestV2Key}}})
		e.srv = httptest.NewServer(e.emu)
		e.sink = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if r.URL.Path == "/refund" {
				e.got <- body
			}
			_, _ = io.WriteString(w, v2Success)
		}))
		e.client = &wxpay.Client{AppID: notifyTestAppID, MchID: notifyTestMchID, Key: notifyTestV2Key,
			Endpoint: e.srv.URL, HTTP: e.srv.Client(), CertHTTP: e.srv.Client()}
		notifyWxpayEmu = e
	})
	return notifyWxpayEmu
}

// refund has the emulator pay an order and refund fee of it, and returns
// the refund notification it sent (genuine: encrypted with the merchant's
// key, known to its refund query). The same outRefundNo gives the same
// notification.
func (e *notifyWxpay) refund(t testing.TB, outTradeNo, outRefundNo string, total, fee int64) notifyEmuRefund {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.refunds[outRefundNo]; ok {
		return r
	}
	ctx := context.Background()
	if _, err := e.client.Call(ctx, wxpay.APIUnifiedOrder, map[string]string{"body": "test", "out_trade_no": outTradeNo,
		"total_fee": strconv.FormatInt(total, 10), "spbill_create_ip": "127.0.0.1", "notify_url": e.sink.URL + "/pay",
		"trade_type": "JSAPI", "openid": "oUser1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.emu.PayWxpayOrder(ctx, notifyTestMchID, outTradeNo); err != nil {
		t.Fatal(err)
	}
	a, err := e.client.Call(ctx, wxpay.APIRefund, map[string]string{"out_trade_no": outTradeNo, "out_refund_no": outRefundNo,
		"total_fee": strconv.FormatInt(total, 10), "refund_fee": strconv.FormatInt(fee, 10), "notify_url": e.sink.URL + "/refund"})
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	select {
	case body = <-e.got:
	case <-time.After(10 * time.Second): // a bound, not a synchronisation
		t.Fatal("the emulator sent no refund notification")
	}
	r := notifyEmuRefund{m: &emulator.NotifyMessage{Header: http.Header{"Content-Type": {"text/xml"}}, Body: body},
		transactionID: a["transaction_id"], refund: a["refund_id"]}
	e.refunds[outRefundNo] = r
	return r
}

// order is the NotifyOrder of an emulator refund, for building notifications
// that differ from it.
func (r notifyEmuRefund) order(outTradeNo, outRefundNo string, total, fee int64) emulator.NotifyOrder {
	return emulator.NotifyOrder{AppID: notifyTestAppID, MchID: notifyTestMchID, OutTradeNo: outTradeNo,
		TransactionID: r.transactionID, TotalFee: total, OutRefundNo: outRefundNo, RefundID: r.refund, RefundFee: fee}
}

// A genuine v2 refund notification (made by the emulator) is confirmed with
// the refund query and forwarded with the confirmed fields only.
func TestNotifyV2RefundConfirmed(t *testing.T) {
	r := notifyTestWxpay().refund(t, "ORDER-C1", "REFUND-C1", 300, 120)
	n, logs := provisionNotify(t, wxpayNotify(t))
	next := &recordingNext{}
	w := serveNotify(t, n, next, r.m, nil)
	if w.Code != 200 || w.Body.String() != v2Success || next.calls != 1 {
		t.Fatalf("provider got %d %q; backend %d calls; logs %v", w.Code, w.Body.String(), next.calls, logs.All())
	}
	var ev struct {
		OutTradeNo, TransactionID, OutRefundNo, RefundID, RefundStatus string
		TotalFee, RefundFee, SettlementTotalFee, SettlementRefundFee   int64
		Raw                                                            map[string]any
	}
	if err := json.Unmarshal(next.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.OutTradeNo != "ORDER-C1" || ev.OutRefundNo != "REFUND-C1" || ev.TransactionID != r.transactionID || ev.RefundID != r.refund ||
		ev.TotalFee != 300 || ev.RefundFee != 120 || ev.SettlementTotalFee != 300 || ev.SettlementRefundFee != 120 || ev.RefundStatus != "SUCCESS" {
		t.Errorf("event %s", next.body)
	}
	if _, ok := ev.Raw["refundRequestSource"]; ok {
		t.Errorf("raw holds a field the refund query does not confirm: %v", ev.Raw)
	}
	if ev.Raw["successTime"] == nil || ev.Raw["refundRecvAccout"] != "支付用户零钱" || len(ev.Raw) != 12 {
		t.Errorf("raw %v", ev.Raw)
	}
}

// A v2 refund notification that decrypts but says what WeChat Pay's refund
// query does not is refused 401 and never forwarded; one WARN line names
// the check.
func TestNotifyV2RefundNotConfirmed(t *testing.T) {
	r := notifyTestWxpay().refund(t, "ORDER-C2", "REFUND-C2", 300, 120)
	must := func(m *emulator.NotifyMessage, err error) *emulator.NotifyMessage {
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	dup := func() *emulator.NotifyMessage {
		inner := []byte("<root><out_refund_no>REFUND-C2</out_refund_no><refund_fee>120</refund_fee><refund_fee>1</refund_fee></root>")
		ct, err := signing.EncryptWxpayRefundReqInfo(inner, notifyTestV2Key)
		if err != nil {
			t.Fatal(err)
		}
		return &emulator.NotifyMessage{Header: http.Header{}, Body: []byte("<xml><return_code>SUCCESS</return_code><appid>" + notifyTestAppID +
			"</appid><mch_id>" + notifyTestMchID + "</mch_id><req_info>" + ct + "</req_info></xml>")}
	}
	for _, tc := range []struct {
		name   string
		m      *emulator.NotifyMessage
		status int
		check  string
	}{
		{"refund_fee changed", must(emulator.WxpayV2RefundNotification(r.order("ORDER-C2", "REFUND-C2", 300, 121), notifyTestV2Key)), 401, "refund_query"},
		{"refund_status changed", must(emulator.WxpayV2RefundNotification(func() emulator.NotifyOrder {
			o := r.order("ORDER-C2", "REFUND-C2", 300, 120)
			o.RefundStatus = "CHANGE"
			return o
		}(), notifyTestV2Key)), 401, "refund_query"},
		{"unknown refund", must(emulator.WxpayV2RefundNotification(r.order("ORDER-C2", "re1", 300, 120), notifyTestV2Key)), 401, "refund_query"},
		{"duplicate field", dup(), 400, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, logs := provisionNotify(t, wxpayNotify(t))
			next := &recordingNext{}
			w := serveNotify(t, n, next, tc.m, nil)
			if w.Code != tc.status || !strings.HasPrefix(w.Body.String(), v2Fail) || next.calls != 0 {
				t.Fatalf("got %d %q, backend %d calls; want %d", w.Code, w.Body.String(), next.calls, tc.status)
			}
			entries := logs.All()
			if len(entries) != 1 || entries[0].Level.String() != "warn" || entries[0].ContextMap()["check"] != tc.check {
				t.Fatalf("logs: %v", entries)
			}
		})
	}
}

// A refund query that cannot be made (WeChat Pay down, return_code FAIL,
// an answer whose sign does not verify) answers 500 so WeChat Pay retries.
func TestNotifyV2RefundQueryUnavailable(t *testing.T) {
	r := notifyTestWxpay().refund(t, "ORDER-C3", "REFUND-C3", 300, 120)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	// Another merchant key: the emulator refuses the request (return_code
	// FAIL); a fake answers signed with another key.
	otherKey := emulator.New(emulator.Config{WxpayMerchants: []emulator.WxpayMerchant{{MchID: notifyTestMchID, Key: "ffffffffffffffffffffffffffffffff"}}})
	refusing := httptest.NewServer(otherKey)
	defer refusing.Close()
	badSign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		a := map[string]string{"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_id": notifyTestMchID, "out_refund_no_0": "REFUND-C3"}
		a["sign"], _ = signing.WxpayV2Sign(a, "ffffffffffffffffffffffffffffffff", signing.SignTypeMD5)
		_, _ = w.Write(wxpay.EncodeXML(a))
	}))
	defer badSign.Close()
	for name, endpoint := range map[string]string{"down": down.URL, "return_code FAIL": refusing.URL, "bad sign": badSign.URL} {
		t.Run(name, func(t *testing.T) {
			cfg := wxpayNotify(t)
			cfg.Endpoint = endpoint
			n, logs := provisionNotify(t, cfg)
			next := &recordingNext{}
			w := serveNotify(t, n, next, r.m, nil)
			if w.Code != 500 || !strings.HasPrefix(w.Body.String(), v2Fail) || next.calls != 0 {
				t.Fatalf("got %d %q, backend %d calls; want 500", w.Code, w.Body.String(), next.calls)
			}
			entries := logs.All()
			if len(entries) != 1 || entries[0].Level.String() != "warn" || entries[0].ContextMap()["check"] != "refund_query_failed" {
				t.Fatalf("logs: %v", entries)
			}
			if line, _ := json.Marshal(entries[0].ContextMap()); bytes.Contains(line, []byte(notifyTestV2Key)) {
				t.Errorf("log line holds the key: %s", line)
			}
		})
	}
}
