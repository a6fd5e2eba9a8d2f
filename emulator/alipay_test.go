package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/signing"
)

const aliAppID = "2021000199999999"

var aliTestKeys struct {
	once     sync.Once
	app, ali *rsa.PrivateKey
}

// aliKeys are the application key and a configured "Alipay" key, made once.
func aliKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	aliTestKeys.once.Do(func() {
		var err error
		if aliTestKeys.app, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if aliTestKeys.ali, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return aliTestKeys.app, aliTestKeys.ali
}

func pubPEM(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// newAliEmulator runs an emulator with one app; with configured, it signs
// with a configured key, otherwise with one it generates.
func newAliEmulator(t *testing.T, configured bool) (*Server, *httptest.Server, *aliClient) {
	app, ali := aliKeys(t)
	cfg := AlipayApp{AppID: aliAppID, AppPublicKey: pubPEM(&app.PublicKey)}
	if configured {
		cfg.AlipayPrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(ali)}))
	}
	emu := New(Config{AlipayApps: []AlipayApp{cfg}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	pubText, err := emu.AlipayPublicKey(aliAppID)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signing.ParseRSAPublicKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	if configured && !pub.Equal(&ali.PublicKey) {
		t.Fatal("the emulator does not sign with the configured key")
	}
	c := &aliClient{AppID: aliAppID, PrivateKey: app, AlipayPublicKey: pub, Endpoint: srv.URL + "/gateway.do", HTTP: srv.Client()}
	return emu, srv, c
}

func TestAlipayFlow(t *testing.T) {
	emu, _, c := newAliEmulator(t, true)
	sink := newNotifySink(t, "success")
	ctx := context.Background()
	create := []byte(`{"out_trade_no":"A-1","total_amount":"1.01","subject":"测试","buyer_open_id":"074abc"}`)
	f, err := c.Execute(ctx, aliTradeCreate, create, map[string]string{"notify_url": sink.srv.URL})
	if err != nil || f["trade_no"] == nil || f["out_trade_no"] != "A-1" {
		t.Fatalf("create: %v %v", f, err)
	}
	tradeNo := f["trade_no"].(string)
	if f2, err := c.Execute(ctx, aliTradeCreate, create, nil); err != nil || f2["trade_no"] != tradeNo {
		t.Errorf("the same trade again: %v %v", f2, err)
	}
	q, err := c.Execute(ctx, aliTradeQuery, []byte(`{"out_trade_no":"A-1"}`), nil)
	if err != nil || q["trade_status"] != "WAIT_BUYER_PAY" {
		t.Fatalf("query before paying: %v %v", q, err)
	}

	res, err := emu.PayAlipayOrder(ctx, aliAppID, "A-1", "")
	if err != nil || res.NotifyStatus != 200 || res.NotifyAnswer != "success" || res.TransactionID != tradeNo {
		t.Fatalf("pay: %+v %v", res, err)
	}
	_, ali := aliKeys(t)
	if p := aliNotice(t, sink.wait(t), &ali.PublicKey); p["app_id"] != aliAppID || p["out_trade_no"] != "A-1" || p["total_amount"] != "1.01" ||
		p["trade_status"] != "TRADE_SUCCESS" || p["trade_no"] != tradeNo || p["buyer_open_id"] != "074abc" {
		t.Errorf("notification %v", p)
	}
	q, err = c.Execute(ctx, aliTradeQuery, []byte(`{"trade_no":"`+tradeNo+`"}`), nil)
	if err != nil || q["trade_status"] != "TRADE_SUCCESS" || q["receipt_amount"] != "1.01" {
		t.Fatalf("query after paying: %v %v", q, err)
	}
	if _, err := c.Execute(ctx, aliTradeCreate, create, nil); !isAliBiz(err, "ACQ.TRADE_HAS_SUCCESS") {
		t.Errorf("paid trade created again: %v", err)
	}
	if _, err := c.Execute(ctx, aliTradeClose, []byte(`{"out_trade_no":"A-1"}`), nil); !isAliBiz(err, "ACQ.TRADE_STATUS_ERROR") {
		t.Errorf("closing a paid trade: %v", err)
	}

	r, err := c.Execute(ctx, aliTradeRefund, []byte(`{"out_trade_no":"A-1","refund_amount":"0.01","out_request_no":"AR-1","refund_reason":"r"}`), nil)
	if err != nil || r["refund_fee"] != "0.01" || r["send_back_fee"] != "0.01" {
		t.Fatalf("refund: %v %v", r, err)
	}
	if rn := aliNotice(t, sink.wait(t), &ali.PublicKey); rn["refund_fee"] != "0.01" || rn["out_biz_no"] != "AR-1" || rn["gmt_refund"] == "" {
		t.Errorf("refund notification: %v", rn)
	}
	if _, err := c.Execute(ctx, aliTradeRefund, []byte(`{"out_trade_no":"A-1","refund_amount":"1.01","out_request_no":"AR-2"}`), nil); !isAliBiz(err, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL") {
		t.Errorf("refunding more than paid: %v", err)
	}
	rq, err := c.Execute(ctx, aliRefundQuery, []byte(`{"out_trade_no":"A-1","out_request_no":"AR-1"}`), nil)
	if err != nil || rq["refund_amount"] != "0.01" || rq["refund_status"] != "REFUND_SUCCESS" || rq["total_amount"] != "1.01" {
		t.Errorf("refund query: %v %v", rq, err)
	}
	cancel, err := c.Execute(ctx, aliTradeCancel, []byte(`{"out_trade_no":"A-1"}`), nil)
	if err != nil || cancel["action"] != "refund" {
		t.Errorf("cancel of a paid trade: %v %v", cancel, err)
	}

	// A trade closed before it is paid.
	if _, err := c.Execute(ctx, aliTradeCreate, []byte(`{"out_trade_no":"A-2","total_amount":"5","subject":"s","buyer_id":"2088102146225135"}`), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute(ctx, aliTradeClose, []byte(`{"out_trade_no":"A-2"}`), nil); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := emu.PayAlipayOrder(ctx, "", "A-2", ""); !errors.Is(err, ErrOrderClosed) {
		t.Errorf("paying a closed trade: %v", err)
	}
	if _, err := c.Execute(ctx, aliTradeQuery, []byte(`{"out_trade_no":"none"}`), nil); !isAliBiz(err, "ACQ.TRADE_NOT_EXIST") {
		t.Errorf("unknown trade: %v", err)
	}
}

func TestAlipayAppPayOrderString(t *testing.T) {
	emu, srv, c := newAliEmulator(t, false)
	sink := newNotifySink(t, "success")
	s, err := c.OrderString(aliTradeAppPay, []byte(`{"out_trade_no":"APP-1","total_amount":"12.34","subject":"s","product_code":"QUICK_MSECURITY_PAY"}`),
		map[string]string{"notify_url": sink.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(srv.URL+"/_emulator/alipay/pay", url.Values{"order_string": {s}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"total_fee":1234`) {
		t.Fatalf("pay hook: %d %s", resp.StatusCode, body)
	}
	pub, _ := emu.AlipayPublicKey(aliAppID)
	key, _ := signing.ParseRSAPublicKey(pub)
	if p := aliNotice(t, sink.wait(t), key); p["out_trade_no"] != "APP-1" || p["total_amount"] != "12.34" {
		t.Errorf("notification: %v", p)
	}
	q, err := c.Execute(context.Background(), aliTradeQuery, []byte(`{"out_trade_no":"APP-1"}`), nil)
	if err != nil || q["trade_status"] != "TRADE_SUCCESS" {
		t.Errorf("query: %v %v", q, err)
	}
	// A changed order string is refused.
	tampered := strings.Replace(s, "12.34", "0.01", 1)
	if _, err := emu.PayAlipayOrderString(context.Background(), tampered); err == nil {
		t.Error("tampered order string paid")
	}
	// The generated key is served by the hook.
	resp, err = http.Get(srv.URL + "/_emulator/alipay/public_key?app_id=" + aliAppID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != pub {
		t.Errorf("public key hook: %q", got)
	}
}

func TestAlipayRefusals(t *testing.T) {
	_, srv, c := newAliEmulator(t, true)
	ctx := context.Background()
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	bad := *c
	bad.PrivateKey = other
	if _, err := bad.Execute(ctx, aliTradeQuery, []byte(`{"out_trade_no":"x"}`), nil); !isAliBiz(err, "isv.invalid-signature") {
		t.Errorf("request signed with another key: %v", err)
	}
	unknown := *c
	unknown.AppID = "2021000100000000"
	if _, err := unknown.Execute(ctx, aliTradeQuery, []byte(`{"out_trade_no":"x"}`), nil); !isAliBiz(err, "isv.invalid-app-id") {
		t.Errorf("unknown app: %v", err)
	}
	if _, err := c.Execute(ctx, "alipay.trade.nope", []byte(`{}`), nil); !isAliBiz(err, "isv.invalid-method") {
		t.Errorf("unknown method: %v", err)
	}
	if _, err := c.Execute(ctx, aliTradeCreate, []byte(`{"out_trade_no":"x","total_amount":"1.234","subject":"s","buyer_id":"2088102146225135"}`), nil); !isAliBiz(err, "ACQ.INVALID_PARAMETER") {
		t.Errorf("1.234 yuan: %v", err)
	}
	// An answer the app's client cannot verify: the emulator signs with
	// its own key, the client expects another.
	wrong := *c
	wrong.AlipayPublicKey = &other.PublicKey
	if _, err := wrong.Execute(ctx, aliTradeQuery, []byte(`{"out_trade_no":"x"}`), nil); !errors.Is(err, errAliSignature) {
		t.Errorf("answer verified with another key: %v", err)
	}
	_ = srv
}

func TestAlipayOAuthToken(t *testing.T) {
	_, _, c := newAliEmulator(t, true)
	ctx := context.Background()
	a, err := c.Execute(ctx, aliOAuthToken, nil, map[string]string{"grant_type": "authorization_code", "code": "demo-code"})
	if err != nil || !strings.HasPrefix(a["user_id"].(string), "2088") || len(a["user_id"].(string)) != 16 || a["open_id"] == "" || a["access_token"] == "" {
		t.Fatalf("token: %v %v", a, err)
	}
	b, _ := c.Execute(ctx, aliOAuthToken, nil, map[string]string{"grant_type": "authorization_code", "code": "demo-code"})
	if b["user_id"] != a["user_id"] || b["open_id"] != a["open_id"] {
		t.Errorf("the same code gives another user: %v %v", a, b)
	}
	if _, err := c.Execute(ctx, aliOAuthToken, nil, map[string]string{"grant_type": "authorization_code", "code": "invalid-1"}); !isAliBiz(err, "isv.code-invalid") {
		t.Errorf("invalid code: %v", err)
	}
}

func TestAlipayMisconfiguredApp(t *testing.T) {
	emu := New(Config{AlipayApps: []AlipayApp{{AppID: aliAppID, AppPublicKey: "not a key"}}})
	if _, err := emu.AlipayPublicKey(aliAppID); err == nil {
		t.Error("a misconfigured app has a public key")
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	resp, err := http.PostForm(srv.URL+"/gateway.do", url.Values{"app_id": {aliAppID}, "method": {aliTradeQuery}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "emulator.misconfigured") || strings.Contains(string(b), "not a key") {
		t.Errorf("answer %s", b)
	}
}

// The emulator stands in for Alipay, which signs with its own key: an
// "Alipay" key that is the app's own would let a gateway that verifies
// answers with the app's key pass every test, so the emulator refuses it.
func TestAlipayAppKeyIsNotAlipayKey(t *testing.T) {
	app, _ := aliKeys(t)
	appPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(app)}))
	cfg := Config{AlipayApps: []AlipayApp{{AppID: aliAppID, AppPublicKey: pubPEM(&app.PublicKey), AlipayPrivateKey: appPEM}}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	h := &Handler{Config: cfg}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Cleanup()
	err := h.Validate()
	if err == nil || !strings.Contains(err.Error(), "alipay_app "+aliAppID) || !strings.Contains(err.Error(), "distinct Alipay key pair") {
		t.Fatalf("Validate: %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Error("the error shows the key")
	}
	emu := New(cfg)
	if _, err := emu.AlipayPublicKey(aliAppID); err == nil {
		t.Error("an app signing with its own key has an Alipay public key")
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	resp, err := http.PostForm(srv.URL+"/gateway.do", url.Values{"app_id": {aliAppID}, "method": {"alipay.trade.query"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "emulator.misconfigured") || strings.Contains(string(b), `"sign"`) {
		t.Errorf("answer %s", b)
	}
}
