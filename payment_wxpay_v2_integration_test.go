package unicloud

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

func TestPaymentWxpay(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	wx, _, wxURL, aliURL := payStartFakes(t)
	pki := newPayPKI(t, payWxMchID) // WeChat Pay issues it with mch_id as password
	addr := freeAddr(t)
	// A certificate is configured (password: mch_id by default); the fake
	// is plain HTTP here, the mutual TLS test is TestPaymentWxpayRefundMTLS.
	loadCaddy(t, payCaddyfile(t, addr, wxURL, aliURL, "\t\t\tpfx "+pki.pfxPath))
	base := "http://" + addr + "/pay/wxpay/"

	t.Run("getOrderInfo mp-weixin", func(t *testing.T) {
		status, m := payPost(t, base+"getOrderInfo", `{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","body":"腾讯充值中心-QQ会员充值","outTradeNo":"o-1","totalFee":1,"clientType":"mp-weixin","attach":"x"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["errMsg"] != "ok" {
			t.Fatalf("%d %v", status, m)
		}
		info, _ := m["orderInfo"].(map[string]any)
		if info["appId"] != payWxAppID || info["package"] != "prepay_id=wx20141027200939o-1" || info["signType"] != "MD5" {
			t.Errorf("orderInfo %v", info)
		}
		signed := map[string]string{"sign": fmt.Sprint(info["paySign"])}
		for _, k := range []string{"appId", "timeStamp", "nonceStr", "package", "signType"} {
			signed[k] = fmt.Sprint(info[k])
		}
		if err := signing.WxpayV2Verify(signed, payWxKey); err != nil {
			t.Errorf("paySign: %v", err)
		}
		req := wx.lastReq("/pay/unifiedorder")
		for k, want := range map[string]string{"trade_type": "JSAPI", "total_fee": "1", "out_trade_no": "o-1", "attach": "x",
			"notify_url": "https://example.com/notify/wxpay", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "appid": payWxAppID, "mch_id": payWxMchID} {
			if req[k] != want {
				t.Errorf("unifiedorder %s = %q, want %q", k, req[k], want)
			}
		}
		if _, ok := req["client_type"]; ok {
			t.Error("clientType sent to WeChat Pay")
		}
		if m["prepayId"] != "wx20141027200939o-1" {
			t.Errorf("prepayId %v", m["prepayId"])
		}
		for _, k := range []string{"sign", "nonceStr", "returnCode", "key"} {
			if _, ok := m[k]; ok {
				t.Errorf("answer carries %s", k)
			}
		}
	})
	t.Run("getOrderInfo app-plus by header", func(t *testing.T) {
		status, m := payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"o-2","totalFee":"100","notifyUrl":"https://example.com/n2"}`,
			"X-Unicloud-Client-Type", "app-plus")
		info, _ := m["orderInfo"].(map[string]any)
		if status != 200 || info["package"] != "Sign=WXPay" || info["partnerid"] != payWxMchID || info["prepayid"] != "wx20141027200939o-2" {
			t.Fatalf("%d %v", status, m)
		}
		signed := map[string]string{}
		for k, v := range info {
			signed[k] = fmt.Sprint(v)
		}
		if err := signing.WxpayV2Verify(signed, payWxKey); err != nil {
			t.Errorf("app sign: %v", err)
		}
		if req := wx.lastReq("/pay/unifiedorder"); req["trade_type"] != "APP" || req["notify_url"] != "https://example.com/n2" || req["total_fee"] != "100" {
			t.Errorf("unifiedorder %v", req)
		}
	})
	t.Run("getOrderInfo native and h5", func(t *testing.T) {
		_, m := payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"o-3","totalFee":1,"clientType":"native"}`)
		if info, _ := m["orderInfo"].(map[string]any); info["codeUrl"] != "weixin://wxpay/bizpayurl/up?pr=o-3" {
			t.Errorf("native %v", m)
		}
		_, m = payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"o-4","totalFee":1,"clientType":"h5","spbillCreateIp":"203.0.113.7",`+
			`"sceneInfo":{"h5Info":{"type":"Wap","wapUrl":"https://pay.qq.com","wapName":"腾讯充值"}}}`)
		if info, _ := m["orderInfo"].(map[string]any); !strings.HasPrefix(fmt.Sprint(info["mwebUrl"]), "https://wx.tenpay.com/") {
			t.Errorf("h5 %v", m)
		}
		req := wx.lastReq("/pay/unifiedorder")
		if req["scene_info"] != `{"h5_info":{"type":"Wap","wap_name":"腾讯充值","wap_url":"https://pay.qq.com"}}` || req["spbill_create_ip"] != "203.0.113.7" {
			t.Errorf("h5 request %v", req)
		}
	})
	t.Run("getOrderInfo business failure", func(t *testing.T) {
		status, m := payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"already-paid","totalFee":1,"clientType":"app-plus"}`)
		if status != 200 || m["errCode"] != "ORDERPAID" || m["errMsg"] != "该订单已支付" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("orderQuery", func(t *testing.T) {
		status, m := payPost(t, base+"orderQuery", `{"outTradeNo":"o-1"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 101 ||
			num(m["cashFee"]) != 101 || num(m["settlementTotalFee"]) != 101 || m["transactionId"] != "4200000001" ||
			m["appId"] != payWxAppID || m["mchId"] != payWxMchID || m["outTradeNo"] != "o-1" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("closeOrder", func(t *testing.T) {
		status, m := payPost(t, base+"closeOrder", `{"outTradeNo":"o-1"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["appId"] != payWxAppID || m["mchId"] != payWxMchID {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("refund", func(t *testing.T) {
		status, m := payPost(t, base+"refund", `{"outTradeNo":"o-1","outRefundNo":"r-1","totalFee":101,"refundFee":100,"refundDesc":"缺货"}`)
		if status != 200 || num(m["errCode"]) != 0 || num(m["refundFee"]) != 100 || num(m["cashRefundFee"]) != 100 ||
			m["refundId"] != "50000000012" || m["outRefundNo"] != "r-1" || m["transactionId"] != "4200000001" {
			t.Errorf("%d %v", status, m)
		}
		if req := wx.lastReq("/secapi/pay/refund"); req["refund_desc"] != "缺货" || req["refund_fee"] != "100" || req["total_fee"] != "101" {
			t.Errorf("refund request %v", req)
		}
	})
	t.Run("refundQuery", func(t *testing.T) {
		status, m := payPost(t, base+"refundQuery", `{"outTradeNo":"o-1"}`)
		list, _ := m["refundList"].([]any)
		if status != 200 || num(m["totalFee"]) != 101 || len(list) != 1 {
			t.Fatalf("%d %v", status, m)
		}
		item := list[0].(map[string]any)
		if item["outRefundNo"] != "r-1" || num(item["refundFee"]) != 100 || item["refundStatus"] != "SUCCESS" || item["refundRecvAccout"] != "支付用户的零钱" {
			t.Errorf("refund item %v", item)
		}
	})
	t.Run("downloadBill", func(t *testing.T) {
		for _, body := range []string{`{"billDate":"20141110"}`, `{"billDate":"20141110","tarType":"GZIP"}`} {
			status, m := payPost(t, base+"downloadBill", body)
			if status != 200 || m["content"] != payBill {
				t.Errorf("%s: %d %v", body, status, m)
			}
		}
		if req := wx.lastReq("/pay/downloadbill"); req["bill_type"] != "ALL" {
			t.Errorf("bill_type %q", req["bill_type"])
		}
		status, m := payPost(t, base+"downloadBill", `{"billDate":"20000101"}`)
		if status != 200 || m["errCode"] != "20002" || m["errMsg"] != "No Bill Exist" {
			t.Errorf("no bill: %d %v", status, m)
		}
	})
	t.Run("downloadFundflow", func(t *testing.T) {
		status, m := payPost(t, base+"downloadFundflow", `{"billDate":"20141110"}`)
		if status != 200 || m["content"] != payBill {
			t.Errorf("%d %v", status, m)
		}
		if req := wx.lastReq("/pay/downloadfundflow"); req["account_type"] != "Basic" || req["sign_type"] != "HMAC-SHA256" {
			t.Errorf("fundflow request %v", req)
		}
	})
	t.Run("refusals", func(t *testing.T) {
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
	})
	t.Run("bad answer signature", func(t *testing.T) {
		wx.wrongKey = true
		defer func() { wx.wrongKey = false }()
		for _, call := range []string{"orderQuery", "getOrderInfo"} {
			status, m := payPost(t, base+call, `{"outTradeNo":"o-1","body":"b","totalFee":1,"clientType":"app-plus"}`)
			if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" || m["orderInfo"] != nil || m["tradeState"] != nil {
				t.Errorf("%s: %d %v", call, status, m)
			}
		}
	})
}

func TestPaymentWxpayRefundMTLS(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	payRSAKeys(t)
	pki := newPayPKI(t, "s3cret-pfx-password")
	wx := newPayWxFake(t)
	srv := pki.mtlsServer(t, wx)
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
			endpoint %s
			ca_cert %s
		}
	}
	handle_path /pay/alipay/* {`, payWxAppID, payWxMchID, payWxKey, srv.URL, caFile), 1)
	loadCaddy(t, cf)

	status, m := payPost(t, "http://"+addr+"/pay/wxpay/refund", `{"transactionId":"4200000001","outRefundNo":"r-1","totalFee":101,"refundFee":101}`)
	if status != 200 || num(m["errCode"]) != 0 || num(m["refundFee"]) != 101 {
		t.Fatalf("refund over mutual TLS: %d %v", status, m)
	}
	status, m = payPost(t, "http://"+addr+"/pay/wxpay/downloadFundflow", `{"billDate":"20141110","accountType":"Operation"}`)
	if status != 200 || m["content"] != payBill {
		t.Fatalf("fundflow over mutual TLS: %d %v", status, m)
	}
	// Other calls go over TLS without the certificate.
	status, m = payPost(t, "http://"+addr+"/pay/wxpay/orderQuery", `{"outTradeNo":"o-1"}`)
	if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_ERROR" {
		t.Errorf("orderQuery to a server that requires a certificate: %d %v", status, m)
	}
	wx.mu.Lock()
	certs := wx.certs["/secapi/pay/refund"]
	wx.mu.Unlock()
	if certs != 1 {
		t.Errorf("refunds with a client certificate: %d", certs)
	}
	if req := wx.lastReq("/secapi/pay/refund"); req["sign_type"] != "HMAC-SHA256" || req["transaction_id"] != "4200000001" {
		t.Errorf("refund request %v", req)
	}
	status, m = payPost(t, "http://"+addr+"/nocert/refund", `{"outTradeNo":"o-1","outRefundNo":"r-1","totalFee":1,"refundFee":1}`)
	if status != 400 || m["errCode"] != "UNICLOUD_NOT_SUPPORTED" {
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
// the caller's JSON, the signed unifiedorder to a local fake of WeChat Pay,
// the answer's signature check, the signed orderInfo, the JSON answer.
func BenchmarkPaymentGetOrderInfo(b *testing.B) {
	b.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	payRSAKeys(b)
	wx := newPayWxFake(b)
	wxSrv := httptest.NewServer(wx)
	defer wxSrv.Close()
	addr := freeAddr(b)
	dir := b.TempDir()
	cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%s {
	unicloud_payment /pay/* wxpay {
		app_id %s
		mch_id %s
		key {env.UNICLOUD_PAY_TEST_KEY}
		notify_url https://example.com/notify/wxpay
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
	before := scrape()
	payPost(t, base+"/pay/wxpay/orderQuery", `{"outTradeNo":"o-1"}`)
	payPost(t, base+"/pay/wxpay/orderQuery", `{"outTradeNo":"o-1"}`)
	payPost(t, base+"/pay/wxpay/getOrderInfo", `{"body":"b","outTradeNo":"already-paid","totalFee":1,"clientType":"app-plus"}`)
	payPost(t, base+"/pay/wxpay/cancelOrder", `{"outTradeNo":"o-1"}`)
	payPost(t, base+"/pay/alipay/nothing", `{}`)
	wx.wrongKey, ali.tamper = true, true
	payPost(t, base+"/pay/wxpay/refund", `{"outTradeNo":"o-1","outRefundNo":"r","totalFee":1,"refundFee":1}`)
	payPost(t, base+"/pay/alipay/orderQuery", `{"outTradeNo":"o-1"}`)
	wx.wrongKey, ali.tamper = false, false
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
