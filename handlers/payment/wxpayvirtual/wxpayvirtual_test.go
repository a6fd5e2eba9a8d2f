package wxpayvirtual

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/providers/xpay"
)

const (
	testApp    = "wx1111111111111111"
	testSecret = "mini-secret"
	testOffer  = "1450019686"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	var w WxpayVirtual
	d := caddyfile.NewTestDispenser("wxpay_virtual {\n app_id wx1\n secret s\n app_key k\n sandbox_app_key sk\n offer_id 1\n env sandbox\n endpoint http://127.0.0.1:9\n}")
	if err := w.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if w.AppID != "wx1" || w.Secret != "s" || w.AppKey != "k" || w.SandboxAppKey != "sk" || w.OfferID != "1" ||
		w.Env != "sandbox" || w.Endpoint != "http://127.0.0.1:9" {
		t.Errorf("%+v", w)
	}
	for in, want := range map[string]string{
		"wxpay_virtual {\n env test\n}":              `env must be production or sandbox, not "test"`,
		"wxpay_virtual {\n app_key a\n app_key b\n}": "app_key is given twice",
		"wxpay_virtual {\n mch_id 1\n}":              `unknown subdirective "mch_id"`,
		"wxpay_virtual {\n app_id\n}":                "wrong argument count",
	} {
		var w WxpayVirtual
		if err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func provisioned(t *testing.T, w *WxpayVirtual) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := w.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Cleanup() })
}

func TestValidate(t *testing.T) {
	t.Setenv("UNICLOUD_TEST_XPAY_KEY", "prod-key")
	w := &WxpayVirtual{AppID: testApp, Secret: testSecret, OfferID: testOffer, AppKey: "{env.UNICLOUD_TEST_XPAY_KEY}"}
	provisioned(t, w)
	if err := w.Validate(); err != nil || w.AppKey != "prod-key" || w.Env != EnvProduction || w.Endpoint != xpay.DefaultEndpoint {
		t.Fatalf("Validate = %v, %+v", err, w)
	}
	for want, w := range map[string]*WxpayVirtual{
		"app_key is required with env production":      {AppID: testApp, Secret: testSecret, OfferID: testOffer, SandboxAppKey: "k"},
		"sandbox_app_key is required with env sandbox": {AppID: testApp, Secret: testSecret, OfferID: testOffer, AppKey: "k", Env: "sandbox"},
		"app_id, secret and offer_id are required":     {AppID: testApp, AppKey: "k"},
		`endpoint`: {AppID: testApp, Secret: testSecret, OfferID: testOffer, AppKey: "k", Endpoint: "ftp://x"},
	} {
		provisioned(t, w)
		if err := w.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %q", err, want)
		}
	}
	if err := (&WxpayVirtual{}).Cleanup(); err != nil {
		t.Errorf("Cleanup before Provision: %v", err)
	}
}

// TestAgainstEmulator: the guest signs with the session key kept by the shared store, shares the token
// authority, and answers the gateway's errors.
func TestAgainstEmulator(t *testing.T) {
	emu := emulator.New(emulator.Config{
		WeixinApps: map[string]string{testApp: testSecret},
		WeixinXpay: []emulator.WeixinXpay{{AppID: testApp, OfferID: testOffer, AppKey: "prod-key", SandboxAppKey: "sandbox-key"}},
	})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	w := &WxpayVirtual{AppID: testApp, Secret: testSecret, OfferID: testOffer, AppKey: "prod-key", Endpoint: srv.URL}
	provisioned(t, w)
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	p := w.PayProvider(5 * time.Second).(*Provider)
	ctx := context.Background()

	// Nobody logged in: 400 UNICLOUD_SESSION_KEY_NOT_FOUND, nothing sent.
	_, err := p.GetOrderInfo(ctx, &pay.OrderRequest{Params: pay.Params{"openid": "o1", "outTradeNo": "T1", "productId": "p", "goodsPrice": "1"}})
	var ge *handlers.Error
	if !errors.As(err, &ge) || ge.Status != 400 || ge.Code != "UNICLOUD_SESSION_KEY_NOT_FOUND" {
		t.Fatalf("no session: %v", err)
	}
	if n := emu.Stats().Calls; len(n) != 0 {
		t.Errorf("sent %v", n)
	}

	// unicloud_openapi weixin's code2Session keeps the key in the shared store.
	resp, err := http.Get(srv.URL + "/sns/jscode2session?" + url.Values{"appid": {testApp}, "secret": {testSecret}, "js_code": {"alice.1"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		Openid     string `json:"openid"`
		SessionKey string `json:"session_key"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	w.state.Sessions.Put(ctx, testApp, login.Openid, login.SessionKey)

	ans, err := p.GetOrderInfo(ctx, &pay.OrderRequest{Params: pay.Params{"openid": login.Openid, "outTradeNo": "T1", "productId": "p", "goodsPrice": "100"}})
	if err != nil {
		t.Fatal(err)
	}
	oi := ans["orderInfo"].(*xpay.OrderInfo)
	body, _ := json.Marshal(map[string]string{"openid": login.Openid, "mode": oi.Mode, "signData": oi.SignData, "paySig": oi.PaySig, "signature": oi.Signature})
	if resp, err := http.Post(srv.URL+"/_emulator/xpay/pay", "application/json", bytes.NewReader(body)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("pay: %v %v", resp, err)
	}
	req, err := pay.NewOrderQueryRequest(pay.Params{"outTradeNo": "T1"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.OrderQuery(ctx, req)
	if err != nil || q["order"].(map[string]any)["paidFee"] != json.Number("100") {
		t.Errorf("orderQuery = %v, %v", q, err)
	}
	if _, err := p.Call(ctx, "queryUserBalance", pay.Params{"openid": login.Openid, "userIp": "127.0.0.1"}); err != nil {
		t.Errorf("queryUserBalance: %v", err)
	}
	// A revoked token: refused (40001), a fresh one fetched, the same signed body sent again once.
	emu.RevokeTokens(testApp)
	if _, err := p.Call(ctx, "queryUserBalance", pay.Params{"openid": login.Openid, "userIp": "127.0.0.1"}); err != nil {
		t.Errorf("queryUserBalance after revoke: %v", err)
	}
	if n := emu.Stats().Calls["/xpay/query_user_balance"]; n != 3 {
		t.Errorf("%d balance calls, want 3 (one retried)", n)
	}
	_, err = p.Call(ctx, "currencyPay", pay.Params{"openid": login.Openid, "userIp": "1", "orderId": "U1", "amount": "5"})
	var be *pay.NumericBusinessError
	if !errors.As(err, &be) || be.Code != 268490006 {
		t.Errorf("currencyPay without coins: %v", err)
	}
	for call, code := range map[string]string{"closeOrder": handlers.ErrNotSupported, "nope": handlers.ErrAPINotFound} {
		_, err := p.Call(ctx, call, pay.Params{})
		if call == "closeOrder" {
			if !errors.Is(err, pay.ErrNotSupported) {
				t.Errorf("%s: %v", call, err)
			}
			continue
		}
		if !errors.As(err, &ge) || ge.Code != code {
			t.Errorf("%s: %v, want %s", call, err, code)
		}
	}
	if emu.Stats().TokenIssues[testApp].Stable != 2 {
		t.Errorf("token issues %v, want two stable tokens (one after the revocation)", emu.Stats().TokenIssues)
	}
}

// BenchmarkSignedCall is queryUserBalance (pay_sig and the user signature, the shared token) against the emulator.
func BenchmarkSignedCall(b *testing.B) {
	emu := emulator.New(emulator.Config{
		WeixinApps: map[string]string{testApp: testSecret},
		WeixinXpay: []emulator.WeixinXpay{{AppID: testApp, OfferID: testOffer, AppKey: "prod-key", SandboxAppKey: "sandbox-key"}},
	})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	w := &WxpayVirtual{AppID: testApp, Secret: testSecret, OfferID: testOffer, AppKey: "prod-key", Endpoint: srv.URL}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := w.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	defer w.Cleanup()
	resp, err := http.Get(srv.URL + "/sns/jscode2session?" + url.Values{"appid": {testApp}, "secret": {testSecret}, "js_code": {"bench.1"}}.Encode())
	if err != nil {
		b.Fatal(err)
	}
	var login struct {
		Openid     string `json:"openid"`
		SessionKey string `json:"session_key"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	w.state.Sessions.Put(ctx, testApp, login.Openid, login.SessionKey)
	p := w.PayProvider(5 * time.Second).(*Provider)
	in := pay.Params{"openid": login.Openid, "userIp": "127.0.0.1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Call(ctx, "queryUserBalance", in); err != nil {
			b.Fatal(err)
		}
	}
}
