package unicloud

// Acceptance checks of §4b, unicloud_payment wxpay_virtual, written from the
// contract alone: a real Caddy from a Caddyfile, the offline
// unicloud_emulator as WeChat behind the recording proxy (qaProxy), and
// pay_sig / signature recomputed here (HMAC-SHA256) over the exact bytes
// the proxy saw.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	xpayApp     = "wx0b0b0b0b0b0b0b01"
	xpaySecret  = "qa-xpay-secret"
	xpayKey     = "app_key_123"
	xpaySandbox = "qa-sandbox-app-key"
	xpayOffer   = "1450019686"
)

type xpayEnv struct {
	gw, emu, storage string
	p                *qaProxy
	b                *pushBackendRec
	answers          [][]byte
}

func xpayStart(t *testing.T) *xpayEnv {
	t.Helper()
	e := &xpayEnv{gw: freeAddr(t), emu: freeAddr(t), b: newPushBackend(t)}
	e.p = newQAProxy(t, e.emu)
	e.storage = filepath.Join(t.TempDir(), "storage")
	loadCaddy(t, globalOptions(e.storage, "")+fmt.Sprintf(`
http://%[1]s {
	handle_path /wx/* {
		unicloud_openapi weixin {
			app_id   %[3]s
			secret   %[4]s
			endpoint %[5]s
		}
	}
	handle_path /pay/xpay/* {
		unicloud_payment wxpay_virtual {
			app_id          %[3]s
			secret          %[4]s
			app_key         %[6]s
			sandbox_app_key %[7]s
			offer_id        %[8]s
			endpoint        %[5]s
			timeout         2s
		}
	}
	handle_path /sand/xpay/* {
		unicloud_payment wxpay_virtual {
			app_id          %[3]s
			secret          %[4]s
			sandbox_app_key %[7]s
			offer_id        %[8]s
			env             sandbox
			endpoint        %[5]s
		}
	}
	handle_path /bad/xpay/* {
		unicloud_payment wxpay_virtual {
			app_id   wx0b0b0b0b0b0b0bff
			secret   %[4]s
			app_key  %[6]s
			offer_id %[8]s
			endpoint %[5]s
		}
	}
	route /msg/push {
		unicloud_message_notify weixin {
			token            %[9]s
			encoding_aes_key %[10]s
			app_id           %[3]s
		}
		reverse_proxy %[11]s
	}
}

http://%[2]s {
	unicloud_emulator {
		weixin_app  %[3]s %[4]s
		weixin_xpay %[3]s %[8]s %[6]s %[7]s
		weixin_message_push %[3]s http://%[1]s/msg/push {
			token            %[9]s
			encoding_aes_key %[10]s
			mode             safe
			format           json
		}
	}
}
`, e.gw, e.emu, xpayApp, xpaySecret, e.p.url, xpayKey, xpaySandbox, xpayOffer, pushTok, pushK, e.b.url))
	return e
}

// call posts to the gateway and keeps the answer for the secrets check.
func (e *xpayEnv) call(t *testing.T, path, body string) (int, map[string]any, []byte) {
	t.Helper()
	st, m, raw := qaPost(t, "http://"+e.gw+path, body)
	e.answers = append(e.answers, raw)
	return st, m, raw
}

// login logs a user in through the gateway; the session key is read off the
// recorded WeChat answer (the gateway keeps it to itself).
func (e *xpayEnv) login(t *testing.T, code string) (string, string) {
	t.Helper()
	st, m, raw := e.call(t, "/wx/auth/code2Session", `{"code":"`+code+`"}`)
	if st != 200 || qaStr(m, "openid") == "" || m["sessionKey"] != nil {
		t.Fatalf("code2Session: %d %s", st, raw)
	}
	return qaStr(m, "openid"), qaJSONField(e.p.last(t, "/sns/jscode2session").RespBody, "session_key")
}

// secretsKept checks that no answer held a key, a session key or a token.
func (e *xpayEnv) secretsKept(t *testing.T, sessionKeys ...string) {
	t.Helper()
	secrets := append([]string{xpayKey, xpaySandbox, xpaySecret}, sessionKeys...)
	for _, ex := range e.p.all("") {
		if tok := qaJSONField(ex.RespBody, "access_token"); tok != "" {
			secrets = append(secrets, tok)
		}
	}
	for _, a := range e.answers {
		qaNoneOf(t, "a gateway answer", a, secrets...)
	}
}

// xpaySigned checks the last request to /xpay/<name>: POST, pay_sig over the
// exact body, signature (or none), and returns the body decoded.
func xpaySigned(t *testing.T, e *xpayEnv, name, appKey, sessionKey string) map[string]any {
	t.Helper()
	ex := e.p.last(t, "/xpay/"+name)
	if ex.Method != "POST" || ex.Query.Get("access_token") == "" {
		t.Errorf("%s: %s ?%v", name, ex.Method, ex.Query)
	}
	if got, want := ex.Query.Get("pay_sig"), xpayHMAC(appKey, "/xpay/"+name+"&"+string(ex.ReqBody)); got != want {
		t.Errorf("%s: pay_sig %q, want %q over %s", name, got, want, ex.ReqBody)
	}
	if sessionKey == "" {
		if _, ok := ex.Query["signature"]; ok {
			t.Errorf("%s: a signature on a pay_sig-only call", name)
		}
	} else if got, want := ex.Query.Get("signature"), xpayHMAC(sessionKey, string(ex.ReqBody)); got != want {
		t.Errorf("%s: signature %q, want %q", name, got, want)
	}
	return pushJSONObj(t, string(ex.ReqBody))
}

// xpayNoSnake fails when an answer still holds a snake_case key.
func xpayNoSnake(t *testing.T, what string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if strings.Contains(k, "_") {
				t.Errorf("%s: key %q is not camelCase", what, k)
			}
			xpayNoSnake(t, what, vv)
		}
	case []any:
		for _, vv := range x {
			xpayNoSnake(t, what, vv)
		}
	}
}

func TestAcceptanceXpayGetOrderInfoVector(t *testing.T) {
	e := xpayStart(t)
	e.p.set(func(ex *qaExchange) (int, []byte, bool) {
		if ex.Path == "/sns/jscode2session" && strings.HasPrefix(ex.Query.Get("js_code"), "vector.") {
			return 200, []byte(`{"openid":"oVectorUser","unionid":"uVector","session_key":"session_key_` + strings.TrimPrefix(ex.Query.Get("js_code"), "vector.") + `"}`), true
		}
		return 0, nil, false
	}, nil)
	e.login(t, "vector.123")
	sent := e.p.count("")
	want := `{"offerId":"1450019686","buyQuantity":1,"env":0,"currencyType":"CNY","productId":"product_001","goodsPrice":100,"outTradeNo":"order12345","attach":"attach中文"}`
	for _, body := range []string{
		`{"openid":"oVectorUser","outTradeNo":"order12345","productId":"product_001","goodsPrice":100,"attach":"attach中文"}`,
		`{"openid":"oVectorUser","outTradeNo":"order12345","productId":"product_001","goodsPrice":"100","buyQuantity":"1","currencyType":"CNY","mode":"short_series_goods","attach":"attach中文","env":1}`,
	} {
		st, m, raw := e.call(t, "/pay/xpay/getOrderInfo", body)
		oi, _ := m["orderInfo"].(map[string]any)
		if !qaWant(t, "getOrderInfo", st, m, raw, 200, 0) || m["errMsg"] != "ok" || len(m) != 3 {
			continue
		}
		if len(oi) != 4 || oi["mode"] != "short_series_goods" || oi["signData"] != want ||
			oi["paySig"] != "52b0abda3c933b0273d328b5c5102ee9ab9249309474ddcdf5e9ce0f80b23532" ||
			oi["signature"] != "602f76d9cadf36c232f7f6c1faa5fe295b0f955d188049997d0df699c0619c86" {
			t.Errorf("getOrderInfo %s: %s, want WxJava's vector", body, raw)
		}
	}
	if n := e.p.count(""); n != sent {
		t.Errorf("getOrderInfo sent %d requests to WeChat", n-sent)
	}
	// Coin mode: its key order, attach omitted when empty.
	st, m, raw := e.call(t, "/pay/xpay/getOrderInfo", `{"openid":"oVectorUser","outTradeNo":"coin-1","mode":"short_series_coin","buyQuantity":60,"attach":""}`)
	oi, _ := m["orderInfo"].(map[string]any)
	sd := `{"offerId":"1450019686","buyQuantity":60,"env":0,"currencyType":"CNY","outTradeNo":"coin-1"}`
	if st != 200 || oi["mode"] != "short_series_coin" || oi["signData"] != sd || oi["paySig"] != xpayHMAC(xpayKey, "requestVirtualPayment&"+sd) ||
		oi["signature"] != xpayHMAC("session_key_123", sd) {
		t.Errorf("coin getOrderInfo: %d %s", st, raw)
	}
	// Sandbox: env 1, the sandbox AppKey.
	st, m, raw = e.call(t, "/sand/xpay/getOrderInfo", `{"openid":"oVectorUser","outTradeNo":"order12345","productId":"product_001","goodsPrice":100}`)
	oi, _ = m["orderInfo"].(map[string]any)
	sd = `{"offerId":"1450019686","buyQuantity":1,"env":1,"currencyType":"CNY","productId":"product_001","goodsPrice":100,"outTradeNo":"order12345"}`
	if st != 200 || oi["signData"] != sd || oi["paySig"] != xpayHMAC(xpaySandbox, "requestVirtualPayment&"+sd) || oi["signature"] != xpayHMAC("session_key_123", sd) {
		t.Errorf("sandbox getOrderInfo: %d %s", st, raw)
	}
	// A newer login of the same openid replaces the session key.
	e.login(t, "vector.456")
	_, m, raw = e.call(t, "/pay/xpay/getOrderInfo", `{"openid":"oVectorUser","outTradeNo":"order12345","productId":"product_001","goodsPrice":100,"attach":"attach中文"}`)
	if oi, _ = m["orderInfo"].(map[string]any); oi["signature"] != xpayHMAC("session_key_456", want) {
		t.Errorf("after a newer login: %s, want the signature with the new session key", raw)
	}
	// Another instance sharing the storage finds the session key.
	gw2 := freeAddr(t)
	startChildCaddy(t, globalOptions(e.storage, "")+fmt.Sprintf("http://%s {\n\tunicloud_payment wxpay_virtual {\n\t\tapp_id %s\n\t\tsecret %s\n\t\tapp_key %s\n\t\toffer_id %s\n\t\tendpoint %s\n\t}\n}\n",
		gw2, xpayApp, xpaySecret, xpayKey, xpayOffer, e.p.url))
	st, m, raw = qaPost(t, "http://"+gw2+"/getOrderInfo", `{"openid":"oVectorUser","outTradeNo":"order12345","productId":"product_001","goodsPrice":100,"attach":"attach中文"}`)
	if oi, _ = m["orderInfo"].(map[string]any); st != 200 || oi["signature"] != xpayHMAC("session_key_456", want) {
		t.Errorf("getOrderInfo on another instance sharing the storage: %d %s", st, raw)
	}
	e.secretsKept(t, "session_key_123", "session_key_456")
}

func TestAcceptanceXpayGetOrderInfoRefused(t *testing.T) {
	e := xpayStart(t)
	openid, sk := e.login(t, "refused.1")
	sent := e.p.count("")
	base := func(extra string) string {
		return `{"openid":"` + openid + `","outTradeNo":"T-1","productId":"p1","goodsPrice":100` + extra + `}`
	}
	for _, c := range []struct{ what, body, field string }{
		{"bad JSON", `{"openid":`, ""},
		{"no openid", `{"outTradeNo":"T-1","productId":"p1","goodsPrice":100}`, "openid"},
		{"no outTradeNo", `{"openid":"` + openid + `","productId":"p1","goodsPrice":100}`, "outTradeNo"},
		{"outTradeNo of 33 characters", strings.Replace(base(""), "T-1", strings.Repeat("a", 33), 1), "outTradeNo"},
		{"outTradeNo with a space", strings.Replace(base(""), "T-1", "T 1", 1), "outTradeNo"},
		{"outTradeNo with #", strings.Replace(base(""), "T-1", "T#1", 1), "outTradeNo"},
		{"outTradeNo in Chinese", strings.Replace(base(""), "T-1", "订单1", 1), "outTradeNo"},
		{"goods without productId", `{"openid":"` + openid + `","outTradeNo":"T-1","goodsPrice":100}`, "productId"},
		{"goods without goodsPrice", `{"openid":"` + openid + `","outTradeNo":"T-1","productId":"p1"}`, "goodsPrice"},
		{"goodsPrice 0", strings.Replace(base(""), `"goodsPrice":100`, `"goodsPrice":0`, 1), "goodsPrice"},
		{"goodsPrice 1.5", strings.Replace(base(""), `"goodsPrice":100`, `"goodsPrice":1.5`, 1), "goodsPrice"},
		{"goodsPrice -1", strings.Replace(base(""), `"goodsPrice":100`, `"goodsPrice":-1`, 1), "goodsPrice"},
		{`goodsPrice "1.00"`, strings.Replace(base(""), `"goodsPrice":100`, `"goodsPrice":"1.00"`, 1), "goodsPrice"},
		{"buyQuantity 0", base(`,"buyQuantity":0`), "buyQuantity"},
		{"buyQuantity 2.5", base(`,"buyQuantity":2.5`), "buyQuantity"},
		{"coin without buyQuantity", `{"openid":"` + openid + `","outTradeNo":"C-1","mode":"short_series_coin"}`, "buyQuantity"},
		{"unknown mode", base(`,"mode":"short_series_other"`), "mode"},
	} {
		st, m, raw := e.call(t, "/pay/xpay/getOrderInfo", c.body)
		if qaWant(t, c.what, st, m, raw, 400, "UNICLOUD_BAD_REQUEST") && c.field != "" && !strings.Contains(qaStr(m, "errMsg"), c.field) {
			t.Errorf("%s: errMsg %q does not name %s", c.what, qaStr(m, "errMsg"), c.field)
		}
	}
	// The characters WeChat allows, 32 of them.
	ok := "aZ09_-|*@" + strings.Repeat("x", 23)
	if st, m, raw := e.call(t, "/pay/xpay/getOrderInfo", strings.Replace(base(""), "T-1", ok, 1)); qaWant(t, "outTradeNo "+ok, st, m, raw, 200, 0) {
		sd := qaJSONField(raw, "orderInfo", "signData")
		if !strings.Contains(sd, `"outTradeNo":"`+ok+`"`) || qaJSONField(raw, "orderInfo", "signature") != xpayHMAC(sk, sd) {
			t.Errorf("signData %s", sd)
		}
	}
	// signData is UTF-8 unescaped: no \u003c for "<", no \u0026 for "&".
	if _, _, raw := e.call(t, "/pay/xpay/getOrderInfo", base(`,"attach":"<a&b> 中文😀"`)); !strings.Contains(qaJSONField(raw, "orderInfo", "signData"), `"attach":"<a&b> 中文😀"`) ||
		qaJSONField(raw, "orderInfo", "paySig") != xpayHMAC(xpayKey, "requestVirtualPayment&"+qaJSONField(raw, "orderInfo", "signData")) {
		t.Errorf("signData escaped: %s", raw)
	}
	// U+2028 (sent as a JSON escape) is in signData as the raw character, not escaped.
	if _, _, raw := e.call(t, "/pay/xpay/getOrderInfo", base(`,"attach":"\u2028x"`)); !strings.Contains(qaJSONField(raw, "orderInfo", "signData"), "\"attach\":\"\u2028x\"") {
		t.Errorf("signData with U+2028: %s", raw)
	}
	// An openid nobody logged in with.
	st, m, raw := e.call(t, "/pay/xpay/getOrderInfo", `{"openid":"oNeverLoggedIn","outTradeNo":"T-1","productId":"p1","goodsPrice":100}`)
	if qaWant(t, "getOrderInfo, no session key", st, m, raw, 400, "UNICLOUD_SESSION_KEY_NOT_FOUND") &&
		!strings.Contains(qaStr(m, "errMsg"), "code2Session") && !strings.Contains(qaStr(m, "errMsg"), "wx.login") {
		t.Errorf("errMsg %q does not tell to log in again", qaStr(m, "errMsg"))
	}
	for _, call := range []string{"currencyPay", "cancelCurrencyPay"} {
		st, m, raw := e.call(t, "/pay/xpay/"+call, `{"openid":"oNeverLoggedIn","userIp":"1.2.3.4","orderId":"X-1","payOrderId":"X-0","amount":1}`)
		qaWant(t, call+", no session key", st, m, raw, 400, "UNICLOUD_SESSION_KEY_NOT_FOUND")
	}
	for _, call := range []string{"cancelOrder", "refundQuery", "downloadFundflow"} {
		st, m, raw := e.call(t, "/pay/xpay/"+call, `{"outTradeNo":"T-1"}`)
		qaWant(t, call, st, m, raw, 400, "UNICLOUD_NOT_SUPPORTED")
	}
	for _, c := range []struct{ call, body, field string }{
		{"currencyPay", `{"openid":"` + openid + `","userIp":"1.2.3.4","orderId":"X-1","amount":"1.00"}`, "amount"},
		{"currencyPay", `{"openid":"` + openid + `","userIp":"1.2.3.4","orderId":"X-1","amount":-1}`, "amount"},
		{"presentCurrency", `{"openid":"` + openid + `","orderId":"X-2","amount":1.5}`, "amount"},
		{"refund", `{"openid":"` + openid + `","outTradeNo":"T-1","outRefundNo":"R-1","leftFee":"-1","refundFee":1}`, "leftFee"},
		{"refund", `{"openid":"` + openid + `","outTradeNo":"T-1","outRefundNo":"R-1","leftFee":100,"refundFee":"0.5"}`, "refundFee"},
		{"createWithdrawOrder", `{"withdrawNo":"W-1","withdrawAmount":1.5}`, "withdrawAmount"},
		{"queryUserBalance", `{"openid":`, ""},
	} {
		st, m, raw := e.call(t, "/pay/xpay/"+c.call, c.body)
		if qaWant(t, c.call+" "+c.body, st, m, raw, 400, "UNICLOUD_BAD_REQUEST") && !strings.Contains(qaStr(m, "errMsg"), c.field) {
			t.Errorf("%s: errMsg %q does not name %s", c.call, qaStr(m, "errMsg"), c.field)
		}
	}
	if n := e.p.count(""); n != sent {
		t.Errorf("refused calls sent %d requests to WeChat: %v", n-sent, e.p.all("")[sent].Path)
	}
	e.secretsKept(t, sk)
}

// xpayPay plays the client: getOrderInfo's orderInfo plus the openid.
func xpayPay(t *testing.T, e *xpayEnv, openid string, orderInfo map[string]any, tamper func(map[string]any)) map[string]any {
	t.Helper()
	body := map[string]any{"openid": openid}
	for k, v := range orderInfo {
		body[k] = v
	}
	if tamper != nil {
		tamper(body)
	}
	_, m, _ := qaPost(t, "http://"+e.emu+"/_emulator/xpay/pay", qaJSON(body))
	return m
}

func TestAcceptanceXpayCoinsThroughTheEmulator(t *testing.T) {
	e := xpayStart(t)
	openid, sk := e.login(t, "coins.1")
	_, m, raw := e.call(t, "/pay/xpay/getOrderInfo", `{"openid":"`+openid+`","outTradeNo":"COIN-1","mode":"short_series_coin","buyQuantity":100}`)
	oi, _ := m["orderInfo"].(map[string]any)
	if oi == nil {
		t.Fatalf("getOrderInfo: %s", raw)
	}
	// The emulated client refuses a bad paySig or signature, then pays.
	if p := xpayPay(t, e, openid, oi, func(b map[string]any) { b["paySig"] = xpayHMAC("wrong", "x") }); fmt.Sprint(p["errcode"]) != "-15005" {
		t.Errorf("pay with a wrong paySig: %v, want errcode -15005", p)
	}
	if p := xpayPay(t, e, openid, oi, func(b map[string]any) { b["signature"] = xpayHMAC("wrong", "x") }); fmt.Sprint(p["errcode"]) != "268490003" {
		t.Errorf("pay with a wrong signature: %v, want errcode 268490003", p)
	}
	p := xpayPay(t, e, openid, oi, nil)
	push, _ := p["push"].(map[string]any)
	if fmt.Sprint(p["errcode"]) != "0" || push["acknowledged"] != true || push["event"] != "xpay_coin_pay_notify" || push["body"] != `{"ErrCode":0,"ErrMsg":"success"}` {
		t.Errorf("pay: %v", p)
	}
	g := e.b.wait(t, 1)
	coin, _ := g.Body["coinInfo"].(map[string]any)
	if g.Body["event"] != "xpay_coin_pay_notify" || g.Body["outTradeNo"] != "COIN-1" || g.Body["openId"] != openid || coin["quantity"] != json.Number("100") {
		t.Errorf("coin push reached the backend as %s", g.Raw)
	}
	if p := xpayPay(t, e, openid, oi, nil); fmt.Sprint(p["errcode"]) != "268490004" {
		t.Errorf("paying COIN-1 twice: %v, want 268490004", p)
	}
	// The balance: signed with pay_sig and the user's signature; a caller's env is ignored.
	st, m, raw := e.call(t, "/pay/xpay/queryUserBalance", `{"openid":"`+openid+`","userIp":"127.0.0.1","env":1}`)
	if qaWant(t, "queryUserBalance", st, m, raw, 200, 0) && (m["balance"] != json.Number("100") || m["errMsg"] != "ok") {
		t.Errorf("queryUserBalance: %s, want balance 100", raw)
	}
	xpayNoSnake(t, "queryUserBalance", m)
	if b := xpaySigned(t, e, "query_user_balance", xpayKey, sk); qaJSON(b) != `{"env":0,"openid":"`+openid+`","user_ip":"127.0.0.1"}` {
		t.Errorf("query_user_balance body %v", b)
	}
	st, m, raw = e.call(t, "/pay/xpay/currencyPay", `{"openid":"`+openid+`","user_ip":"127.0.0.1","amount":"30","orderId":"CP-1","payitem":"[{\"productid\":\"p\",\"unit_price\":30,\"quantity\":1}]","remark":"qa"}`)
	qaWant(t, "currencyPay", st, m, raw, 200, 0)
	if b := xpaySigned(t, e, "currency_pay", xpayKey, sk); b["amount"] != json.Number("30") || b["order_id"] != "CP-1" || b["user_ip"] != "127.0.0.1" ||
		b["remark"] != "qa" || b["payitem"] == nil || b["env"] != json.Number("0") {
		t.Errorf("currency_pay body %v", b)
	}
	st, m, raw = e.call(t, "/pay/xpay/cancelCurrencyPay", `{"openid":"`+openid+`","userIp":"127.0.0.1","payOrderId":"CP-1","orderId":"CCP-1","amount":30}`)
	qaWant(t, "cancelCurrencyPay", st, m, raw, 200, 0)
	if b := xpaySigned(t, e, "cancel_currency_pay", xpayKey, sk); b["pay_order_id"] != "CP-1" || b["order_id"] != "CCP-1" || b["amount"] != json.Number("30") {
		t.Errorf("cancel_currency_pay body %v", b)
	}
	st, m, raw = e.call(t, "/pay/xpay/presentCurrency", `{"openid":"`+openid+`","orderId":"PC-1","amount":5}`)
	qaWant(t, "presentCurrency", st, m, raw, 200, 0)
	if b := xpaySigned(t, e, "present_currency", xpayKey, ""); b["order_id"] != "PC-1" || b["amount"] != json.Number("5") || b["openid"] != openid {
		t.Errorf("present_currency body %v", b)
	}
	// Not enough coins: WeChat's errcode as a number, HTTP 200.
	st, m, raw = e.call(t, "/pay/xpay/currencyPay", `{"openid":"`+openid+`","userIp":"127.0.0.1","amount":100000,"orderId":"CP-2"}`)
	if qaWant(t, "currencyPay over the balance", st, m, raw, 200, 268490006) && qaStr(m, "errMsg") == "" {
		t.Errorf("no errMsg: %s", raw)
	}
	e.secretsKept(t, sk)
}

func TestAcceptanceXpayGoodsOrderCalls(t *testing.T) {
	e := xpayStart(t)
	openid, sk := e.login(t, "goods.1")
	_, m, raw := e.call(t, "/pay/xpay/getOrderInfo", `{"openid":"`+openid+`","outTradeNo":"G-1","productId":"p1","goodsPrice":150,"buyQuantity":2}`)
	oi, _ := m["orderInfo"].(map[string]any)
	if p := xpayPay(t, e, openid, oi, nil); fmt.Sprint(p["errcode"]) != "0" {
		t.Fatalf("pay: %v (%s)", p, raw)
	}
	e.b.wait(t, 1)
	st, m, raw := e.call(t, "/pay/xpay/orderQuery", `{"openid":"`+openid+`","outTradeNo":"G-1"}`)
	order, _ := m["order"].(map[string]any)
	if !qaWant(t, "orderQuery", st, m, raw, 200, 0) || order["orderId"] != "G-1" || qaStr(order, "wxOrderId") == "" || order["paidFee"] != json.Number("300") ||
		order["orderFee"] == nil || order["leftFee"] == nil || order["tradeState"] != nil || m["errMsg"] != "ok" {
		t.Errorf("orderQuery: %s", raw)
	}
	xpayNoSnake(t, "orderQuery", m)
	if b := xpaySigned(t, e, "query_order", xpayKey, ""); b["order_id"] != "G-1" || b["out_trade_no"] != nil || b["env"] != json.Number("0") {
		t.Errorf("query_order body %v", b)
	}
	wxOrder := qaStr(order, "wxOrderId")
	st, m, raw = e.call(t, "/pay/xpay/queryOrder", `{"openid":"`+openid+`","transactionId":"`+wxOrder+`"}`)
	if o, _ := m["order"].(map[string]any); st != 200 || o["orderId"] != "G-1" {
		t.Errorf("queryOrder by transactionId: %s", raw)
	}
	if b := xpaySigned(t, e, "query_order", xpayKey, ""); b["wx_order_id"] != wxOrder || b["transaction_id"] != nil {
		t.Errorf("query_order body %v", b)
	}
	st, m, raw = e.call(t, "/pay/xpay/notifyProvideGoods", `{"outTradeNo":"G-1"}`)
	qaWant(t, "notifyProvideGoods", st, m, raw, 200, 0)
	if b := xpaySigned(t, e, "notify_provide_goods", xpayKey, ""); b["order_id"] != "G-1" {
		t.Errorf("notify_provide_goods body %v", b)
	}
	_, m, raw = e.call(t, "/pay/xpay/orderQuery", `{"openid":"`+openid+`","outTradeNo":"G-1"}`)
	if o, _ := m["order"].(map[string]any); o["status"] == json.Number("2") || o["provideTime"] == nil {
		t.Errorf("after notifyProvideGoods the order is not delivered: %s", raw)
	}
	// A wrong leftFee, then the refund and its push.
	st, m, raw = e.call(t, "/pay/xpay/refund", `{"openid":"`+openid+`","outTradeNo":"G-1","outRefundNo":"R-G-0","leftFee":299,"refundFee":100,"refundReason":"1","reqFrom":"2"}`)
	qaWant(t, "refund with a wrong leftFee", st, m, raw, 200, 268490016)
	st, m, raw = e.call(t, "/pay/xpay/refundOrder", `{"openid":"`+openid+`","outTradeNo":"G-1","outRefundNo":"R-G-1","leftFee":300,"refundFee":"100","refundReason":"1","reqFrom":"2","bizMeta":"qa-meta"}`)
	if qaWant(t, "refundOrder", st, m, raw, 200, 0) && (m["refundOrderId"] != "R-G-1" || m["payOrderId"] != "G-1" || qaStr(m, "refundWxOrderId") == "" || m["payWxOrderId"] != wxOrder) {
		t.Errorf("refundOrder: %s", raw)
	}
	b := xpaySigned(t, e, "refund_order", xpayKey, "")
	if b["order_id"] != "G-1" || b["refund_order_id"] != "R-G-1" || b["left_fee"] != json.Number("300") || b["refund_fee"] != json.Number("100") ||
		b["refund_reason"] != "1" || b["req_from"] != "2" || b["biz_meta"] != "qa-meta" || b["openid"] != openid {
		t.Errorf("refund_order body %v", b)
	}
	g := e.b.wait(t, 2) // the emulator's refund push
	if g.Body["event"] != "xpay_refund_notify" || g.Body["mchRefundId"] != "R-G-1" || g.Body["refundFee"] != json.Number("100") ||
		g.Body["openId"] != openid || g.Body["mchOrderId"] != "G-1" || g.Body["wxOrderId"] != wxOrder {
		t.Errorf("refund push reached the backend as %s", g.Raw)
	}
	e.secretsKept(t, sk)
}

func TestAcceptanceXpayBillsWithdrawalsGoods(t *testing.T) {
	e := xpayStart(t)
	st, m, raw := e.call(t, "/pay/xpay/downloadBill", `{"beginDs":20240101,"endDs":"20240131"}`)
	if qaWant(t, "downloadBill", st, m, raw, 200, 0) && qaStr(m, "url") == "" {
		t.Errorf("downloadBill: no url: %s", raw)
	}
	if b := xpaySigned(t, e, "download_bill", xpayKey, ""); b["begin_ds"] != json.Number("20240101") || b["end_ds"] != json.Number("20240131") {
		t.Errorf("download_bill body %v", b)
	}
	e.call(t, "/pay/xpay/downloadBill", `{"billDate":"20240105"}`)
	if b := xpaySigned(t, e, "download_bill", xpayKey, ""); b["begin_ds"] != json.Number("20240105") || b["end_ds"] != json.Number("20240105") {
		t.Errorf("download_bill body for billDate %v", b)
	}
	for _, c := range []struct{ fen, yuan string }{{"1", "0.01"}, {"12345", "123.45"}, {`"7"`, "0.07"}, {"990", "9.90"}, {"999999999999", "9999999999.99"}} {
		if st, _, raw := e.call(t, "/pay/xpay/createWithdrawOrder", `{"withdrawNo":"W-`+strings.Trim(c.fen, `"`)+`","withdrawAmount":`+c.fen+`}`); st != 200 {
			t.Errorf("createWithdrawOrder %s: %d %s", c.fen, st, raw)
			continue
		}
		if b := xpaySigned(t, e, "create_withdraw_order", xpayKey, ""); b["withdraw_amount"] != c.yuan || b["withdraw_no"] != "W-"+strings.Trim(c.fen, `"`) {
			t.Errorf("withdrawAmount %s fen sent as %v, want %q", c.fen, b["withdraw_amount"], c.yuan)
		}
	}
	// An amount over the gateway's bound (10^12 fen) is refused, naming the bound.
	for _, big := range []string{`10000000000000`, `"100000000000001"`} {
		st, m, raw := e.call(t, "/pay/xpay/createWithdrawOrder", `{"withdrawNo":"W-big","withdrawAmount":`+big+`}`)
		if qaWant(t, "withdraw "+big, st, m, raw, 400, "UNICLOUD_BAD_REQUEST") && qaStr(m, "errMsg") != "parameter must be at most 1000000000000: withdrawAmount" {
			t.Errorf("withdraw %s: errMsg %q", big, qaStr(m, "errMsg"))
		}
	}
	e.call(t, "/pay/xpay/createWithdrawOrder", `{"withdrawNo":"W-all"}`)
	if b := xpaySigned(t, e, "create_withdraw_order", xpayKey, ""); b["withdraw_amount"] != nil {
		t.Errorf("withdraw all: withdraw_amount %v sent", b["withdraw_amount"])
	}
	// The answer's yuan string comes back in fen.
	e.p.set(nil, func(ex *qaExchange, body []byte) []byte {
		if ex.Path != "/xpay/query_withdraw_order" {
			return body
		}
		return []byte(`{"errcode":0,"errmsg":"ok","withdraw_no":"W-1","status":2,"withdraw_amount":"123.45","wx_withdraw_no":"wxw1"}`)
	})
	st, m, raw = e.call(t, "/pay/xpay/queryWithdrawOrder", `{"withdrawNo":"W-1"}`)
	if qaWant(t, "queryWithdrawOrder", st, m, raw, 200, 0) && (m["withdrawAmount"] != json.Number("12345") || m["wxWithdrawNo"] != "wxw1") {
		t.Errorf("queryWithdrawOrder: %s, want withdrawAmount 12345", raw)
	}
	e.p.set(nil, nil)
	st, m, raw = e.call(t, "/pay/xpay/startUploadGoods", `{"uploadItem":[{"id":"g1","name":"Episode 1","price":100,"remark":"r","itemUrl":"https://example.com/1.png"}]}`)
	qaWant(t, "startUploadGoods", st, m, raw, 200, 0)
	b := xpaySigned(t, e, "start_upload_goods", xpayKey, "")
	items, _ := b["upload_item"].([]any)
	if len(items) != 1 || qaJSON(items[0]) != `{"id":"g1","item_url":"https://example.com/1.png","name":"Episode 1","price":100,"remark":"r"}` || b["env"] != json.Number("0") {
		t.Errorf("start_upload_goods body %v", b)
	}
	for call, name := range map[string]string{"queryUploadGoods": "query_upload_goods", "startPublishGoods": "start_publish_goods", "queryPublishGoods": "query_publish_goods"} {
		body := `{}`
		if call == "startPublishGoods" {
			body = `{"publishItem":[{"id":"g1"}]}`
		}
		if st, m, raw := e.call(t, "/pay/xpay/"+call, body); st != 200 || m["errCode"] == nil {
			t.Errorf("%s: %d %s", call, st, raw)
		}
		xpaySigned(t, e, name, xpayKey, "")
	}
	e.secretsKept(t)
}

func TestAcceptanceXpayTokenRetryAndErrors(t *testing.T) {
	e := xpayStart(t)
	openid, sk := e.login(t, "retry.1")
	for _, code := range []int{40001, 40014, 42001} {
		refused := 0
		e.p.set(func(ex *qaExchange) (int, []byte, bool) {
			if ex.Path == "/xpay/query_user_balance" && refused == 0 {
				refused++
				return 200, []byte(fmt.Sprintf(`{"errcode":%d,"errmsg":"invalid credential"}`, code)), true
			}
			return 0, nil, false
		}, nil)
		before, tokens := e.p.count("/xpay/query_user_balance"), e.p.count("/cgi-bin/stable_token")+e.p.count("/cgi-bin/token")
		st, m, raw := e.call(t, "/pay/xpay/queryUserBalance", `{"openid":"`+openid+`","userIp":"127.0.0.1"}`)
		qaWant(t, fmt.Sprint("queryUserBalance after ", code), st, m, raw, 200, 0)
		ex := e.p.all("/xpay/query_user_balance")[before:]
		if len(ex) != 2 || e.p.count("/cgi-bin/stable_token")+e.p.count("/cgi-bin/token") <= tokens {
			t.Fatalf("after %d: %d calls, no fresh token", code, len(ex))
		}
		if string(ex[0].ReqBody) != string(ex[1].ReqBody) || ex[0].Query.Get("pay_sig") != ex[1].Query.Get("pay_sig") ||
			ex[0].Query.Get("signature") != ex[1].Query.Get("signature") || ex[1].Query.Get("signature") != xpayHMAC(sk, string(ex[1].ReqBody)) {
			t.Errorf("after %d the call was not resent with the same body and signatures: %s %v / %s %v", code, ex[0].ReqBody, ex[0].Query, ex[1].ReqBody, ex[1].Query)
		}
	}
	// A second refusal comes back as errCode 40001; no third attempt.
	e.p.set(func(ex *qaExchange) (int, []byte, bool) {
		if ex.Path == "/xpay/present_currency" {
			return 200, []byte(`{"errcode":40001,"errmsg":"invalid credential"}`), true
		}
		return 0, nil, false
	}, nil)
	before := e.p.count("/xpay/present_currency")
	st, m, raw := e.call(t, "/pay/xpay/presentCurrency", `{"openid":"`+openid+`","orderId":"PC-9","amount":1}`)
	if qaWant(t, "presentCurrency refused twice", st, m, raw, 200, 40001); e.p.count("/xpay/present_currency")-before != 2 {
		t.Errorf("%d attempts, want 2", e.p.count("/xpay/present_currency")-before)
	}
	for _, c := range []struct {
		what   string
		status int
		answer string
		want   int
		code   string
	}{
		{"WeChat 500", 500, `{"errcode":-1,"errmsg":"system error"}`, 502, "UNICLOUD_UPSTREAM_ERROR"},
		{"WeChat 503 HTML", 503, `<html>busy</html>`, 502, "UNICLOUD_UPSTREAM_ERROR"},
		{"WeChat answers HTML with 200", 200, `<html>hi</html>`, 502, "UNICLOUD_UPSTREAM_ERROR"},
		{"WeChat errcode 268490002", 200, `{"errcode":268490002,"errmsg":"bad field"}`, 200, "268490002"},
	} {
		status, answer := c.status, c.answer
		e.p.set(func(ex *qaExchange) (int, []byte, bool) {
			if ex.Path == "/xpay/present_currency" {
				return status, []byte(answer), true
			}
			return 0, nil, false
		}, nil)
		st, m, raw := e.call(t, "/pay/xpay/presentCurrency", `{"openid":"`+openid+`","orderId":"PC-10","amount":1}`)
		if qaWant(t, c.what, st, m, raw, c.want, c.code) && c.want == 200 && m["errMsg"] != "bad field" {
			t.Errorf("%s: errMsg %v, want WeChat's", c.what, m["errMsg"])
		}
	}
	release := make(chan struct{})
	e.p.set(func(ex *qaExchange) (int, []byte, bool) {
		if ex.Path == "/xpay/present_currency" {
			select {
			case <-release:
			case <-time.After(15 * time.Second):
			}
			return 200, []byte(`{"errcode":0,"errmsg":"ok"}`), true
		}
		return 0, nil, false
	}, nil)
	st, m, raw = e.call(t, "/pay/xpay/presentCurrency", `{"openid":"`+openid+`","orderId":"PC-11","amount":1}`)
	close(release)
	qaWant(t, "WeChat slower than timeout", st, m, raw, 504, "UNICLOUD_UPSTREAM_TIMEOUT")
	e.p.set(nil, nil)
	// No token for an appid WeChat does not know: nothing is sent.
	st, m, raw = e.call(t, "/bad/xpay/presentCurrency", `{"openid":"`+openid+`","orderId":"PC-12","amount":1}`)
	qaWant(t, "token unobtainable", st, m, raw, 502, "UNICLOUD_TOKEN_UNAVAILABLE")
	for _, ex := range e.p.all("/xpay/present_currency") {
		if strings.Contains(string(ex.ReqBody), "PC-12") {
			t.Error("a call without a token reached WeChat")
		}
	}
	e.secretsKept(t, sk)
}

func TestAcceptanceXpayEmulatorServerChecks(t *testing.T) {
	e := xpayStart(t)
	tokAns := pushDo(t, "GET", "http://"+e.emu+"/cgi-bin/token?"+url.Values{"grant_type": {"client_credential"}, "appid": {xpayApp}, "secret": {xpaySecret}}.Encode(), "")
	tok := qaJSONField([]byte(tokAns.Body), "access_token")
	login := pushDo(t, "GET", "http://"+e.emu+"/sns/jscode2session?"+url.Values{"appid": {xpayApp}, "secret": {xpaySecret}, "js_code": {"direct.1"}, "grant_type": {"authorization_code"}}.Encode(), "")
	openid, sk := qaJSONField([]byte(login.Body), "openid"), qaJSONField([]byte(login.Body), "session_key")
	if tok == "" || sk == "" {
		t.Fatalf("token %q, login %s", tok, login.Body)
	}
	send := func(name, token, body, appKey, sessionKey string) string {
		q := url.Values{"access_token": {token}, "pay_sig": {xpayHMAC(appKey, "/xpay/"+name+"&"+body)}}
		if sessionKey != "" {
			q.Set("signature", xpayHMAC(sessionKey, body))
		}
		r := pushDo(t, "POST", "http://"+e.emu+"/xpay/"+name+"?"+q.Encode(), body, "Content-Type", "application/json")
		return fmt.Sprint(pushJSONObj(t, r.Body)["errcode"])
	}
	bal := `{"openid": "` + openid + `", "user_ip": "127.0.0.1", "env": 0}`
	for _, c := range []struct {
		what, name, token, body, key, sk, want string
	}{
		{"balance, both signatures (spaces in the body)", "query_user_balance", tok, bal, xpayKey, sk, "0"},
		{"balance, sandbox env with the sandbox key", "query_user_balance", tok, strings.Replace(bal, `"env": 0`, `"env": 1`, 1), xpaySandbox, sk, "0"},
		{"balance, env 0 signed with the sandbox key", "query_user_balance", tok, bal, xpaySandbox, sk, "268490003"},
		{"balance, wrong session key", "query_user_balance", tok, bal, xpayKey, "9hAb/NEYUlkaMBEsmFgzig==", "268490003"},
		{"balance, no signature", "query_user_balance", tok, bal, xpayKey, "", "268490003"},
		{"balance, bad token", "query_user_balance", "not-a-token", bal, xpayKey, sk, "40001"},
		{"present, pay_sig only", "present_currency", tok, `{"openid":"` + openid + `","order_id":"D-1","amount":5,"env":0}`, xpayKey, "", "0"},
		{"present, amount as a string", "present_currency", tok, `{"openid":"` + openid + `","order_id":"D-2","amount":"5","env":0}`, xpayKey, "", "268490002"},
		{"present, reused order id", "present_currency", tok, `{"openid":"` + openid + `","order_id":"D-1","amount":5,"env":0}`, xpayKey, "", "268490004"},
	} {
		if got := send(c.name, c.token, c.body, c.key, c.sk); got != c.want {
			t.Errorf("emulator %s: errcode %s, want %s", c.what, got, c.want)
		}
	}
}
