package unicloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/xpay"
)

// TestXpayPushThroughCaddy: the emulated client pays a virtual payment order, and the xpay_goods_deliver_notify it
// pushes in safe mode passes unicloud_message_notify weixin's verification, reaches the backend in camelCase, and
// the gateway's {"ErrCode":0,…} acknowledges it (no further attempt).
func TestXpayPushThroughCaddy(t *testing.T) {
	backend := &pushBackend{got: make(chan recordedPush, 8)}
	bs := httptest.NewServer(backend)
	t.Cleanup(bs.Close)
	gw, emu := freeAddr(t), freeAddr(t)
	loadCaddy(t, globalOptions(filepath.Join(t.TempDir(), "storage"), "")+fmt.Sprintf(`
http://%[1]s {
	route /wx/push {
		unicloud_message_notify weixin {
			token            %[3]s
			encoding_aes_key %[4]s
			app_id           %[5]s
		}
		reverse_proxy %[6]s
	}
}

http://%[2]s {
	unicloud_emulator {
		weixin_app %[5]s %[7]s
		weixin_xpay %[5]s 1450019686 prod-app-key sandbox-app-key
		weixin_message_push %[5]s http://%[1]s/wx/push {
			token            %[3]s
			encoding_aes_key %[4]s
			mode             safe
			format           json
		}
	}
}
`, gw, emu, mnToken, mnAESKey, mnAppID, strings.TrimPrefix(bs.URL, "http://"), mnSecret))

	resp, err := testClient.Get("http://" + emu + "/sns/jscode2session?" + url.Values{"appid": {mnAppID}, "secret": {mnSecret},
		"js_code": {"alice.1"}, "grant_type": {"authorization_code"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		Openid     string `json:"openid"`
		SessionKey string `json:"session_key"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	o, err := xpay.ParseOrder(map[string]any{"outTradeNo": "T-push", "productId": "p1", "goodsPrice": "150", "attach": "中文"})
	if err != nil {
		t.Fatal(err)
	}
	oi := xpay.Sign(o.Mode, o.SignData("1450019686", xpay.EnvProduction), "prod-app-key", login.SessionKey)
	body, _ := json.Marshal(map[string]string{"openid": login.Openid, "mode": oi.Mode, "signData": oi.SignData,
		"paySig": oi.PaySig, "signature": oi.Signature})
	resp, err = testClient.Post("http://"+emu+"/_emulator/xpay/pay", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var paid struct {
		OrderID string `json:"order_id"`
		Push    struct {
			Acknowledged bool   `json:"acknowledged"`
			Attempt      int    `json:"attempt"`
			Body         string `json:"body"`
		} `json:"push"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&paid)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || paid.OrderID != "T-push" || !paid.Push.Acknowledged || paid.Push.Attempt != 1 {
		t.Fatalf("pay: %d %+v", resp.StatusCode, paid)
	}
	select {
	case p := <-backend.got:
		goods, _ := p.body["goodsInfo"].(map[string]any)
		if p.body["event"] != "xpay_goods_deliver_notify" || p.body["outTradeNo"] != "T-push" || p.body["openId"] != login.Openid ||
			goods["actualPrice"] != json.Number("150") || goods["attach"] != "中文" {
			t.Fatalf("backend got %s", p.raw)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the backend received no push")
	}

	// The user complains about the order: xpay_complaint_notify reaches the backend the same way.
	resp, err = testClient.Post("http://"+emu+"/_emulator/xpay/complaint", "application/json",
		strings.NewReader(`{"order_id":"T-push","content":"没有到账"}`))
	if err != nil {
		t.Fatal(err)
	}
	var complained struct {
		ComplaintID string `json:"complaint_id"`
		Push        struct {
			Acknowledged bool   `json:"acknowledged"`
			Body         string `json:"body"`
		} `json:"push"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&complained)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || complained.ComplaintID == "" || !complained.Push.Acknowledged ||
		complained.Push.Body != `{"ErrCode":0,"ErrMsg":"success"}` {
		t.Fatalf("complaint: %d %+v", resp.StatusCode, complained)
	}
	select {
	case p := <-backend.got:
		detail, _ := p.body["complaintDetail"].(map[string]any)
		if p.body["event"] != "xpay_complaint_notify" || p.body["mchOrderId"] != "T-push" || p.body["openId"] != login.Openid ||
			p.body["transactionId"] == nil || detail["complaintId"] != complained.ComplaintID || detail["complaintDesc"] != "没有到账" {
			t.Fatalf("backend got %s", p.raw)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the backend received no complaint push")
	}
}

// TestXpayThroughCaddy is the whole flow offline: login through unicloud_openapi weixin (the session key kept by
// the gateway), getOrderInfo through unicloud_payment wxpay_virtual, the emulated client pays, the push reaches the
// backend through unicloud_message_notify weixin, then orderQuery and the coin calls; and the gateway's own errors.
func TestXpayThroughCaddy(t *testing.T) {
	backend := &pushBackend{got: make(chan recordedPush, 8)}
	bs := httptest.NewServer(backend)
	t.Cleanup(bs.Close)
	gw, emu := freeAddr(t), freeAddr(t)
	loadCaddy(t, globalOptions(filepath.Join(t.TempDir(), "storage"), "")+fmt.Sprintf(`
http://%[1]s {
	handle_path /wx/* {
		unicloud_openapi weixin {
			app_id   %[5]s
			secret   %[7]s
			endpoint http://%[2]s
		}
	}
	handle_path /pay/xpay/* {
		unicloud_payment wxpay_virtual {
			app_id   %[5]s
			secret   %[7]s
			app_key  prod-app-key
			offer_id 1450019686
			endpoint http://%[2]s
			timeout  5s
		}
	}
	route /msg/push {
		unicloud_message_notify weixin {
			token            %[3]s
			encoding_aes_key %[4]s
			app_id           %[5]s
		}
		reverse_proxy %[6]s
	}
}

http://%[2]s {
	unicloud_emulator {
		weixin_app %[5]s %[7]s
		weixin_xpay %[5]s 1450019686 prod-app-key sandbox-app-key
		weixin_message_push %[5]s http://%[1]s/msg/push {
			token            %[3]s
			encoding_aes_key %[4]s
			mode             safe
			format           json
		}
	}
}
`, gw, emu, mnToken, mnAESKey, mnAppID, strings.TrimPrefix(bs.URL, "http://"), mnSecret))

	call := func(path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := testClient.Post("http://"+gw+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		d := json.NewDecoder(resp.Body)
		d.UseNumber()
		if err := d.Decode(&out); err != nil {
			t.Fatalf("%s: not JSON: %v", path, err)
		}
		return resp.StatusCode, out
	}
	calls := func(path string) int {
		t.Helper()
		resp, err := testClient.Get("http://" + emu + "/_emulator/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct{ Calls map[string]int }
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return st.Calls[path]
	}

	// Nobody logged in yet: 400 UNICLOUD_SESSION_KEY_NOT_FOUND, and WeChat is not called.
	st, ans := call("/pay/xpay/queryUserBalance", `{"openid":"oNobody","userIp":"127.0.0.1"}`)
	if st != 400 || ans["errCode"] != "UNICLOUD_SESSION_KEY_NOT_FOUND" || calls("/xpay/query_user_balance") != 0 {
		t.Fatalf("no session: %d %v", st, ans)
	}

	st, login := call("/wx/auth/code2Session", `{"code":"alice.1"}`)
	openid, _ := login["openid"].(string)
	if st != 200 || openid == "" || login["sessionKey"] != nil {
		t.Fatalf("login: %d %v", st, login)
	}
	st, ans = call("/pay/xpay/getOrderInfo", `{"openid":"`+openid+`","outTradeNo":"T-caddy","productId":"p1","goodsPrice":150,"buyQuantity":2,"attach":"中文"}`)
	oi, _ := ans["orderInfo"].(map[string]any)
	if st != 200 || ans["errCode"] != json.Number("0") || len(oi) != 4 || oi["mode"] != "short_series_goods" {
		t.Fatalf("getOrderInfo: %d %v", st, ans)
	}
	body, _ := json.Marshal(map[string]any{"openid": openid, "mode": oi["mode"], "signData": oi["signData"],
		"paySig": oi["paySig"], "signature": oi["signature"]})
	resp, err := testClient.Post("http://"+emu+"/_emulator/xpay/pay", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var paid struct {
		Push struct{ Acknowledged bool } `json:"push"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&paid)
	resp.Body.Close()
	if resp.StatusCode != 200 || !paid.Push.Acknowledged {
		t.Fatalf("pay: %d %+v", resp.StatusCode, paid)
	}
	select {
	case p := <-backend.got:
		if p.body["event"] != "xpay_goods_deliver_notify" || p.body["outTradeNo"] != "T-caddy" {
			t.Fatalf("backend got %s", p.raw)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the backend received no push")
	}

	st, ans = call("/pay/xpay/orderQuery", `{"openid":"`+openid+`","outTradeNo":"T-caddy"}`)
	order, _ := ans["order"].(map[string]any)
	if st != 200 || order["paidFee"] != json.Number("300") || order["status"] != json.Number("2") || ans["errMsg"] != "ok" {
		t.Fatalf("orderQuery: %d %v", st, ans)
	}
	st, ans = call("/pay/xpay/queryUserBalance", `{"openid":"`+openid+`","userIp":"127.0.0.1"}`)
	if st != 200 || ans["balance"] != json.Number("0") || ans["errCode"] != json.Number("0") {
		t.Fatalf("queryUserBalance: %d %v", st, ans)
	}
	// WeChat's refusal: HTTP 200 with its errcode as a number.
	st, ans = call("/pay/xpay/currencyPay", `{"openid":"`+openid+`","userIp":"127.0.0.1","orderId":"U-1","amount":5}`)
	if st != 200 || ans["errCode"] != json.Number("268490006") {
		t.Fatalf("currencyPay without coins: %d %v", st, ans)
	}
	sent := calls("/xpay/refund_order")
	for _, tc := range []struct {
		path, body string
		status     int
		code       string
	}{
		{"/pay/xpay/refund", `{"openid":"` + openid + `","outTradeNo":"T-caddy","outRefundNo":"R-1","leftFee":300,"refundFee":1.5}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"/pay/xpay/closeOrder", `{"outTradeNo":"T-caddy"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
		{"/pay/xpay/noSuchCall", `{}`, 404, "UNICLOUD_API_NOT_FOUND"},
	} {
		if st, ans := call(tc.path, tc.body); st != tc.status || ans["errCode"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.path, st, ans, tc.status, tc.code)
		}
	}
	if calls("/xpay/refund_order") != sent {
		t.Error("a refused refund reached WeChat")
	}
	st, ans = call("/pay/xpay/refund", `{"openid":"`+openid+`","outTradeNo":"T-caddy","outRefundNo":"R-1","leftFee":300,"refundFee":100}`)
	if st != 200 || ans["refundOrderId"] != "R-1" || ans["payOrderId"] != "T-caddy" {
		t.Fatalf("refund: %d %v", st, ans)
	}
}
