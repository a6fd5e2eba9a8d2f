package xpay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/providers/xpay"
)

const (
	emuApp    = "wx1111111111111111"
	emuSecret = "mini-secret"
	emuOffer  = "1450019686"
)

// emuTokens is a TokenSource over the emulator's /cgi-bin/token.
type emuTokens struct {
	base string
	mu   sync.Mutex
	tok  string
	n    int
}

func (e *emuTokens) fetch(ctx context.Context) (string, error) {
	q := url.Values{"grant_type": {"client_credential"}, "appid": {emuApp}, "secret": {emuSecret}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/cgi-bin/token?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var a struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&a)
	e.n++
	return a.AccessToken, err
}

func (e *emuTokens) Token(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tok == "" {
		t, err := e.fetch(ctx)
		if err != nil {
			return "", err
		}
		e.tok = t
	}
	return e.tok, nil
}

func (e *emuTokens) Refresh(ctx context.Context, rejected string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tok == rejected {
		t, err := e.fetch(ctx)
		if err != nil {
			return "", err
		}
		e.tok = t
	}
	return e.tok, nil
}

type sessions map[string]string

func (s sessions) Get(_ context.Context, appid, openid string) (string, bool) {
	k, ok := s[appid+"/"+openid]
	return k, ok
}

type fixture struct {
	emu    *emulator.Server
	srv    *httptest.Server
	client *xpay.Client
	tokens *emuTokens
	openid string
}

func newFixture(t testing.TB, env xpay.Env) *fixture {
	emu := emulator.New(emulator.Config{
		WeixinApps: map[string]string{emuApp: emuSecret},
		WeixinXpay: []emulator.WeixinXpay{{AppID: emuApp, OfferID: emuOffer, AppKey: "prod-key", SandboxAppKey: "sandbox-key"}},
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/sns/jscode2session?" + url.Values{"appid": {emuApp}, "secret": {emuSecret},
		"js_code": {"alice.1"}, "grant_type": {"authorization_code"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var login struct {
		Openid     string `json:"openid"`
		SessionKey string `json:"session_key"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || login.SessionKey == "" {
		t.Fatalf("code2Session: %v", err)
	}
	tokens := &emuTokens{base: srv.URL}
	return &fixture{emu: emu, srv: srv, tokens: tokens, openid: login.Openid, client: &xpay.Client{
		Config:   xpay.Config{AppID: emuApp, OfferID: emuOffer, Env: env, AppKey: "prod-key", SandboxAppKey: "sandbox-key"},
		Caller:   &xpay.HTTPCaller{Endpoint: srv.URL, Tokens: tokens},
		Sessions: sessions{emuApp + "/" + login.Openid: login.SessionKey},
	}}
}

// pay plays wx.requestVirtualPayment with what getOrderInfo answered.
func (f *fixture) pay(t testing.TB, ans pay.Answer) {
	oi := ans["orderInfo"].(*xpay.OrderInfo)
	body, _ := json.Marshal(map[string]string{"openid": f.openid, "mode": oi.Mode, "signData": oi.SignData,
		"paySig": oi.PaySig, "signature": oi.Signature})
	resp, err := http.Post(f.srv.URL+"/_emulator/xpay/pay", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the emulated client refused the order: %d", resp.StatusCode)
	}
}

// TestAgainstEmulator: what the SDK signs, the emulator (WeChat's side, written apart) accepts, in both envs.
func TestAgainstEmulator(t *testing.T) {
	for _, env := range []xpay.Env{xpay.EnvProduction, xpay.EnvSandbox} {
		f := newFixture(t, env)
		ctx := context.Background()
		c := f.client
		ans, err := c.Call(ctx, "getOrderInfo", pay.Params{"openid": f.openid, "outTradeNo": "T-1", "productId": "p1",
			"goodsPrice": json.Number("150"), "buyQuantity": "2", "attach": "中文"})
		if err != nil {
			t.Fatal(err)
		}
		f.pay(t, ans)

		q, err := c.Call(ctx, "orderQuery", pay.Params{"openid": f.openid, "outTradeNo": "T-1"})
		if err != nil {
			t.Fatalf("env %d orderQuery: %v", env, err)
		}
		order := q["order"].(map[string]any)
		if order["orderId"] != "T-1" || order["paidFee"] != json.Number("300") || order["status"] != json.Number("2") ||
			order["envType"] != json.Number(string(rune('0'+env))) {
			t.Errorf("env %d order = %v", env, order)
		}
		if _, err := c.Call(ctx, "notifyProvideGoods", pay.Params{"outTradeNo": "T-1"}); err != nil {
			t.Errorf("notifyProvideGoods: %v", err)
		}
		r, err := c.Call(ctx, "refund", pay.Params{"openid": f.openid, "outTradeNo": "T-1", "outRefundNo": "R-1",
			"leftFee": json.Number("300"), "refundFee": "100", "refundReason": "1", "reqFrom": "2"})
		if err != nil || r["payOrderId"] != "T-1" || r["refundOrderId"] != "R-1" {
			t.Errorf("refund = %v, %v", r, err)
		}
		_, err = c.Call(ctx, "refund", pay.Params{"openid": f.openid, "outTradeNo": "T-1", "outRefundNo": "R-2",
			"leftFee": json.Number("300"), "refundFee": "100"})
		if xe, ok := err.(*xpay.Error); !ok || xe.Code != 268490016 {
			t.Errorf("wrong leftFee: err = %v, want errcode 268490016", err)
		}

		coin, err := c.Call(ctx, "getOrderInfo", pay.Params{"openid": f.openid, "outTradeNo": "C-1",
			"mode": xpay.ModeCoin, "buyQuantity": json.Number("60")})
		if err != nil {
			t.Fatal(err)
		}
		f.pay(t, coin)
		b, err := c.Call(ctx, "queryUserBalance", pay.Params{"openid": f.openid, "userIp": "127.0.0.1"})
		if err != nil || b["balance"] != json.Number("60") {
			t.Errorf("env %d balance = %v, %v", env, b, err)
		}
		if _, err := c.Call(ctx, "currencyPay", pay.Params{"openid": f.openid, "userIp": "127.0.0.1", "orderId": "U-1",
			"amount": json.Number("10"), "payitem": "ep1"}); err != nil {
			t.Errorf("currencyPay: %v", err)
		}
		if _, err := c.Call(ctx, "presentCurrency", pay.Params{"openid": f.openid, "orderId": "P-1", "amount": "5"}); err != nil {
			t.Errorf("presentCurrency: %v", err)
		}
		if _, err := c.Call(ctx, "createWithdrawOrder", pay.Params{"withdrawNo": "W-1", "withdrawAmount": "1234"}); err != nil {
			t.Errorf("createWithdrawOrder: %v", err)
		}
		w, err := c.Call(ctx, "queryWithdrawOrder", pay.Params{"withdrawNo": "W-1"})
		if err != nil || w["withdrawAmount"] != json.Number("1234") {
			t.Errorf("queryWithdrawOrder = %v, %v; want withdrawAmount 1234 fen", w, err)
		}
		if d, err := c.Call(ctx, "downloadBill", pay.Params{"billDate": "20260301"}); err != nil || d["url"] == "" {
			t.Errorf("downloadBill = %v, %v", d, err)
		}
	}
}

// TestAgainstEmulatorTokenRevoked: a revoked token is refused (40001) and the call is sent again once, with the
// same signed body, and succeeds.
func TestAgainstEmulatorTokenRevoked(t *testing.T) {
	f := newFixture(t, xpay.EnvProduction)
	ctx := context.Background()
	if _, err := f.client.Call(ctx, "queryUserBalance", pay.Params{"openid": f.openid, "userIp": "1.1.1.1"}); err != nil {
		t.Fatal(err)
	}
	f.emu.RevokeTokens(emuApp)
	if _, err := f.client.Call(ctx, "queryUserBalance", pay.Params{"openid": f.openid, "userIp": "1.1.1.1"}); err != nil {
		t.Fatalf("after revoke: %v", err)
	}
	if f.tokens.n != 2 {
		t.Errorf("%d token fetches, want 2", f.tokens.n)
	}
	if n := f.emu.Stats().Calls["/xpay/query_user_balance"]; n != 3 {
		t.Errorf("%d balance calls, want 3 (one retried)", n)
	}
}

func BenchmarkSignedCallAgainstEmulator(b *testing.B) {
	f := newFixture(b, xpay.EnvProduction)
	ctx := context.Background()
	p := pay.Params{"openid": f.openid, "userIp": "127.0.0.1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.client.Call(ctx, "queryUserBalance", p); err != nil {
			b.Fatal(err)
		}
	}
}
