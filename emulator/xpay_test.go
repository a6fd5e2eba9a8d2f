package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	xpayOffer      = "1450019686"
	xpayAppKey     = "xpay-app-key"
	xpaySandboxKey = "xpay-sandbox-key"
)

// xpayMessageServer is a fake message server for the virtual payment events: it answers with answer(n), n counting
// the pushes from 1, and keeps what it got.
type xpayMessageServer struct {
	mu  sync.Mutex
	got []map[string]any
	url string
}

func newXpayMessageServer(t *testing.T, answer func(n int) string) *xpayMessageServer {
	m := &xpayMessageServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		_ = dec.Decode(&msg)
		m.mu.Lock()
		m.got = append(m.got, msg)
		n := len(m.got)
		m.mu.Unlock()
		io.WriteString(w, answer(n))
	}))
	t.Cleanup(srv.Close)
	m.url = srv.URL + "/wx/push"
	return m
}

func (m *xpayMessageServer) messages() []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]map[string]any(nil), m.got...)
}

const xpayAck = `{"ErrCode":0,"ErrMsg":"success"}`

func xpayServer(t *testing.T, push *xpayMessageServer) *Server {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	cfg := Config{
		WeixinApps: map[string]string{testApp: testSecret, testApp2: testSecret2},
		WeixinXpay: []WeixinXpay{{AppID: testApp, OfferID: xpayOffer, AppKey: xpayAppKey, SandboxAppKey: xpaySandboxKey}},
		Now:        clock.Now,
	}
	if push != nil {
		cfg.WeixinMessagePushes = []WeixinMessagePush{{AppID: testApp, URL: push.url, Token: "push-token"}}
	}
	s := New(cfg)
	if err := s.validateXpay(); err != nil {
		t.Fatal(err)
	}
	s.SetXpayPushRetryWait(func(int) time.Duration { return 0 })
	return s
}

// xpayUser logs a user in (code2Session) and returns its openid and session key.
func xpayUser(t *testing.T, s *Server, user string) (openid, sessionKey string) {
	t.Helper()
	m := getJSON(t, s, "/sns/jscode2session?"+url.Values{"appid": {testApp}, "secret": {testSecret},
		"js_code": {user + ".code"}, "grant_type": {"authorization_code"}}.Encode())
	openid, _ = m["openid"].(string)
	sessionKey, _ = m["session_key"].(string)
	if openid == "" || sessionKey == "" {
		t.Fatalf("code2Session: %v", m)
	}
	return openid, sessionKey
}

// xpayClient signs /xpay/* calls as the WeChat guide's reference script does.
type xpayClient struct {
	t          *testing.T
	s          *Server
	token      string
	appKey     string
	sessionKey string // "" for pay_sig-only calls
}

func (c *xpayClient) call(api string, body map[string]any) map[string]any {
	c.t.Helper()
	raw := mustJSON(body)
	path := "/xpay/" + api
	q := url.Values{"access_token": {c.token}, "pay_sig": {xpayHMAC(c.appKey, []byte(path+"&"), raw)}}
	if c.sessionKey != "" {
		q.Set("signature", xpayHMAC(c.sessionKey, raw))
	}
	return decode(c.t, do(c.s, http.MethodPost, path+"?"+q.Encode(), bytes.NewReader(raw), "application/json"))
}

func num(m map[string]any, k string) int64 {
	n, _ := m[k].(json.Number).Int64()
	return n
}

// xpayPay plays wx.requestVirtualPayment with the order's signData signed with appKey and sessionKey.
func xpayPay(t *testing.T, s *Server, openid, mode, signData, appKey, sessionKey string) (int, map[string]any) {
	t.Helper()
	w := do(s, http.MethodPost, "/_emulator/xpay/pay", bytes.NewReader(mustJSON(map[string]string{
		"mode": mode, "signData": signData, "openid": openid,
		"paySig":    xpayHMAC(appKey, []byte("requestVirtualPayment&"+signData)),
		"signature": xpayHMAC(sessionKey, []byte(signData)),
	})), "application/json")
	return w.Code, decode(t, w)
}

func goodsSignData(out string, env int) string {
	return `{"offerId":"` + xpayOffer + `","buyQuantity":2,"env":` + strconv.Itoa(env) +
		`,"currencyType":"CNY","productId":"p1","goodsPrice":150,"outTradeNo":"` + out + `","attach":"a"}`
}

func TestXpayChecksTokenAndSignatures(t *testing.T) {
	s := xpayServer(t, nil)
	openid, sk := xpayUser(t, s, "alice")
	tok := classicToken(t, s, testApp, testSecret)
	body := map[string]any{"openid": openid, "user_ip": "127.0.0.1", "env": 0}

	c := &xpayClient{t: t, s: s, token: tok, appKey: xpayAppKey, sessionKey: sk}
	m := c.call("query_user_balance", body)
	wantErrcode(t, m, 0)
	if num(m, "balance") != 0 || m["first_save_flag"] != true {
		t.Errorf("balance = %v", m)
	}

	for name, bad := range map[string]*xpayClient{
		"bad token":          {t: t, s: s, token: "nope", appKey: xpayAppKey, sessionKey: sk},
		"sandbox key, env 0": {t: t, s: s, token: tok, appKey: xpaySandboxKey, sessionKey: sk},
		"wrong session key":  {t: t, s: s, token: tok, appKey: xpayAppKey, sessionKey: "c2Vzc2lvbg=="},
		"no signature":       {t: t, s: s, token: tok, appKey: xpayAppKey},
	} {
		want := map[string]int{"bad token": 40001}[name]
		if want == 0 {
			want = xpayBadSignature
		}
		if got := errcode(bad.call("query_user_balance", body)); got != want {
			t.Errorf("%s: errcode %d, want %d", name, got, want)
		}
	}
	// The sandbox is signed with the sandbox key.
	sand := &xpayClient{t: t, s: s, token: tok, appKey: xpaySandboxKey, sessionKey: sk}
	wantErrcode(t, sand.call("query_user_balance", map[string]any{"openid": openid, "user_ip": "1.1.1.1", "env": 1}), 0)
	// A user who never logged in has no session key.
	wantErrcode(t, c.call("query_user_balance", map[string]any{"openid": "o-stranger", "user_ip": "1.1.1.1", "env": 0}), xpayNoSession)
	// An app without virtual payment is refused.
	tok2 := classicToken(t, s, testApp2, testSecret2)
	wantErrcode(t, (&xpayClient{t: t, s: s, token: tok2, appKey: xpayAppKey, sessionKey: sk}).call("query_user_balance", body), 48001)
	// WeChat types amounts: a string is refused.
	wantErrcode(t, c.call("currency_pay", map[string]any{"openid": openid, "user_ip": "1", "env": 0, "order_id": "c1", "amount": "1"}), xpayBadField)
	wantErrcode(t, c.call("query_user_balance", map[string]any{"openid": openid, "user_ip": "1"}), xpayBadField) // no env
}

func TestXpayGoodsFlow(t *testing.T) {
	push := newXpayMessageServer(t, func(int) string { return xpayAck })
	s := xpayServer(t, push)
	openid, sk := xpayUser(t, s, "bob")
	c := &xpayClient{t: t, s: s, token: classicToken(t, s, testApp, testSecret), appKey: xpayAppKey}

	code, m := xpayPay(t, s, openid, "short_series_goods", goodsSignData("T1", 0), xpayAppKey, sk)
	if code != http.StatusOK || m["push"].(map[string]any)["acknowledged"] != true {
		t.Fatalf("pay = %d %v", code, m)
	}
	msgs := push.messages()
	if len(msgs) != 1 || msgs[0]["Event"] != "xpay_goods_deliver_notify" || msgs[0]["OutTradeNo"] != "T1" ||
		msgs[0]["OpenId"] != openid || msgs[0]["GoodsInfo"].(map[string]any)["ActualPrice"] != json.Number("300") {
		t.Fatalf("pushes = %v", msgs)
	}
	// The same order cannot be paid twice.
	if code, m := xpayPay(t, s, openid, "short_series_goods", goodsSignData("T1", 0), xpayAppKey, sk); code != 400 || errcode(m) != xpayDuplicate {
		t.Errorf("second pay = %d %v", code, m)
	}

	q := c.call("query_order", map[string]any{"openid": openid, "order_id": "T1", "env": 0})
	wantErrcode(t, q, 0)
	order := q["order"].(map[string]any)
	if order["status"] != json.Number("2") || order["paid_fee"] != json.Number("300") || order["left_fee"] != json.Number("300") {
		t.Errorf("order = %v", order)
	}
	wantErrcode(t, c.call("notify_provide_goods", map[string]any{"order_id": "T1", "env": 0}), 0)
	order = c.call("query_order", map[string]any{"wx_order_id": order["wx_order_id"], "env": 0})["order"].(map[string]any)
	if order["status"] != json.Number("4") {
		t.Errorf("after notify_provide_goods: %v", order)
	}

	refund := map[string]any{"openid": openid, "order_id": "T1", "refund_order_id": "R1", "left_fee": 200,
		"refund_fee": 100, "refund_reason": "1", "req_from": "2", "env": 0}
	wantErrcode(t, c.call("refund_order", refund), xpayBadLeftFee)
	refund["left_fee"] = 300
	r := c.call("refund_order", refund)
	wantErrcode(t, r, 0)
	if r["pay_order_id"] != "T1" || r["refund_order_id"] != "R1" || r["refund_wx_order_id"] == "" {
		t.Errorf("refund = %v", r)
	}
	wantErrcode(t, c.call("refund_order", refund), xpayDuplicate)
	s.WaitXpayPushes()
	msgs = push.messages()
	if len(msgs) != 2 || msgs[1]["Event"] != "xpay_refund_notify" || msgs[1]["RefundFee"] != json.Number("100") ||
		msgs[1]["MchRefundId"] != "R1" || msgs[1]["MchOrderId"] != "T1" {
		t.Fatalf("refund push = %v", msgs)
	}
	order = c.call("query_order", map[string]any{"order_id": "T1", "env": 0})["order"].(map[string]any)
	if order["refund_fee"] != json.Number("100") || order["left_fee"] != json.Number("200") {
		t.Errorf("after refund: %v", order)
	}

	bill := c.call("download_bill", map[string]any{"begin_ds": 20260301, "end_ds": 20260301, "env": 0})
	u, _ := url.Parse(bill["url"].(string))
	w := do(s, http.MethodGet, u.RequestURI(), nil, "")
	if !bytes.Contains(w.Body.Bytes(), []byte(",T1,")) {
		t.Errorf("bill = %q", w.Body.String())
	}
}

func TestXpayPayHookRefuses(t *testing.T) {
	s := xpayServer(t, nil)
	openid, sk := xpayUser(t, s, "carol")
	for name, tc := range map[string]struct {
		appKey, sessionKey, signData string
		code                         int
	}{
		"paySig with the sandbox key": {xpaySandboxKey, sk, goodsSignData("T2", 0), xpayClientBadSig},
		"paySig with the prod key":    {xpayAppKey, sk, goodsSignData("T2", 1), xpayClientBadSig},
		"bad signature":               {xpayAppKey, "other", goodsSignData("T2", 0), xpayBadSignature},
		"unknown offer":               {xpayAppKey, sk, `{"offerId":"9","buyQuantity":1,"env":0}`, xpayBadField},
	} {
		code, m := xpayPay(t, s, openid, "short_series_goods", tc.signData, tc.appKey, tc.sessionKey)
		if code != http.StatusBadRequest || errcode(m) != tc.code {
			t.Errorf("%s: %d %v, want errcode %d", name, code, m, tc.code)
		}
	}
	if code, m := xpayPay(t, s, "o-nobody", "short_series_goods", goodsSignData("T3", 0), xpayAppKey, sk); errcode(m) != xpayNoSession {
		t.Errorf("no session: %d %v", code, m)
	}
	// The sandbox pays with the sandbox key.
	if code, m := xpayPay(t, s, openid, "short_series_goods", goodsSignData("T4", 1), xpaySandboxKey, sk); code != 200 {
		t.Errorf("sandbox pay: %d %v", code, m)
	}
}

func TestXpayCoins(t *testing.T) {
	push := newXpayMessageServer(t, func(int) string { return xpayAck })
	s := xpayServer(t, push)
	openid, sk := xpayUser(t, s, "dave")
	tok := classicToken(t, s, testApp, testSecret)
	user := &xpayClient{t: t, s: s, token: tok, appKey: xpayAppKey, sessionKey: sk}
	plain := &xpayClient{t: t, s: s, token: tok, appKey: xpayAppKey}

	sd := `{"offerId":"` + xpayOffer + `","buyQuantity":60,"env":0,"currencyType":"CNY","outTradeNo":"C1"}`
	if code, m := xpayPay(t, s, openid, "short_series_coin", sd, xpayAppKey, sk); code != 200 {
		t.Fatalf("coin pay: %v", m)
	}
	if msgs := push.messages(); len(msgs) != 1 || msgs[0]["Event"] != "xpay_coin_pay_notify" ||
		msgs[0]["CoinInfo"].(map[string]any)["Quantity"] != json.Number("60") {
		t.Fatalf("coin push = %v", msgs)
	}
	wantErrcode(t, plain.call("present_currency", map[string]any{"openid": openid, "order_id": "P1", "amount": 5, "env": 0}), 0)
	b := user.call("query_user_balance", map[string]any{"openid": openid, "user_ip": "1.1.1.1", "env": 0})
	if num(b, "balance") != 65 || num(b, "present_balance") != 5 || b["first_save_flag"] != false {
		t.Errorf("balance = %v", b)
	}
	pay := map[string]any{"openid": openid, "user_ip": "1.1.1.1", "order_id": "U1", "amount": 10, "payitem": "ep1", "env": 0}
	r := user.call("currency_pay", pay)
	wantErrcode(t, r, 0)
	if num(r, "balance") != 55 || num(r, "used_present_amount") != 5 {
		t.Errorf("currency_pay = %v", r)
	}
	wantErrcode(t, user.call("currency_pay", pay), xpayDuplicate)
	pay["order_id"], pay["amount"] = "U2", 1000
	wantErrcode(t, user.call("currency_pay", pay), xpayNotEnough)
	cancel := map[string]any{"openid": openid, "user_ip": "1.1.1.1", "pay_order_id": "U1", "order_id": "X1", "amount": 10, "env": 0}
	wantErrcode(t, user.call("cancel_currency_pay", cancel), 0)
	cancel["order_id"] = "X2"
	wantErrcode(t, user.call("cancel_currency_pay", cancel), xpayCancelled)
	if b := user.call("query_user_balance", map[string]any{"openid": openid, "user_ip": "1", "env": 0}); num(b, "balance") != 65 {
		t.Errorf("balance after cancel = %v", b)
	}
}

func TestXpayPushRepeatsUntilAcknowledged(t *testing.T) {
	push := newXpayMessageServer(t, func(n int) string {
		if n < 3 {
			return `{"ErrCode":1,"ErrMsg":"try later"}`
		}
		return xpayAck
	})
	s := xpayServer(t, push)
	acked := make(chan XpayPush, 1)
	s.OnXpayPush(func(p XpayPush) {
		if p.Acknowledged {
			acked <- p
		}
	})
	openid, sk := xpayUser(t, s, "erin")
	if code, m := xpayPay(t, s, openid, "short_series_goods", goodsSignData("T9", 0), xpayAppKey, sk); code != 200 ||
		m["push"].(map[string]any)["acknowledged"] != false {
		t.Fatalf("pay = %d %v", code, m)
	}
	p := <-acked
	s.WaitXpayPushes()
	msgs := push.messages()
	if p.Attempt != 3 || len(msgs) != 3 {
		t.Fatalf("acknowledged at attempt %d after %d pushes", p.Attempt, len(msgs))
	}
	for i, m := range msgs {
		if m["RetryTimes"] != json.Number(strconv.Itoa(i)) || m["OutTradeNo"] != "T9" {
			t.Errorf("push %d = %v", i, m)
		}
	}
}

func TestXpayPushIsBounded(t *testing.T) {
	push := newXpayMessageServer(t, func(int) string { return "fail" })
	s := xpayServer(t, push)
	openid, sk := xpayUser(t, s, "frank")
	xpayPay(t, s, openid, "short_series_goods", goodsSignData("T10", 0), xpayAppKey, sk)
	s.WaitXpayPushes()
	if n := len(push.messages()); n != maxXpayPushRetries {
		t.Errorf("%d pushes, want %d", n, maxXpayPushRetries)
	}
}

func TestXpayWithdrawAndGoods(t *testing.T) {
	s := xpayServer(t, nil)
	c := &xpayClient{t: t, s: s, token: classicToken(t, s, testApp, testSecret), appKey: xpayAppKey}
	wantErrcode(t, c.call("create_withdraw_order", map[string]any{"withdraw_no": "W1", "withdraw_amount": 1, "env": 0}), xpayBadField)
	r := c.call("create_withdraw_order", map[string]any{"withdraw_no": "W1", "withdraw_amount": "12.34", "env": 0})
	wantErrcode(t, r, 0)
	q := c.call("query_withdraw_order", map[string]any{"withdraw_no": "W1", "env": 0})
	if q["withdraw_amount"] != "12.34" || q["wx_withdraw_no"] != r["wx_withdraw_no"] {
		t.Errorf("withdraw = %v", q)
	}
	wantErrcode(t, c.call("create_withdraw_order", map[string]any{"withdraw_no": "W1", "env": 0}), xpayDuplicate)

	item := map[string]any{"id": "p1", "name": "ep", "price": 100, "item_url": "https://x/p1.png"}
	wantErrcode(t, c.call("start_upload_goods", map[string]any{"upload_item": []any{item}, "env": 0}), 0)
	up := c.call("query_upload_goods", map[string]any{"env": 0})["upload_item"].([]any)
	if len(up) != 1 || up[0].(map[string]any)["upload_status"] != json.Number("2") {
		t.Errorf("uploaded = %v", up)
	}
	wantErrcode(t, c.call("start_publish_goods", map[string]any{"publish_item": []any{map[string]any{"id": "p1"}, map[string]any{"id": "p2"}}, "env": 0}), 0)
	pub := c.call("query_publish_goods", map[string]any{"env": 0})["publish_item"].([]any)
	if len(pub) != 2 || pub[0].(map[string]any)["publish_status"] != json.Number("2") || pub[1].(map[string]any)["publish_status"] != json.Number("3") {
		t.Errorf("published = %v", pub)
	}
	item["price"] = "100"
	wantErrcode(t, c.call("start_upload_goods", map[string]any{"upload_item": []any{item}, "env": 0}), xpayBadField)
}
