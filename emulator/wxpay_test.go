package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	payMchID = "1900000109"
	payKey   = "emulator-apiv2-key-0123456789abc"
	payAppID = "wx8888888888888888"
)

// notifySink receives notifications and keeps their bodies.
type notifySink struct {
	mu     sync.Mutex
	bodies [][]byte
	got    chan []byte
	srv    *httptest.Server
}

func newNotifySink(t *testing.T, answer string) *notifySink {
	n := &notifySink{got: make(chan []byte, 16)}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n.mu.Lock()
		n.bodies = append(n.bodies, b)
		n.mu.Unlock()
		n.got <- b
		io.WriteString(w, answer)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *notifySink) wait(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-n.got:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
		return nil
	}
}

func newPayEmulator(t *testing.T, requireCert bool) *Server {
	return New(Config{WxpayMerchants: []WxpayMerchant{{MchID: payMchID, Key: payKey, RequireCert: requireCert}}})
}

func payClient(url string, hc *http.Client, signType string) *v2Client {
	return &v2Client{AppID: payAppID, MchID: payMchID, Key: payKey, SignType: signType, Endpoint: url, HTTP: hc, CertHTTP: hc}
}

func TestWxpayFlow(t *testing.T) {
	for _, signType := range []string{signing.SignTypeMD5, signing.SignTypeHMACSHA256} {
		t.Run(signType, func(t *testing.T) {
			emu := newPayEmulator(t, false)
			srv := httptest.NewServer(emu)
			defer srv.Close()
			sink := newNotifySink(t, "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>")
			c := payClient(srv.URL, srv.Client(), signType)
			ctx := context.Background()

			order := map[string]string{"body": "测试商品", "out_trade_no": "E-1", "total_fee": "101", "spbill_create_ip": "127.0.0.1",
				"notify_url": sink.srv.URL + "/notify", "trade_type": "JSAPI", "openid": "oUser1", "attach": "a=1"}
			ans, err := c.Call(ctx, v2UnifiedOrder, order)
			if err != nil || !strings.HasPrefix(ans["prepay_id"], "wx") {
				t.Fatalf("unifiedorder: %v %v", ans, err)
			}
			again, err := c.Call(ctx, v2UnifiedOrder, order)
			if err != nil || again["prepay_id"] != ans["prepay_id"] {
				t.Errorf("the same order again: %v %v", again, err)
			}
			changed := map[string]string{}
			for k, v := range order {
				changed[k] = v
			}
			changed["total_fee"] = "102"
			if _, err := c.Call(ctx, v2UnifiedOrder, changed); !isBiz(err, "INVALID_REQUEST") {
				t.Errorf("same out_trade_no, another amount: %v", err)
			}
			q, err := c.Call(ctx, v2OrderQuery, map[string]string{"out_trade_no": "E-1"})
			if err != nil || q["trade_state"] != "NOTPAY" || q["total_fee"] != "101" {
				t.Fatalf("orderquery before paying: %v %v", q, err)
			}

			res, err := emu.PayWxpayOrder(ctx, "", "E-1")
			if err != nil || res.NotifyStatus != 200 || res.TotalFee != 101 || res.TransactionID == "" {
				t.Fatalf("pay: %+v %v", res, err)
			}
			// The notification is signed as WeChat Pay's, with the merchant key.
			if p := v2Notice(t, sink.wait(t), payKey); p["out_trade_no"] != "E-1" || p["total_fee"] != "101" || p["transaction_id"] != res.TransactionID ||
				p["openid"] != "oUser1" || p["result_code"] != "SUCCESS" || p["appid"] != payAppID || p["mch_id"] != payMchID || p["attach"] != "a=1" {
				t.Errorf("notification %v", p)
			}

			q, err = c.Call(ctx, v2OrderQuery, map[string]string{"transaction_id": res.TransactionID})
			if err != nil || q["trade_state"] != "SUCCESS" || q["cash_fee"] != "101" || q["out_trade_no"] != "E-1" {
				t.Fatalf("orderquery after paying: %v %v", q, err)
			}
			if _, err := c.Call(ctx, v2UnifiedOrder, order); !isBiz(err, "ORDERPAID") {
				t.Errorf("paid order placed again: %v", err)
			}
			if _, err := c.Call(ctx, v2CloseOrder, map[string]string{"out_trade_no": "E-1"}); !isBiz(err, "ORDERPAID") {
				t.Errorf("closing a paid order: %v", err)
			}

			refund := map[string]string{"out_trade_no": "E-1", "out_refund_no": "R-1", "total_fee": "101", "refund_fee": "100",
				"notify_url": sink.srv.URL + "/refund"}
			r, err := c.Call(ctx, v2Refund, refund)
			if err != nil || r["refund_fee"] != "100" || r["refund_id"] == "" {
				t.Fatalf("refund: %v %v", r, err)
			}
			// The refund notification's req_info is encrypted with the
			// merchant key, and tells what the refund query tells.
			rn := v2RefundNotice(t, sink.wait(t), payKey)
			if rn["refund_fee"] != "100" || rn["out_refund_no"] != "R-1" || rn["refund_id"] != r["refund_id"] || rn["refund_status"] != "SUCCESS" ||
				rn["settlement_total_fee"] != "101" || rn["success_time"] == "" || rn["out_trade_no"] != "E-1" {
				t.Errorf("refund notification %v", rn)
			}
			refund["out_refund_no"], refund["refund_fee"] = "R-2", "2"
			if _, err := c.Call(ctx, v2Refund, refund); !isBiz(err, "NOTENOUGH") {
				t.Errorf("refunding more than paid: %v", err)
			}
			rq, err := c.Call(ctx, v2RefundQuery, map[string]string{"out_refund_no": "R-1"})
			if err != nil || rq["refund_count"] != "1" || rq["refund_fee_0"] != "100" || rq["refund_status_0"] != "SUCCESS" ||
				rq["settlement_total_fee"] != rn["settlement_total_fee"] || rq["refund_success_time_0"] != rn["success_time"] {
				t.Fatalf("refundquery: %v %v", rq, err)
			}

			today := time.Now().In(notifyChinaTime).Format("20060102")
			for _, kind := range []string{"ALL", "SUCCESS", "REFUND"} {
				bill, err := c.Bill(ctx, v2DownloadBill, map[string]string{"bill_date": today, "bill_type": kind, "tar_type": map[bool]string{true: "GZIP"}[kind == "ALL"]})
				if err != nil || !strings.Contains(string(bill), "`E-1,") || !strings.HasPrefix(string(bill), "交易时间,") || !strings.Contains(string(bill), "总交易单数") {
					t.Errorf("%s bill: %q %v", kind, bill, err)
				}
			}
			if _, err := c.Bill(ctx, v2DownloadBill, map[string]string{"bill_date": "20000101"}); !isBiz(err, "20002") {
				t.Errorf("bill of an empty day: %v", err)
			}
			flow, err := c.Bill(ctx, v2DownloadFundflow, map[string]string{"bill_date": today, "account_type": "Basic"})
			if err != nil || !strings.Contains(string(flow), "`收入,`1.01,`1.01,") || !strings.Contains(string(flow), "`支出,`1.00,`0.01,") {
				t.Errorf("fundflow: %q %v", flow, err)
			}

			// Another order, closed before it is paid.
			order["out_trade_no"] = "E-2"
			if _, err := c.Call(ctx, v2UnifiedOrder, order); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Call(ctx, v2CloseOrder, map[string]string{"out_trade_no": "E-2"}); err != nil {
				t.Errorf("closeorder: %v", err)
			}
			if _, err := emu.PayWxpayOrder(ctx, payMchID, "E-2"); !errors.Is(err, ErrOrderClosed) {
				t.Errorf("paying a closed order: %v", err)
			}
		})
	}
}

func TestWxpayRefusals(t *testing.T) {
	emu := newPayEmulator(t, false)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	ctx := context.Background()
	c := payClient(srv.URL, srv.Client(), "")
	c.Key = "a-key-that-is-not-the-merchants"
	if _, err := c.Call(ctx, v2OrderQuery, map[string]string{"out_trade_no": "x"}); !isBiz(err, "FAIL") {
		t.Errorf("wrong key: %v", err)
	}
	c = payClient(srv.URL, srv.Client(), "")
	c.MchID = "1234"
	if _, err := c.Call(ctx, v2OrderQuery, map[string]string{"out_trade_no": "x"}); !isBiz(err, "FAIL") {
		t.Errorf("unknown merchant: %v", err)
	}
	c = payClient(srv.URL, srv.Client(), "")
	if _, err := c.Call(ctx, v2OrderQuery, map[string]string{"out_trade_no": "x"}); !isBiz(err, "ORDERNOTEXIST") {
		t.Errorf("unknown order: %v", err)
	}
	if _, err := c.Call(ctx, v2UnifiedOrder, map[string]string{"body": "b", "out_trade_no": "x", "total_fee": "1",
		"spbill_create_ip": "127.0.0.1", "notify_url": "http://127.0.0.1:1/", "trade_type": "JSAPI"}); !isBiz(err, "PARAM_ERROR") {
		t.Errorf("JSAPI without openid: %v", err)
	}
	// downloadfundflow is HMAC-SHA256 only: a raw MD5 request is refused.
	body := c.Request(v2DownloadFundflow, map[string]string{"bill_date": "20240101"}, payKey, signing.SignTypeMD5)
	resp, err := http.Post(srv.URL+"/pay/downloadfundflow", "text/xml", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "FAIL") {
		t.Errorf("MD5 fundflow: %s", b)
	}
	// A DOCTYPE is refused.
	resp, err = http.Post(srv.URL+"/pay/orderquery", "text/xml", strings.NewReader(`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><mch_id>&x;</mch_id></xml>`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "XML格式错误") {
		t.Errorf("DOCTYPE: %s", b)
	}
}

func TestWxpaySandbox(t *testing.T) {
	emu := newPayEmulator(t, false)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c := payClient(srv.URL, srv.Client(), "")
	c.Sandbox = true
	ctx := context.Background()
	ans, err := c.Call(ctx, v2UnifiedOrder, map[string]string{"body": "b", "out_trade_no": "S-1", "total_fee": "101",
		"spbill_create_ip": "127.0.0.1", "notify_url": "http://127.0.0.1:1/", "trade_type": "APP"})
	if err != nil || ans["prepay_id"] == "" {
		t.Fatalf("sandbox unifiedorder: %v %v", ans, err)
	}
	key, _ := c.SignKey(ctx)
	if key == payKey || key != sandboxKey(payKey) {
		t.Errorf("sandbox key %q", key)
	}
	if emu.Stats().Calls["/sandboxnew/pay/getsignkey"] != 1 || emu.Stats().Calls["/sandboxnew/pay/unifiedorder"] != 1 {
		t.Errorf("calls %v", emu.Stats().Calls)
	}
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a merchant
// client certificate with CN = mch_id.
func testPKI(t *testing.T, clientCN string) (server, client tls.Certificate, pool *x509.CertPool) {
	t.Helper()
	key := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "emulator test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(n int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}),
		issue(3, clientCN, x509.ExtKeyUsageClientAuth, nil), pool
}

func TestWxpayRefundNeedsTheCertificate(t *testing.T) {
	emu := newPayEmulator(t, true)
	serverCert, clientCert, pool := testPKI(t, payMchID)
	srv := httptest.NewUnstartedServer(emu)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}}}
	ctx := context.Background()
	c := payClient(srv.URL, plain, "")
	if _, err := c.Call(ctx, v2UnifiedOrder, map[string]string{"body": "b", "out_trade_no": "M-1", "total_fee": "5",
		"spbill_create_ip": "127.0.0.1", "notify_url": "http://127.0.0.1:1/", "trade_type": "APP"}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.PayWxpayOrder(ctx, payMchID, "M-1"); err != nil {
		t.Fatal(err) // the notification fails (nobody listens), the payment stands
	}
	refund := map[string]string{"out_trade_no": "M-1", "out_refund_no": "MR-1", "total_fee": "5", "refund_fee": "5"}
	if _, err := c.Call(ctx, v2Refund, refund); !isBiz(err, "FAIL") {
		t.Errorf("refund without the certificate: %v", err)
	}
	c.CertHTTP = withCert
	if r, err := c.Call(ctx, v2Refund, refund); err != nil || r["refund_fee"] != "5" {
		t.Errorf("refund with the certificate: %v %v", r, err)
	}
	// A certificate of another CA is refused (by the TLS layer).
	_, otherCert, _ := testPKI(t, "1111111111")
	c.CertHTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{otherCert}}}}
	if _, err := c.Call(ctx, v2Refund, refund); err == nil {
		t.Error("refund with another CA's certificate")
	}
}

func TestWxpayPayHook(t *testing.T) {
	emu := newPayEmulator(t, false)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	sink := newNotifySink(t, "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>")
	c := payClient(srv.URL, srv.Client(), "")
	if _, err := c.Call(context.Background(), v2UnifiedOrder, map[string]string{"body": "b", "out_trade_no": "H-1", "total_fee": "1",
		"spbill_create_ip": "127.0.0.1", "notify_url": sink.srv.URL, "trade_type": "NATIVE", "product_id": "p"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/_emulator/wxpay/pay?out_trade_no=H-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var res PayResult
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != 200 || res.NotifyStatus != 200 || res.OutTradeNo != "H-1" || !strings.Contains(res.NotifyAnswer, "SUCCESS") {
		t.Errorf("hook: %d %+v", resp.StatusCode, res)
	}
	sink.wait(t)
	resp, _ = http.Post(srv.URL+"/_emulator/wxpay/pay?out_trade_no=nope", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown order: %d", resp.StatusCode)
	}
	if emu.Stats().Calls["/_emulator/wxpay/pay"] != 0 {
		t.Error("hooks counted as calls")
	}
}
