package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

func complain(t *testing.T, s *Server, body map[string]any) (int, map[string]any) {
	t.Helper()
	w := do(s, http.MethodPost, "/_emulator/xpay/complaint", bytes.NewReader(mustJSON(body)), "application/json")
	return w.Code, decode(t, w)
}

func TestXpayComplaintPushesTheOrder(t *testing.T) {
	push := newXpayMessageServer(t, func(n int) string {
		if n == 2 { // the payment's push is acknowledged, the complaint's first attempt refused
			return `{"ErrCode":1,"ErrMsg":"busy"}`
		}
		return xpayAck
	})
	s := xpayServer(t, push)
	openid, sk := xpayUser(t, s, "carol")
	if code, m := xpayPay(t, s, openid, "short_series_goods", goodsSignData("C1", 0), xpayAppKey, sk); code != 200 {
		t.Fatalf("pay = %d %v", code, m)
	}
	code, m := complain(t, s, map[string]any{"order_id": "C1", "content": "没有到账"})
	if code != 200 || errcode(m) != 0 || m["push"].(map[string]any)["acknowledged"] != false {
		t.Fatalf("complaint = %d %v", code, m)
	}
	s.WaitXpayPushes()
	msgs := push.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d pushes, want the payment's and two complaint attempts: %v", len(msgs), msgs)
	}
	pay, first, again := msgs[0], msgs[1], msgs[2]
	if first["Event"] != "xpay_complaint_notify" || first["OpenId"] != openid || first["MchOrderId"] != "C1" ||
		first["WxOrderId"] == "" || first["WxOrderId"] != m["wx_order_id"] ||
		first["TransactionId"] != pay["WeChatPayInfo"].(map[string]any)["TransactionId"] {
		t.Fatalf("complaint push = %v (payment push %v)", first, pay)
	}
	detail := first["ComplaintDetail"].(map[string]any)
	if detail["ComplaintId"] != m["complaint_id"] || detail["ComplaintDesc"] != "没有到账" || detail["Amount"] != json.Number("300") {
		t.Errorf("ComplaintDetail = %v", detail)
	}
	if first["RetryTimes"] != json.Number("0") || again["RetryTimes"] != json.Number("1") ||
		again["ComplaintDetail"].(map[string]any)["ComplaintId"] != detail["ComplaintId"] {
		t.Errorf("retry = %v after %v", again, first)
	}
}

func TestXpayComplaintRefuses(t *testing.T) {
	s := xpayServer(t, newXpayMessageServer(t, func(int) string { return xpayAck }))
	openid, sk := xpayUser(t, s, "dave")
	xpayPay(t, s, openid, "short_series_goods", goodsSignData("C2", 0), xpayAppKey, sk)
	for _, c := range []struct {
		name string
		body map[string]any
		code int
		err  int
	}{
		{"unknown order", map[string]any{"order_id": "nope"}, 200, xpayBadField},
		{"other env", map[string]any{"order_id": "C2", "env": 1}, 200, xpayBadField},
		{"no order named", map[string]any{}, 200, xpayBadField},
		{"unknown app", map[string]any{"appid": testApp2, "order_id": "C2"}, 400, xpayBadField},
		{"bad env", map[string]any{"order_id": "C2", "env": 7}, 400, xpayBadField},
	} {
		code, m := complain(t, s, c.body)
		if code != c.code || errcode(m) != c.err {
			t.Errorf("%s: %d %v, want %d errcode %d", c.name, code, m, c.code, c.err)
		}
	}
}
