package unicloud

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPaymentWxpayGateway: what the gateway itself answers on a WeChat
// Pay v2 route (the calls themselves are TestPaymentWxpayV2ThroughEmulator):
// an answer carries no signature, nonce or key; every malformed call is
// refused with its documented code before anything is sent to WeChat Pay.
func TestPaymentWxpayGateway(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	wx, _, wxURL, aliURL := payStartFakes(t)
	pki := newPayPKI(t, payWxMchID) // WeChat Pay issues it with mch_id as password
	addr := freeAddr(t)
	// A certificate is configured (password: mch_id by default) and the
	// endpoint is plain HTTP: calls that need no certificate still work.
	loadCaddy(t, payCaddyfile(t, addr, wxURL, aliURL, "\t\t\tpfx "+pki.pfxPath))
	base := "http://" + addr + "/pay/wxpay/"

	status, m := payPost(t, base+"getOrderInfo", `{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","body":"b","outTradeNo":"g-1","totalFee":1,"clientType":"mp-weixin"}`)
	info, _ := m["orderInfo"].(map[string]any)
	if status != 200 || m["prepayId"] == nil || info["package"] != "prepay_id="+fmt.Sprint(m["prepayId"]) {
		t.Fatalf("getOrderInfo: %d %v", status, m)
	}
	status, q := payPost(t, base+"orderQuery", `{"outTradeNo":"g-1"}`)
	if status != 200 || q["tradeState"] != "NOTPAY" {
		t.Fatalf("orderQuery: %d %v", status, q)
	}
	for _, ans := range []map[string]any{m, q} {
		for _, k := range []string{"sign", "nonceStr", "returnCode", "resultCode", "key"} {
			if _, ok := ans[k]; ok {
				t.Errorf("answer carries %s: %v", k, ans)
			}
		}
	}

	sent := wx.rec.Count("/pay/unifiedorder") + wx.rec.Count("/pay/orderquery") + wx.rec.Count("/secapi/pay/refund") + wx.rec.Count("/pay/downloadbill")
	for _, tc := range []struct {
		call, body string
		status     int
		code       string
	}{
		{"cancelOrder", `{"outTradeNo":"o-1"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
		{"getOrderInfo", `{"body":"b","outTradeNo":"o","totalFee":1,"clientType":"mp-alipay"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
		{"getOrderInfo", `{"body":"b","outTradeNo":"o","totalFee":1.5,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"getOrderInfo", `{"body":"b","outTradeNo":"o","totalFee":-1,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"getOrderInfo", `{"body":"b","outTradeNo":"o","totalFee":1e2,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"getOrderInfo", `{"body":"b","outTradeNo":"o","totalFee":"0.01","clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"getOrderInfo", `{"body":"b","outTradeNo":"o","totalFee":0,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"getOrderInfo", `{"body":"b","outTradeNo":"o","totalFee":1,"clientType":"mp-weixin"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"getOrderInfo", `{"body":"b","outTradeNo":"o","totalFee":1}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"getOrderInfo", `{"outTradeNo":"o","totalFee":1,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"orderQuery", `{}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"orderQuery", `[1]`, 400, "UNICLOUD_BAD_REQUEST"},
		{"refund", `{"outTradeNo":"o","outRefundNo":"r","totalFee":1}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"downloadBill", `{"billDate":"2014-11-10"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"orderQuery", `{"outTradeNo":"o","refund_fee":"1.00"}`, 400, "UNICLOUD_BAD_REQUEST"},
		{"noSuchCall", `{}`, 404, "UNICLOUD_API_NOT_FOUND"},
		{"orderQuery", `{"outTradeNo":"` + strings.Repeat("x", 300<<10) + `"}`, 413, "UNICLOUD_BODY_TOO_LARGE"},
	} {
		status, m := payPost(t, base+tc.call, tc.body)
		if status != tc.status || m["errCode"] != tc.code || m["errMsg"] == "" {
			t.Errorf("%s %.80s: %d %v, want %d %s", tc.call, tc.body, status, m, tc.status, tc.code)
		}
	}
	resp, err := testClient.Get(base + "orderQuery")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if now := wx.rec.Count("/pay/unifiedorder") + wx.rec.Count("/pay/orderquery") + wx.rec.Count("/secapi/pay/refund") + wx.rec.Count("/pay/downloadbill"); now != sent {
		t.Errorf("refused calls reached WeChat Pay: %d requests", now-sent)
	}
}

// TestPaymentWxpayRefundMTLS: with a pfx protected by its own password and
// a WeChat Pay that requires the merchant certificate on every connection,
// refunds and fund-flow bills present it (the only calls that do: an order
// query fails there), and a route without a certificate refuses refunds
// before sending anything.
func TestPaymentWxpayRefundMTLS(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	payRSAKeys(t)
	pki := newPayPKI(t, "s3cret-pfx-password")
	wx := newPayWxEmu(true)
	srv := pki.mtlsServer(t, wx.emu)
	plain := httptest.NewServer(wx.emu) // the same WeChat Pay, to place the order
	t.Cleanup(plain.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, []byte(pki.caPEM), 0o600)
	addr := freeAddr(t)
	extra := fmt.Sprintf("\t\t\tpfx %s\n\t\t\tpfx_password s3cret-pfx-password\n\t\t\tca_cert %s\n\t\t\tsign_type HMAC-SHA256", pki.pfxPath, caFile)
	cf := payCaddyfile(t, addr, srv.URL, "http://127.0.0.1:1", extra)
	// A second route without the certificate: refunds are refused there.
	cf = strings.Replace(cf, "\thandle_path /pay/alipay/* {", fmt.Sprintf(`	handle_path /nocert/* {
		unicloud_payment wxpay {
			app_id %s
			mch_id %s
			key %s
			notify_url http://127.0.0.1:1/notify/wxpay
			endpoint %s
		}
	}
	handle_path /pay/alipay/* {`, payWxAppID, payWxMchID, payWxKey, plain.URL), 1)
	loadCaddy(t, cf)

	status, m := payPost(t, "http://"+addr+"/nocert/getOrderInfo", `{"body":"b","outTradeNo":"m-1","totalFee":101,"clientType":"native"}`)
	if status != 200 {
		t.Fatalf("getOrderInfo: %d %v", status, m)
	}
	paid, err := wx.emu.PayWxpayOrder(context.Background(), payWxMchID, "m-1")
	if err != nil {
		t.Fatal(err)
	}
	status, m = payPost(t, "http://"+addr+"/pay/wxpay/refund", `{"transactionId":"`+paid.TransactionID+`","outRefundNo":"r-1","totalFee":101,"refundFee":101}`)
	if status != 200 || num(m["errCode"]) != 0 || num(m["refundFee"]) != 101 {
		t.Fatalf("refund over mutual TLS: %d %v", status, m)
	}
	if r, ok := wx.rec.Last("/secapi/pay/refund"); !ok || r.ClientCert != payWxMchID || r.Fields()["sign_type"] != "HMAC-SHA256" ||
		r.Fields()["transaction_id"] != paid.TransactionID {
		t.Errorf("refund request (client certificate %q) %v", r.ClientCert, r.Fields())
	}
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	status, m = payPost(t, "http://"+addr+"/pay/wxpay/downloadFundflow", `{"billDate":"`+today+`"}`)
	if status != 200 || !strings.Contains(fmt.Sprint(m["content"]), "`1.01") {
		t.Fatalf("fundflow over mutual TLS: %d %v", status, m)
	}
	// The operation account saw no payment: WeChat Pay's own answer, over mutual TLS too.
	status, m = payPost(t, "http://"+addr+"/pay/wxpay/downloadFundflow", `{"billDate":"`+today+`","accountType":"Operation"}`)
	if status != 200 || m["errCode"] != "20002" {
		t.Fatalf("operation fundflow over mutual TLS: %d %v", status, m)
	}
	if r, _ := wx.rec.Last("/pay/downloadfundflow"); r.ClientCert != payWxMchID || r.Fields()["account_type"] != "Operation" {
		t.Errorf("fundflow request (client certificate %q) %v", r.ClientCert, r.Fields())
	}
	// Other calls go over TLS without the certificate.
	queries := wx.rec.Count("/pay/orderquery")
	status, m = payPost(t, "http://"+addr+"/pay/wxpay/orderQuery", `{"outTradeNo":"m-1"}`)
	if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_ERROR" || wx.rec.Count("/pay/orderquery") != queries {
		t.Errorf("orderQuery to a server that requires a certificate: %d %v", status, m)
	}
	refunds := wx.rec.Count("/secapi/pay/refund")
	status, m = payPost(t, "http://"+addr+"/nocert/refund", `{"outTradeNo":"m-1","outRefundNo":"r-2","totalFee":101,"refundFee":1}`)
	if status != 400 || m["errCode"] != "UNICLOUD_NOT_SUPPORTED" || wx.rec.Count("/secapi/pay/refund") != refunds {
		t.Errorf("refund without certificate: %d %v", status, m)
	}
}

func TestPaymentWxpayBadPfxPassword(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	payRSAKeys(t)
	pki := newPayPKI(t, "right-password")
	cf := payCaddyfile(t, freeAddr(t), "http://127.0.0.1:1", "http://127.0.0.1:1", "\t\t\tpfx "+pki.pfxPath+"\n\t\t\tpfx_password wrong-password")
	err := loadCaddyErr(t, cf)
	if err == nil || !strings.Contains(err.Error(), "pfx") || strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), payWxKey) {
		t.Errorf("load with a wrong pfx password: %v", err)
	}
}

// BenchmarkPaymentGetOrderInfo is a whole getOrderInfo through Caddy:
// the caller's JSON, the signed unifiedorder to the emulator's WeChat Pay
// on loopback, the answer's signature check, the signed orderInfo, the
// JSON answer.
func BenchmarkPaymentGetOrderInfo(b *testing.B) {
	b.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	payRSAKeys(b)
	wx := newPayWxEmu(false)
	wxSrv := httptest.NewServer(wx.emu)
	defer wxSrv.Close()
	addr := freeAddr(b)
	dir := b.TempDir()
	cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%s {
	unicloud_payment /pay/* wxpay {
		app_id %s
		mch_id %s
		key {env.UNICLOUD_PAY_TEST_KEY}
		notify_url http://127.0.0.1:1/notify/wxpay
		endpoint %s
	}
}
`, addr, payWxAppID, payWxMchID, wxSrv.URL)
	loadCaddy(b, cf)
	benchGetOrderInfo(b, addr)
}

func TestPaymentMetricsAndLogs(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	wx, ali, wxURL, aliURL := payStartFakes(t)
	pki := newPayPKI(t, "pfx-password-never-logged")
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	addr := freeAddr(t)
	loadCaddy(t, payCaddyfileLog(t, logFile, addr, wxURL, aliURL, "\t\t\tpfx "+pki.pfxPath+"\n\t\t\tpfx_password pfx-password-never-logged"))
	base := "http://" + addr
	scrape := func() map[string]float64 { return scrapeMetrics(t, base+"/metrics") }
	// A paid order, o-1.
	if status, m := payPost(t, base+"/pay/wxpay/getOrderInfo", `{"body":"b","outTradeNo":"o-1","totalFee":1,"clientType":"app-plus"}`); status != 200 {
		t.Fatalf("getOrderInfo: %d %v", status, m)
	}
	if _, err := wx.emu.PayWxpayOrder(context.Background(), payWxMchID, "o-1"); err != nil {
		t.Fatal(err)
	}
	before := scrape()
	payPost(t, base+"/pay/wxpay/orderQuery", `{"outTradeNo":"o-1"}`)
	payPost(t, base+"/pay/wxpay/orderQuery", `{"outTradeNo":"o-1"}`)
	payPost(t, base+"/pay/wxpay/getOrderInfo", `{"body":"b","outTradeNo":"o-1","totalFee":1,"clientType":"app-plus"}`) // ORDERPAID
	payPost(t, base+"/pay/wxpay/cancelOrder", `{"outTradeNo":"o-1"}`)
	payPost(t, base+"/pay/alipay/nothing", `{}`)
	wx.bad.Store(true)
	ali.tamper.Store(true)
	payPost(t, base+"/pay/wxpay/refund", `{"outTradeNo":"o-1","outRefundNo":"r","totalFee":1,"refundFee":1}`)
	payPost(t, base+"/pay/alipay/orderQuery", `{"outTradeNo":"o-1"}`)
	wx.bad.Store(false)
	ali.tamper.Store(false)
	after := scrape()
	for name, delta := range map[string]float64{
		`caddy_unicloud_payment_calls_total{call="orderQuery",outcome="ok",provider="wxpay"}`:                               2,
		`caddy_unicloud_payment_calls_total{call="getOrderInfo",outcome="provider_error",provider="wxpay"}`:                 1,
		`caddy_unicloud_payment_calls_total{call="cancelOrder",outcome="UNICLOUD_NOT_SUPPORTED",provider="wxpay"}`:          1,
		`caddy_unicloud_payment_calls_total{call="unknown",outcome="UNICLOUD_API_NOT_FOUND",provider="alipay"}`:             1,
		`caddy_unicloud_payment_calls_total{call="refund",outcome="UNICLOUD_UPSTREAM_BAD_SIGNATURE",provider="wxpay"}`:      1,
		`caddy_unicloud_payment_calls_total{call="orderQuery",outcome="UNICLOUD_UPSTREAM_BAD_SIGNATURE",provider="alipay"}`: 1,
	} {
		if got := after[name] - before[name]; got != delta {
			t.Errorf("%s: +%v, want +%v", name, got, delta)
		}
	}
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logs, []byte("UNICLOUD_UPSTREAM_BAD_SIGNATURE")) {
		t.Error("a failed answer signature is not logged")
	}
	appKeyBody := strings.Join(strings.Split(payKeys.appPEM, "\n")[1:3], "")
	for _, secret := range []string{payWxKey, "pfx-password-never-logged", appKeyBody} {
		if bytes.Contains(logs, []byte(secret)) {
			t.Errorf("a secret appears in the logs")
		}
	}
}

func TestPaymentTimeout(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	payRSAKeys(t)
	// The upstream never answers: only the gateway's timeout ends a call,
	// and the upstream sees its request given up.
	gaveUp := make(chan string, 4)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: the server notices a closed connection only
		// once it has.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			gaveUp <- r.URL.Path
		case <-release: // the test ends
		}
	}))
	defer slow.Close()
	defer close(release)
	addr := freeAddr(t)
	cf := payCaddyfile(t, addr, slow.URL, slow.URL, "\t\t\ttimeout 200ms")
	cf = strings.Replace(cf, "\t\t\tendpoint "+slow.URL+"\n\t\t}\n\t}\n\thandle_path /ali/*", "\t\t\tendpoint "+slow.URL+"\n\t\t\ttimeout 200ms\n\t\t}\n\t}\n\thandle_path /ali/*", 1)
	loadCaddy(t, cf)
	for _, p := range []string{"/pay/wxpay/orderQuery", "/pay/alipay/orderQuery"} {
		status, m := payPost(t, "http://"+addr+p, `{"outTradeNo":"o-1"}`)
		if status != 504 || m["errCode"] != "UNICLOUD_UPSTREAM_TIMEOUT" {
			t.Errorf("%s: %d %v", p, status, m)
		}
		select {
		case <-gaveUp:
		case <-time.After(10 * time.Second): // failsafe only
			t.Fatalf("%s: the upstream request was not given up", p)
		}
	}
}

// benchGetOrderInfo measures whole mp-weixin getOrderInfo calls through the
// Caddy at addr (route /pay/*).
func benchGetOrderInfo(b *testing.B, addr string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	url := "http://" + addr + "/pay/getOrderInfo"
	body := `{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","body":"demo","outTradeNo":"bench-1","totalFee":1,"clientType":"mp-weixin"}`
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(raw, []byte(`"paySign"`)) {
			b.Fatalf("%d %s", resp.StatusCode, raw)
		}
	}
}
