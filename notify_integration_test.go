package unicloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// The notification verifier in a real Caddy config: provider (the emulator's
// senders) → Caddy (unicloud_payment_notify + reverse_proxy) → a recording
// backend.

const (
	notifyITAppID    = "wx00000000000000f1"
	notifyITMchID    = "1900000109"
	notifyITV2Key    = "0123456789abcdefghijklmnopqrstuv"
	notifyITV3Key    = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
	notifyITSerial   = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	notifyITAliAppID = "2021000117650139"
	notifyITSecret   = "hmac-secret-for-the-backend"
)

// notifyBackend records every request it receives and answers status.
type notifyBackend struct {
	srv    *httptest.Server
	status atomic.Int32
	// broken: after the status, half the body, then the connection cut.
	broken  atomic.Bool
	arrived chan struct{} // one per request
	mu      sync.Mutex
	reqs    []notifyBackendRequest
}

type notifyBackendRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

func newNotifyBackend(t testing.TB) *notifyBackend {
	b := &notifyBackend{arrived: make(chan struct{}, 1000)}
	b.status.Store(200)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, notifyBackendRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
		b.mu.Unlock()
		select {
		case b.arrived <- struct{}{}:
		default: // a benchmark sends more than anyone waits for
		}
		w.Header().Set("Content-Type", "text/plain")
		if b.broken.Load() {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(int(b.status.Load()))
			_, _ = io.WriteString(w, "half an answ")
			_ = http.NewResponseController(w).Flush()
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		w.WriteHeader(int(b.status.Load()))
		_, _ = io.WriteString(w, "backend says hello")
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *notifyBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

// wait returns the next request the backend receives.
func (b *notifyBackend) wait(t testing.TB) notifyBackendRequest {
	t.Helper()
	select {
	case <-b.arrived:
	case <-time.After(10 * time.Second): // a bound, not a synchronisation
		t.Fatal("the backend received nothing")
	}
	return b.last()
}

// drain forgets the arrivals so far.
func (b *notifyBackend) drain() {
	for {
		select {
		case <-b.arrived:
		default:
			return
		}
	}
}

func (b *notifyBackend) last() notifyBackendRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reqs[len(b.reqs)-1]
}

type notifyIT struct {
	base    string
	backend *notifyBackend
	key     *rsa.PrivateKey
	logFile string
	// wxpay is the emulator as WeChat Pay: its refund query confirms v2
	// refund notifications (endpoint), and it makes the refunds.
	wxpay    *emulator.Server
	wxpaySrv *httptest.Server
	sink     *httptest.Server // takes the emulator's notifications
	sunk     chan *emulator.NotifyMessage
	v2       notifyITRefund // the v2 refund of it.order("wxpay"), made by the emulator
}

// notifyITRefund is a refund the emulator made, and its notification.
type notifyITRefund struct {
	m                       *emulator.NotifyMessage
	transactionID, refundID string
}

var (
	notifyITKeyOnce sync.Once
	notifyITKey     *rsa.PrivateKey
)

// startNotifyIT runs Caddy with both verifiers in front of a recording
// backend. One RSA key stands in for the WeChat Pay platform key and for
// Alipay's key; its public half is given as a {file.*} placeholder.
func startNotifyIT(t testing.TB) *notifyIT {
	t.Helper()
	notifyITKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		notifyITKey = k
	})
	dir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(&notifyITKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_IT_V2KEY", notifyITV2Key)
	t.Setenv("NOTIFY_IT_SECRET", notifyITSecret)
	backend := newNotifyBackend(t)
	wx := emulator.New(emulator.Config{WxpayMerchants: []emulator.WxpayMerchant{{MchID: notifyITMchID, Key: notifyITV2Key}}})
	wxSrv := httptest.NewServer(wx)
	t.Cleanup(wxSrv.Close)
	sunk := make(chan *emulator.NotifyMessage, 10)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/refund" {
			sunk <- &emulator.NotifyMessage{Header: r.Header.Clone(), Body: body}
		}
		_, _ = io.WriteString(w, notifyITV2OK)
	}))
	t.Cleanup(sink.Close)
	addr := freeAddr(t)
	logFile := filepath.Join(dir, "caddy.log")
	caddyfile := globalOptions(filepath.Join(dir, "storage"), logFile) + fmt.Sprintf(`
http://%s {
	route /notify/wxpay {
		unicloud_payment_notify wxpay {
			app_id %s
			mch_id %s
			key {env.NOTIFY_IT_V2KEY}
			api_v3_key %s
			platform_key %s {file.%s}
			max_body 16KB
			max_skew 2m
			endpoint %s
			timeout 5s
			upstream_secret {env.NOTIFY_IT_SECRET}
		}
		reverse_proxy %s
	}
	route /notify/alipay {
		unicloud_payment_notify alipay {
			app_id %s
			alipay_public_key {file.%s}
			upstream_secret {env.NOTIFY_IT_SECRET}
		}
		reverse_proxy %s
	}
	respond "not here" 404
}
`, addr, notifyITAppID, notifyITMchID, notifyITV3Key, notifyITSerial, pubFile, wxSrv.URL, backend.srv.Listener.Addr(),
		notifyITAliAppID, pubFile, backend.srv.Listener.Addr())
	loadCaddy(t, caddyfile)
	it := &notifyIT{base: "http://" + addr, backend: backend, key: notifyITKey, logFile: logFile,
		wxpay: wx, wxpaySrv: wxSrv, sink: sink, sunk: sunk}
	o := it.order("wxpay")
	it.v2 = it.emulatorRefund(t, o.OutTradeNo, o.OutRefundNo, o.TotalFee, o.RefundFee, sink.URL+"/refund")
	return it
}

// emulatorRefund has the emulator place and pay an order and refund fee of
// it, its refund notification sent to notifyURL. Sent to the sink, the
// notification is returned.
func (it *notifyIT) emulatorRefund(t testing.TB, outTradeNo, outRefundNo string, total, fee int64, notifyURL string) notifyITRefund {
	t.Helper()
	ctx := context.Background()
	c := &wxpay.Client{AppID: notifyITAppID, MchID: notifyITMchID, Key: notifyITV2Key, Endpoint: it.wxpaySrv.URL,
		HTTP: it.wxpaySrv.Client(), CertHTTP: it.wxpaySrv.Client()}
	if _, err := c.Call(ctx, wxpay.APIUnifiedOrder, map[string]string{"body": "test", "out_trade_no": outTradeNo,
		"total_fee": strconv.FormatInt(total, 10), "spbill_create_ip": "127.0.0.1", "notify_url": it.sink.URL + "/pay",
		"trade_type": "JSAPI", "openid": "oPayer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := it.wxpay.PayWxpayOrder(ctx, notifyITMchID, outTradeNo); err != nil {
		t.Fatal(err)
	}
	a, err := c.Call(ctx, wxpay.APIRefund, map[string]string{"out_trade_no": outTradeNo, "out_refund_no": outRefundNo,
		"total_fee": strconv.FormatInt(total, 10), "refund_fee": strconv.FormatInt(fee, 10), "notify_url": notifyURL})
	if err != nil {
		t.Fatal(err)
	}
	r := notifyITRefund{transactionID: a["transaction_id"], refundID: a["refund_id"]}
	if strings.HasPrefix(notifyURL, it.sink.URL) {
		select {
		case r.m = <-it.sunk:
		case <-time.After(10 * time.Second): // a bound, not a synchronisation
			t.Fatal("the emulator sent no refund notification")
		}
	}
	return r
}

func (it *notifyIT) order(provider string) emulator.NotifyOrder {
	o := emulator.NotifyOrder{AppID: notifyITAppID, MchID: notifyITMchID, OutTradeNo: "ORDER-" + provider,
		TransactionID: "4200000000000000042", TotalFee: 1234, CashFee: 1200, OpenID: "oPayer",
		Time: time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC), Attach: "a&b<c>", OutRefundNo: "REFUND-1",
		RefundID: "50300000000001", RefundFee: 234}
	if provider == "alipay" {
		o.AppID = notifyITAliAppID
	}
	return o
}

func (it *notifyIT) signer() emulator.WxpayV3NotifySigner {
	return emulator.WxpayV3NotifySigner{PlatformKey: it.key, Serial: notifyITSerial, APIv3Key: notifyITV3Key}
}

// send posts m with extra headers, as a provider would.
func (it *notifyIT) send(t *testing.T, path string, m *emulator.NotifyMessage, extra http.Header) (int, string, http.Header) {
	t.Helper()
	h := m.Header.Clone()
	for k, v := range extra {
		h[k] = v
	}
	r := testSend(t, http.MethodPost, it.base+path, h, m.Body)
	return r.Status, string(r.Body), r.Header
}

func (it *notifyIT) build(t testing.TB, name string) (string, *emulator.NotifyMessage) {
	t.Helper()
	var (
		m   *emulator.NotifyMessage
		err error
	)
	path := "/notify/wxpay"
	switch name {
	case "v2-payment":
		m, err = emulator.WxpayV2PaymentNotification(it.order("wxpay"), notifyITV2Key, "MD5")
	case "v2-refund":
		m = it.v2.m // made by the emulator, whose refund query confirms it
	case "v3-payment":
		m, err = emulator.WxpayV3TransactionNotification(it.order("wxpay"), it.signer())
	case "v3-refund":
		m, err = emulator.WxpayV3RefundNotification(it.order("wxpay"), it.signer())
	case "alipay-payment":
		path = "/notify/alipay"
		m, err = emulator.AlipayTradeNotification(it.order("alipay"), it.key)
	case "alipay-refund":
		path = "/notify/alipay"
		m, err = emulator.AlipayRefundNotification(it.order("alipay"), it.key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path, m
}

const notifyITV2OK = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

func TestNotifyIntegration(t *testing.T) {
	it := startNotifyIT(t)

	wantPayment := func(provider string) map[string]any {
		return map[string]any{"provider": provider, "type": "payment", "outTradeNo": "ORDER-" + provider,
			"transactionId": "4200000000000000042", "totalFee": 1234.0, "cashFee": 1200.0, "feeType": "CNY",
			"timeEnd": "20240304130607", "openid": "oPayer", "tradeState": "SUCCESS"}
	}
	wantRefund := func(provider string) map[string]any {
		tx := "4200000000000000042"
		if provider == "wxpay-v2" {
			provider, tx = "wxpay", it.v2.transactionID
		}
		return map[string]any{"provider": provider, "type": "refund", "outTradeNo": "ORDER-" + provider,
			"transactionId": tx, "outRefundNo": "REFUND-1", "totalFee": 1234.0,
			"refundFee": 234.0, "refundStatus": "SUCCESS"}
	}
	for _, tc := range []struct {
		name, provider, kind string
		status               int
		answer               string
		want                 map[string]any
		raw                  map[string]any
	}{
		{"v2-payment", "wxpay", "payment", 200, notifyITV2OK, wantPayment("wxpay"),
			map[string]any{"appId": notifyITAppID, "mchId": notifyITMchID, "attach": "a&b<c>", "totalFee": "1234"}},
		{"v2-refund", "wxpay", "refund", 200, notifyITV2OK, wantRefund("wxpay-v2"),
			map[string]any{"refundId": it.v2.refundID, "refundRecvAccout": "支付用户零钱", "settlementRefundFee": "234"}},
		{"v3-payment", "wxpay", "payment", 204, "", wantPayment("wxpay"),
			map[string]any{"appId": notifyITAppID, "mchid": notifyITMchID, "attach": "a&b<c>", "tradeType": "JSAPI"}},
		{"v3-refund", "wxpay", "refund", 204, "", wantRefund("wxpay"),
			map[string]any{"refundId": "50300000000001", "userReceivedAccount": "支付用户零钱"}},
		{"alipay-payment", "alipay", "payment", 200, "success", wantPayment("alipay"),
			map[string]any{"appId": notifyITAliAppID, "totalAmount": "12.34", "passbackParams": "a&b<c>", "tradeStatus": "TRADE_SUCCESS"}},
		{"alipay-refund", "alipay", "refund", 200, "success", wantRefund("alipay"),
			map[string]any{"refundFee": "2.34", "outBizNo": "REFUND-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, m := it.build(t, tc.name)
			before := it.backend.count()
			status, answer, _ := it.send(t, path, m, http.Header{
				"X-Unicloud-Signature":   {"sha256=0000"},
				"X-Unicloud-Notify-Type": {"refund"},
				"X-Unicloud-Extra":       {"forged"},
			})
			if status != tc.status || answer != tc.answer {
				t.Fatalf("provider got %d %q, want %d %q", status, answer, tc.status, tc.answer)
			}
			if it.backend.count() != before+1 {
				t.Fatalf("backend got %d requests", it.backend.count()-before)
			}
			got := it.backend.last()
			if got.method != http.MethodPost || got.path != path {
				t.Errorf("backend got %s %s", got.method, got.path)
			}
			h := got.header
			if h.Get("Content-Type") != "application/json" || h.Get("X-Unicloud-Provider") != tc.provider ||
				h.Get("X-Unicloud-Notify-Type") != tc.kind || h.Get("X-Unicloud-Extra") != "" ||
				h.Get("Content-Length") != strconv.Itoa(len(got.body)) {
				t.Errorf("backend headers %v", h)
			}
			// What a backend does with X-Unicloud-Signature: HMAC the body
			// it received with the shared secret, compare in constant time.
			sig, ok := strings.CutPrefix(h.Get("X-Unicloud-Signature"), "sha256=")
			if !ok || !signing.EqualHex(sig, signing.HMACSHA256Hex([]byte(notifyITSecret), got.body)) {
				t.Errorf("X-Unicloud-Signature %q does not match the body", h.Get("X-Unicloud-Signature"))
			}
			var ev map[string]any
			if err := json.Unmarshal(got.body, &ev); err != nil {
				t.Fatalf("%v: %s", err, got.body)
			}
			for k, v := range tc.want {
				if ev[k] != v {
					t.Errorf("%s = %#v, want %#v", k, ev[k], v)
				}
			}
			raw, _ := ev["raw"].(map[string]any)
			for k, v := range tc.raw {
				if raw[k] != v {
					t.Errorf("raw.%s = %#v, want %#v", k, raw[k], v)
				}
			}
			if _, ok := raw["sign"]; ok || bytes.Contains(got.body, []byte(notifyITV2Key)) {
				t.Errorf("the body carries sign or a key: %s", got.body)
			}
		})
	}

	// The emulator's Send* functions, end to end.
	status, answer, err := emulator.SendWxpayV2Payment(context.Background(), it.base+"/notify/wxpay", it.order("wxpay"), notifyITV2Key)
	if err != nil || status != 200 || string(answer) != notifyITV2OK {
		t.Errorf("SendWxpayV2Payment: %d %q %v", status, answer, err)
	}
	status, _, err = emulator.SendWxpayV3Refund(context.Background(), it.base+"/notify/wxpay", it.order("wxpay"), it.signer())
	if err != nil || status != 204 {
		t.Errorf("SendWxpayV3Refund: %d %v", status, err)
	}
	status, answer, err = emulator.SendAlipayTrade(context.Background(), it.base+"/notify/alipay", it.order("alipay"), it.key)
	if err != nil || status != 200 || string(answer) != "success" {
		t.Errorf("SendAlipayTrade: %d %q %v", status, answer, err)
	}
}

// A backend that does not answer 2xx (or cannot be reached) makes the
// provider get its failure form with 500, so it retries.
func TestNotifyIntegrationBackendFailure(t *testing.T) {
	it := startNotifyIT(t)
	forms := map[string]func(status int, body string) bool{
		"v2-payment": func(s int, b string) bool {
			return s == 500 && strings.HasPrefix(b, "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[")
		},
		"v2-refund": func(s int, b string) bool { return s == 500 && strings.Contains(b, "FAIL") },
		"v3-payment": func(s int, b string) bool {
			var f struct{ Code, Message string }
			return s == 500 && json.Unmarshal([]byte(b), &f) == nil && f.Code == "FAIL" && f.Message != ""
		},
		"v3-refund":      func(s int, b string) bool { return s == 500 && strings.HasPrefix(b, `{"code":"FAIL"`) },
		"alipay-payment": func(s int, b string) bool { return s == 500 && b == "fail" },
		"alipay-refund":  func(s int, b string) bool { return s == 500 && b == "fail" },
	}
	for _, backendStatus := range []int{500, 503, 404} {
		it.backend.status.Store(int32(backendStatus))
		for name, ok := range forms {
			path, m := it.build(t, name)
			before := it.backend.count()
			status, answer, _ := it.send(t, path, m, nil)
			if !ok(status, answer) {
				t.Errorf("backend %d, %s: provider got %d %q", backendStatus, name, status, answer)
			}
			if it.backend.count() != before+1 {
				t.Errorf("backend %d, %s: the backend was not called", backendStatus, name)
			}
		}
	}
	it.backend.srv.Close() // unreachable
	for name, ok := range forms {
		path, m := it.build(t, name)
		if status, answer, _ := it.send(t, path, m, nil); !ok(status, answer) {
			t.Errorf("backend down, %s: provider got %d %q", name, status, answer)
		}
	}
}

// Refused notifications never reach the backend; the provider gets the
// failure form with 400/401/413, and one log line names the check.
func TestNotifyIntegrationRefused(t *testing.T) {
	it := startNotifyIT(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	type tcase struct {
		name   string
		path   string
		m      *emulator.NotifyMessage
		status int
		check  string
	}
	var cases []tcase
	add := func(name, path string, m *emulator.NotifyMessage, err error, status int, check string) {
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tcase{name, path, m, status, check})
	}
	o := it.order("wxpay")
	ao := it.order("alipay")
	wrongMch := o
	wrongMch.MchID = "1000000001"
	wrongApp := ao
	wrongApp.AppID = "2021000000000001"
	s := it.signer()
	unknownSerial, wrongV3Key, otherKey := s, s, s
	unknownSerial.Serial = "7EC7E5A1F8B2C3D4"
	wrongV3Key.APIv3Key = "0123456789abcdef0123456789abcdef"
	otherKey.PlatformKey = other

	m, err := emulator.WxpayV2PaymentNotification(o, notifyITV2Key, "")
	add("v2 tampered", "/notify/wxpay", &emulator.NotifyMessage{Header: m.Header, Body: bytes.Replace(m.Body, []byte("[1234]"), []byte("[1]"), 1)}, err, 401, "signature")
	m, err = emulator.WxpayV2PaymentNotification(o, "wrong-key-wrong-key-wrong-key-00", "")
	add("v2 wrong key", "/notify/wxpay", m, err, 401, "signature")
	m, err = emulator.WxpayV2PaymentNotification(wrongMch, notifyITV2Key, "")
	add("v2 wrong merchant", "/notify/wxpay", m, err, 401, "merchant")
	m, err = emulator.WxpayV2RefundNotification(o, "wrong-key-wrong-key-wrong-key-00")
	add("v2 refund wrong key", "/notify/wxpay", m, err, 401, "decrypt")
	add("v2 xxe", "/notify/wxpay", &emulator.NotifyMessage{Header: http.Header{"Content-Type": {"text/xml"}},
		Body: []byte(`<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><return_code>&xxe;</return_code></xml>`)}, nil, 400, "malformed")
	add("v2 over max_body", "/notify/wxpay", &emulator.NotifyMessage{Header: http.Header{},
		Body: append(m.Body, bytes.Repeat([]byte(" "), 16001)...)}, nil, 413, "body_too_large")
	m, err = emulator.WxpayV3TransactionNotification(o, unknownSerial)
	add("v3 unknown serial", "/notify/wxpay", m, err, 401, "serial")
	m, err = emulator.WxpayV3TransactionNotification(o, wrongV3Key)
	add("v3 wrong APIv3 key", "/notify/wxpay", m, err, 401, "decrypt")
	m, err = emulator.WxpayV3RefundNotification(o, otherKey)
	add("v3 wrong platform key", "/notify/wxpay", m, err, 401, "signature")
	m, err = emulator.WxpayV3RefundNotification(wrongMch, s)
	add("v3 wrong merchant", "/notify/wxpay", m, err, 401, "merchant")
	m, err = emulator.WxpayV3TransactionNotification(o, s)
	if err == nil {
		// Re-signed three minutes in the past: outside max_skew 2m.
		ts := strconv.FormatInt(time.Now().Add(-3*time.Minute).Unix(), 10)
		sig, _ := signing.RSASHA256Sign(it.key, signing.WxpayV3VerifyMessage(ts, m.Header.Get("Wechatpay-Nonce"), m.Body))
		m.Header.Set("Wechatpay-Timestamp", ts)
		m.Header.Set("Wechatpay-Signature", sig)
	}
	add("v3 stale", "/notify/wxpay", m, err, 401, "freshness")
	m, err = emulator.AlipayTradeNotification(ao, other)
	add("alipay wrong key", "/notify/alipay", m, err, 401, "signature")
	m, err = emulator.AlipayTradeNotification(wrongApp, it.key)
	add("alipay wrong app", "/notify/alipay", m, err, 401, "merchant")
	add("alipay tampered", "/notify/alipay", &emulator.NotifyMessage{Header: m.Header,
		Body: bytes.Replace(m.Body, []byte("total_amount=12.34"), []byte("total_amount=0.01"), 1)}, nil, 401, "signature")
	add("alipay garbage", "/notify/alipay", &emulator.NotifyMessage{Header: http.Header{}, Body: []byte("%%%")}, nil, 400, "malformed")

	for _, tc := range cases {
		before := it.backend.count()
		status, answer, _ := it.send(t, tc.path, tc.m, nil)
		if status != tc.status {
			t.Errorf("%s: status %d (%q), want %d", tc.name, status, answer, tc.status)
		}
		if it.backend.count() != before {
			t.Errorf("%s: a refused notification reached the backend", tc.name)
		}
	}

	// One log line per refusal, naming the check, never a secret.
	logs, err := os.ReadFile(it.logFile)
	if err != nil {
		t.Fatal(err)
	}
	var refusals []string
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, "payment notification refused") {
			var entry struct{ Check string }
			_ = json.Unmarshal([]byte(line), &entry)
			if len(refusals) == 0 {
				t.Logf("a refusal as logged: %s", line)
			}
			refusals = append(refusals, entry.Check)
		}
		for _, secret := range []string{notifyITV2Key, notifyITV3Key, notifyITSecret, "wrong-key-wrong-key"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line holds a secret: %s", line)
			}
		}
	}
	if len(refusals) != len(cases) {
		t.Fatalf("%d refusal log lines for %d refusals: %v", len(refusals), len(cases), refusals)
	}
	for i, tc := range cases {
		if refusals[i] != tc.check {
			t.Errorf("%s: logged check %q, want %q", tc.name, refusals[i], tc.check)
		}
	}
}

// notifyITLogChecks returns the check of each WARN line of the log that
// says msg.
func notifyITLogChecks(t *testing.T, logFile, msg string) []string {
	t.Helper()
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var checks []string
	for _, line := range strings.Split(string(logs), "\n") {
		var entry struct{ Level, Msg, Check string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == msg && entry.Level == "warn" {
			checks = append(checks, entry.Check)
		}
		if strings.Contains(line, notifyITV2Key) {
			t.Errorf("log line holds the key: %s", line)
		}
	}
	return checks
}

// v2 refund notifications are confirmed with WeChat Pay's refund query at
// endpoint (here the emulator): a genuine one, sent by the emulator after
// a refund, reaches the backend with the confirmed fields; one that
// decrypts but differs from the refund is refused 401 and never forwarded;
// with the refund query unreachable, WeChat Pay gets 500 and retries.
func TestNotifyIntegrationV2RefundQuery(t *testing.T) {
	it := startNotifyIT(t)
	it.backend.drain()

	// Genuine: the emulator refunds and notifies Caddy itself.
	r := it.emulatorRefund(t, "ORDER-Q1", "REFUND-Q1", 500, 200, it.base+"/notify/wxpay")
	got := it.backend.wait(t)
	var ev struct {
		Type, OutTradeNo, OutRefundNo, RefundID, TransactionID, RefundStatus string
		TotalFee, RefundFee                                                  int64
		Raw                                                                  map[string]any
	}
	if err := json.Unmarshal(got.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "refund" || ev.OutTradeNo != "ORDER-Q1" || ev.OutRefundNo != "REFUND-Q1" || ev.RefundID != r.refundID ||
		ev.TransactionID != r.transactionID || ev.TotalFee != 500 || ev.RefundFee != 200 || ev.RefundStatus != "SUCCESS" {
		t.Errorf("backend got %s", got.body)
	}
	if _, ok := ev.Raw["refundRequestSource"]; ok || len(ev.Raw) != 12 {
		t.Errorf("raw holds other than the 12 confirmed fields: %v", ev.Raw)
	}

	// Forged: encrypted with the key (as a block-shuffled req_info
	// decrypts), but the refund was 200, not 499; and a refund the
	// emulator never made.
	before := it.backend.count()
	forged := emulator.NotifyOrder{AppID: notifyITAppID, MchID: notifyITMchID, OutTradeNo: "ORDER-Q1", TransactionID: r.transactionID,
		TotalFee: 500, OutRefundNo: "REFUND-Q1", RefundID: r.refundID, RefundFee: 499}
	m, err := emulator.WxpayV2RefundNotification(forged, notifyITV2Key)
	if err != nil {
		t.Fatal(err)
	}
	if status, answer, _ := it.send(t, "/notify/wxpay", m, nil); status != 401 || !strings.Contains(answer, "FAIL") {
		t.Errorf("forged refund: %d %q, want 401", status, answer)
	}
	forged.OutRefundNo, forged.RefundFee = "re1", 200
	m, _ = emulator.WxpayV2RefundNotification(forged, notifyITV2Key)
	if status, _, _ := it.send(t, "/notify/wxpay", m, nil); status != 401 {
		t.Errorf("unknown refund: %d, want 401", status)
	}
	if it.backend.count() != before {
		t.Fatal("a forged refund reached the backend")
	}
	if checks := notifyITLogChecks(t, it.logFile, "payment notification refused"); len(checks) != 2 || checks[0] != "refund_query" || checks[1] != "refund_query" {
		t.Errorf("refusal log lines: %v", checks)
	}

	// The refund query unreachable: 500, WeChat Pay retries.
	it.wxpaySrv.Close()
	if status, answer, _ := it.send(t, "/notify/wxpay", it.v2.m, nil); status != 500 || !strings.Contains(answer, "FAIL") {
		t.Errorf("refund query down: %d %q, want 500", status, answer)
	}
	if it.backend.count() != before {
		t.Fatal("an unconfirmed refund reached the backend")
	}
	if checks := notifyITLogChecks(t, it.logFile, "payment notification could not be verified; the provider will retry"); len(checks) != 1 || checks[0] != "refund_query_failed" {
		t.Errorf("log lines: %v", checks)
	}
}

// WeChat Pay v2 and Alipay sign no empty value: empty fields appended to
// genuine notifications never reach the backend, and an empty gmt_refund
// does not make an Alipay payment a refund.
func TestNotifyIntegrationEmptyFields(t *testing.T) {
	it := startNotifyIT(t)
	appendTo := func(m *emulator.NotifyMessage, old, add string) *emulator.NotifyMessage {
		if !bytes.Contains(m.Body, []byte(old)) {
			t.Fatalf("%q not in %s", old, m.Body)
		}
		return &emulator.NotifyMessage{Header: m.Header, Body: bytes.Replace(m.Body, []byte(old), []byte(add+old), 1)}
	}
	_, v2p := it.build(t, "v2-payment")
	_, v2r := it.build(t, "v2-refund")
	_, ali := it.build(t, "alipay-payment")
	for _, tc := range []struct {
		name, path, kind string
		m                *emulator.NotifyMessage
		absent           []string
	}{
		{"v2 payment", "/notify/wxpay", "payment", appendTo(v2p, "</xml>", "<x></x><coupon_fee><![CDATA[]]></coupon_fee>"), []string{"x", "couponFee"}},
		{"v2 refund", "/notify/wxpay", "refund", appendTo(v2r, "</xml>", "<x></x><refund_fee></refund_fee>"), []string{"x", "returnCode"}},
		{"alipay payment", "/notify/alipay", "payment", &emulator.NotifyMessage{Header: ali.Header, Body: append(ali.Body, "&x=&gmt_refund=&refund_fee="...)}, []string{"x", "gmtRefund", "refundFee"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := it.backend.count()
			if status, answer, _ := it.send(t, tc.path, tc.m, nil); status != 200 {
				t.Fatalf("provider got %d %q", status, answer)
			}
			if it.backend.count() != before+1 {
				t.Fatal("not forwarded")
			}
			got := it.backend.last()
			var ev map[string]any
			if err := json.Unmarshal(got.body, &ev); err != nil {
				t.Fatal(err)
			}
			raw, _ := ev["raw"].(map[string]any)
			if ev["type"] != tc.kind || got.header.Get("X-Unicloud-Notify-Type") != tc.kind {
				t.Errorf("type %v / %s, want %s", ev["type"], got.header.Get("X-Unicloud-Notify-Type"), tc.kind)
			}
			for _, k := range tc.absent {
				if _, ok := raw[k]; ok {
					t.Errorf("raw.%s reached the backend: %s", k, got.body)
				}
			}
			for k, v := range raw {
				if v == "" {
					t.Errorf("raw.%s is empty", k)
				}
			}
		})
	}
}

// A backend that answers 200 and then cuts its connection mid-body has
// taken the notification: the provider gets its success form.
func TestNotifyIntegrationBackendBodyBroken(t *testing.T) {
	it := startNotifyIT(t)
	it.backend.broken.Store(true)
	for name, want := range map[string]struct {
		status int
		answer string
	}{"v2-payment": {200, notifyITV2OK}, "v3-payment": {204, ""}, "alipay-payment": {200, "success"}} {
		path, m := it.build(t, name)
		before := it.backend.count()
		status, answer, _ := it.send(t, path, m, nil)
		if status != want.status || answer != want.answer {
			t.Errorf("%s: provider got %d %q, want %d %q", name, status, answer, want.status, want.answer)
		}
		if it.backend.count() != before+1 {
			t.Errorf("%s: backend got %d requests", name, it.backend.count()-before)
		}
	}
	// A broken 500 is still a failure.
	it.backend.status.Store(500)
	path, m := it.build(t, "v2-payment")
	if status, _, _ := it.send(t, path, m, nil); status != 500 {
		t.Errorf("broken 500: provider got %d", status)
	}
}

// BenchmarkNotifyIntegration is the whole path through a real Caddy:
// client → verifier → reverse_proxy → local backend → acknowledgement.
func BenchmarkNotifyIntegration(b *testing.B) {
	it := startNotifyIT(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	for _, name := range []string{"v2-payment", "v2-refund", "v3-payment", "alipay-payment"} {
		b.Run(name, func(b *testing.B) {
			path, m := it.build(b, name)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, it.base+path, bytes.NewReader(m.Body))
				for k, v := range m.Header {
					req.Header[k] = v
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.StatusCode != 204 {
					b.Fatalf("%d", resp.StatusCode)
				}
			}
		})
	}
}
