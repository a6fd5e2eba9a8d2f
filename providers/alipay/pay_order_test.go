package alipay_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// fixedNow is the clock of the pinned pay URLs: 2026-06-01 10:03:04 in
// China.
func fixedNow() time.Time { return time.Date(2026, 6, 1, 2, 3, 4, 0, time.UTC) }

func orderInfo(t *testing.T, p *alipay.Pay, params map[string]any) pay.Answer {
	t.Helper()
	a, err := p.GetOrderInfo(context.Background(), &pay.OrderRequest{Params: pay.NewParams(params)})
	if err != nil {
		t.Fatalf("getOrderInfo %v: %v", params, err)
	}
	return a
}

// payURLParams checks that u is the gateway URL followed by a query whose
// sign verifies with the app's public key over every other parameter, and
// returns the parameters.
func payURLParams(t *testing.T, u, endpoint string) map[string]string {
	t.Helper()
	base, query, ok := strings.Cut(u, "?")
	if !ok || base != endpoint {
		t.Fatalf("pay URL %q is not %s?…", u, endpoint)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for k := range q {
		if len(q[k]) != 1 {
			t.Errorf("parameter %s repeated", k)
		}
		params[k] = q.Get(k)
	}
	_, pub := payKeys(t)
	if err := signing.AlipayVerify(pub, []byte(signing.AlipaySignContent(params, true)), params["sign"], signing.SignTypeRSA2); err != nil {
		t.Fatalf("pay URL sign: %v", err)
	}
	return params
}

// h5 is alipay.trade.wap.pay as a URL signed here, byte for byte: the
// gateway, then every common parameter form-encoded, sign last in sort
// order; QUICK_WAP_WAY, quit_url from quitUrl, return_url as given, the
// amount in exact yuan. RSA PKCS#1 v1.5 is deterministic, so the sign is
// pinned too.
func TestH5PayURLPinned(t *testing.T) {
	priv, _ := payKeys(t)
	p := &alipay.Pay{Client: &alipay.Client{AppID: payAppID, PrivateKey: priv, Now: fixedNow}, NotifyURL: "https://example.com/notify/alipay"}
	a := orderInfo(t, p, map[string]any{"clientType": "h5", "subject": "demo", "outTradeNo": "H5-1", "totalFee": "10",
		"returnUrl": "https://m.example.com/paid?o=H5-1", "quitUrl": "https://m.example.com/cart"})
	u := a["orderInfo"].(map[string]any)["payUrl"].(string)
	if a["outTradeNo"] != "H5-1" || len(a) != 2 {
		t.Errorf("answer %v", a)
	}
	params := payURLParams(t, u, alipay.DefaultEndpoint)
	want := map[string]string{
		"app_id": payAppID, "method": "alipay.trade.wap.pay", "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
		"timestamp": "2026-06-01 10:03:04", "version": "1.0", "notify_url": "https://example.com/notify/alipay",
		"return_url":  "https://m.example.com/paid?o=H5-1",
		"biz_content": `{"out_trade_no":"H5-1","product_code":"QUICK_WAP_WAY","quit_url":"https://m.example.com/cart","subject":"demo","total_amount":"0.10"}`,
	}
	for k, v := range want {
		if params[k] != v {
			t.Errorf("%s = %q, want %q", k, params[k], v)
		}
	}
	if len(params) != len(want)+1 {
		t.Errorf("parameters %v", params)
	}
	const pinned = "https://openapi.alipay.com/gateway.do?app_id=2021000117600000" +
		"&biz_content=%7B%22out_trade_no%22%3A%22H5-1%22%2C%22product_code%22%3A%22QUICK_WAP_WAY%22%2C%22quit_url%22%3A%22https%3A%2F%2Fm.example.com%2Fcart%22%2C%22subject%22%3A%22demo%22%2C%22total_amount%22%3A%220.10%22%7D" +
		"&charset=utf-8" +
		"&format=JSON" +
		"&method=alipay.trade.wap.pay" +
		"&notify_url=https%3A%2F%2Fexample.com%2Fnotify%2Falipay" +
		"&return_url=https%3A%2F%2Fm.example.com%2Fpaid%3Fo%3DH5-1" +
		"&sign=WsibC9qPx8OyyeNdZjljmrXHyAOW5aihqxsMkrqc4cI43kpTMWpv83PlNlkycVMIf49VEv3MJV%2BrRXovhjmgk%2F5N6WvXRqruVT7Fvcq2yMO3S5a7LWQqVmw%2Fmq3yo9Uc0ascwwNz68fVphv%2BtQ%2FQjmuPD92elREPW1L1EyW%2Bd2C5LPZ6Bip8DsMcG0F7wu4MfGqxRiX8Y3E1j1uqxisBUafc8hip5qMfbhQxV3Eklp2JPlzRChzIyP%2Bji7Z7W8ES%2F0uONMyjxk4pnjdceVfltXDaiW2%2FWtdHc5%2FPwo4a2SHVlPhhnBf2zXXl98T01WFVoe9PzThQSCerWwQ2IfrMIg%3D%3D" +
		"&sign_type=RSA2" +
		"&timestamp=2026-06-01+10%3A03%3A04" +
		"&version=1.0"
	if u != pinned {
		t.Errorf("pay URL\n%s\nwant\n%s", u, pinned)
	}
}

// web is alipay.trade.page.pay with FAST_INSTANT_TRADE_PAY, on the
// configured endpoint; a caller's product_code is kept.
func TestWebPayURL(t *testing.T) {
	priv, _ := payKeys(t)
	const endpoint = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
	p := &alipay.Pay{Client: &alipay.Client{AppID: payAppID, PrivateKey: priv, Endpoint: endpoint, Now: fixedNow}}
	for total, yuan := range map[any]string{"123456": "1234.56", json.Number("100"): "1.00", json.Number("1"): "0.01", "10": "0.10"} {
		params := map[string]any{"clientType": "web", "subject": "s", "outTradeNo": "W-1", "notifyUrl": "https://n.example.com/a", "timeoutExpress": "15m", "totalFee": total}
		a := orderInfo(t, p, params)
		got := payURLParams(t, a["orderInfo"].(map[string]any)["payUrl"].(string), endpoint)
		wantBiz := `{"out_trade_no":"W-1","product_code":"FAST_INSTANT_TRADE_PAY","subject":"s","timeout_express":"15m","total_amount":"` + yuan + `"}`
		if got["method"] != "alipay.trade.page.pay" || got["biz_content"] != wantBiz || got["notify_url"] != "https://n.example.com/a" || got["return_url"] != "" {
			t.Errorf("totalFee %v: %v", total, got)
		}
	}
}

// In certificate mode the pay URL carries app_cert_sn and
// alipay_root_cert_sn inside the signed string.
func TestPayURLCertMode(t *testing.T) {
	pki := newPKI(t)
	cs := certs(t, pki.alipayCert)
	p := &alipay.Pay{Client: &alipay.Client{AppID: payAppID, PrivateKey: pki.appKey, Certs: cs, Now: fixedNow}, NotifyURL: "https://example.com/n"}
	a := orderInfo(t, p, map[string]any{"clientType": "h5", "subject": "s", "outTradeNo": "C-1", "totalFee": "1"})
	u := a["orderInfo"].(map[string]any)["payUrl"].(string)
	q, _ := url.ParseQuery(strings.SplitN(u, "?", 2)[1])
	params := map[string]string{}
	for k := range q {
		params[k] = q.Get(k)
	}
	if params["app_cert_sn"] != cs.AppCertSN || params["alipay_root_cert_sn"] != cs.RootCertSN || cs.AppCertSN == "" {
		t.Errorf("pay URL %s", u)
	}
	if err := signing.AlipayVerify(&pki.appKey.PublicKey, []byte(signing.AlipaySignContent(params, true)), params["sign"], signing.SignTypeRSA2); err != nil {
		t.Errorf("sign: %v", err)
	}
}

// native is alipay.trade.precreate: no product_code, no payer; orderInfo
// {qrCode} from the verified answer's qr_code; an answer signed with
// another key is the bad-signature kind.
func TestNativePrecreate(t *testing.T) {
	g := newFakeGateway(t)
	g.answer = func(method string, form url.Values) (string, bool) {
		if method != "alipay.trade.precreate" {
			t.Errorf("method %s", method)
		}
		return `{"code":"10000","msg":"Success","out_trade_no":"N-1","qr_code":"https://qr.alipay.com/bax01"}`, true
	}
	p := &alipay.Pay{Client: g.client(), NotifyURL: "https://example.com/n"}
	a := orderInfo(t, p, map[string]any{"clientType": "native", "subject": "s", "outTradeNo": "N-1", "totalFee": json.Number("1234"), "openid": "2088102146225135"})
	if oi, _ := a["orderInfo"].(map[string]any); oi["qrCode"] != "https://qr.alipay.com/bax01" || len(oi) != 1 || a["outTradeNo"] != "N-1" || a["qrCode"] != "https://qr.alipay.com/bax01" {
		t.Errorf("answer %v", a)
	}
	if biz := g.last.Get("biz_content"); biz != `{"out_trade_no":"N-1","subject":"s","total_amount":"12.34"}` {
		t.Errorf("biz_content %s", biz)
	}
	// An answer without qr_code is an upstream failure.
	g.answer = func(string, url.Values) (string, bool) {
		return `{"code":"10000","msg":"Success","out_trade_no":"N-1"}`, true
	}
	if _, err := p.GetOrderInfo(context.Background(), &pay.OrderRequest{Params: pay.NewParams(map[string]any{"clientType": "native", "subject": "s", "outTradeNo": "N-1", "totalFee": "1"})}); !errors.Is(err, pay.ErrUpstream) {
		t.Errorf("no qr_code: %v", err)
	}
	// Signed with the app's key, not Alipay's.
	g.ali = g.priv
	if _, err := p.GetOrderInfo(context.Background(), &pay.OrderRequest{Params: pay.NewParams(map[string]any{"clientType": "native", "subject": "s", "outTradeNo": "N-1", "totalFee": "1"})}); !errors.Is(err, pay.ErrBadSignature) {
		t.Errorf("bad sign: %v", err)
	}
}

// Refusals name the parameter to fix, and make no request.
func TestClientTypeRefusals(t *testing.T) {
	priv, _ := payKeys(t)
	p := &alipay.Pay{Client: &alipay.Client{AppID: payAppID, PrivateKey: priv, Endpoint: "http://127.0.0.1:1/gateway.do", Now: fixedNow}, NotifyURL: "https://example.com/n"}
	for _, tc := range []struct {
		params map[string]any
		kind   error
		msg    string
	}{
		{map[string]any{"clientType": "h5", "outTradeNo": "o", "totalFee": "1"}, pay.ErrBadRequest, "missing required parameter: subject"},
		{map[string]any{"clientType": "web", "subject": "s", "totalFee": "1"}, pay.ErrBadRequest, "missing required parameter: outTradeNo"},
		{map[string]any{"clientType": "native", "subject": "s", "outTradeNo": "o"}, pay.ErrBadRequest, "missing required parameter: totalFee"},
		{map[string]any{"clientType": "h5", "subject": "s", "outTradeNo": "o", "totalFee": "1.5"}, pay.ErrBadRequest, "integer number of fen: totalFee"},
		{map[string]any{"clientType": "web", "subject": "s", "outTradeNo": "o", "totalFee": "0"}, pay.ErrBadRequest, "at least 1 fen: totalFee"},
		{map[string]any{"clientType": "native", "subject": "s", "outTradeNo": "o", "totalFee": json.Number("-1")}, pay.ErrBadRequest, "integer number of fen: totalFee"},
		{map[string]any{"clientType": "h5", "subject": "s", "outTradeNo": "o", "totalFee": "1", "totalAmount": "0.01"}, pay.ErrBadRequest, "not in yuan: totalAmount"},
		{map[string]any{"clientType": "mp-weixin", "subject": "s", "outTradeNo": "o", "totalFee": "1"}, pay.ErrNotSupported, `"mp-weixin" is not supported by Alipay (mp-alipay, app-plus, native, h5, web)`},
	} {
		_, err := p.GetOrderInfo(context.Background(), &pay.OrderRequest{Params: pay.NewParams(tc.params)})
		if !errors.Is(err, tc.kind) || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: %v, want %v %q", tc.params, err, tc.kind, tc.msg)
		}
	}
	// Without notifyUrl nor notify_url.
	p.NotifyURL = ""
	if _, err := p.GetOrderInfo(context.Background(), &pay.OrderRequest{Params: pay.NewParams(map[string]any{"clientType": "web", "subject": "s", "outTradeNo": "o", "totalFee": "1"})}); err == nil || !strings.Contains(err.Error(), "notifyUrl") {
		t.Errorf("no notify URL: %v", err)
	}
}
