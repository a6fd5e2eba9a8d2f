package unicloud

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// WeChat Pay APIv3 through Caddy: the gateway (unicloud_payment wxpay
// version v3) in front of the emulator, which checks every request's
// Authorization with the merchant's key and signs every answer with its
// platform key; the gateway checks those signatures.

const (
	payV3AppID   = "wxd678efh567hg6787"
	payV3MchID   = "1900007291" // certificate mode, platform_certs auto
	payV3MchID2  = "1900007292" // public-key mode, a configured platform_key
	payV3Key     = "demo-apiv3-key-00000000000000001"
	payV3Serial  = "3775B6A45ACD588826D15E583A95F5DD00000001"
	payV3PubKey  = "PUB_KEY_ID_0119000072922025010100000000000001"
	payV3KeyEnv  = "UNICLOUD_PAY_V3_TEST_KEY"
	payV3DayZone = 8 * 3600
)

var payV3Keys struct {
	once     sync.Once
	merchant *rsa.PrivateKey // merchant API key of both merchants
	platform *rsa.PrivateKey // the public-key mode key of merchant 2
	certPEM  string          // merchant API certificate, serial payV3Serial
}

func payV3TestKeys(t testing.TB) {
	t.Helper()
	payV3Keys.once.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&payV3Keys.merchant, &payV3Keys.platform} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		sn, _ := new(big.Int).SetString(payV3Serial, 16)
		tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: payV3MchID},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &payV3Keys.merchant.PublicKey, payV3Keys.merchant)
		if err != nil {
			panic(err)
		}
		payV3Keys.certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
}

// payV3Files writes the merchant's and the platform's key files.
func payV3Files(t testing.TB) string {
	t.Helper()
	payV3TestKeys(t)
	dir := t.TempDir()
	der8, _ := x509.MarshalPKCS8PrivateKey(payV3Keys.merchant)
	pder8, _ := x509.MarshalPKCS8PrivateKey(payV3Keys.platform)
	for name, content := range map[string]string{
		"apiclient_key.pem":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der8})),
		"apiclient_cert.pem":   payV3Keys.certPEM,
		"platform_key.pem":     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pder8})),
		"platform_pub_key.pem": pubPEMOf(&payV3Keys.platform.PublicKey),
		"merchant_pub_key.pem": pubPEMOf(&payV3Keys.merchant.PublicKey),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// payV3Tamper sits between the gateway and the emulator and changes
// answers when told to.
type payV3Tamper struct {
	body atomic.Bool // change one byte of JSON answers
	file atomic.Bool // change one byte of bill files
	srv  *httptest.Server
}

func newPayV3Tamper(t *testing.T, target string) *payV3Tamper {
	u, _ := url.Parse(target)
	p := &payV3Tamper{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		file := strings.HasPrefix(resp.Request.URL.Path, "/v3/billdownload/")
		if !(file && p.file.Load()) && !(!file && p.body.Load()) {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if len(b) > 0 {
			b[len(b)/2] ^= 0x01
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

// payV3Caddyfile: the emulator, the gateway for both merchants (merchant 2
// through the tampering proxy), the v3 notification route, the backend.
func payV3Caddyfile(dir, emu, gw, proxy, backend string) string {
	return globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		wxpay_v3_merchant %[4]s {env.%[9]s} {file.%[3]s/apiclient_cert.pem}
		wxpay_v3_merchant %[5]s {env.%[9]s} {file.%[3]s/merchant_pub_key.pem} %[8]s {file.%[3]s/platform_key.pem}
	}
}

http://%[2]s {
	handle_path /pay/wxpay/* {
		unicloud_payment wxpay {
			version v3
			app_id %[6]s
			mch_id %[4]s
			private_key {file.%[3]s/apiclient_key.pem}
			serial_no %[7]s
			api_v3_key {env.%[9]s}
			platform_certs auto
			notify_url http://%[2]s/notify/wxpay
			endpoint http://%[1]s
			timeout 5s
		}
	}
	handle_path /pay/wxpay2/* {
		unicloud_payment wxpay {
			version v3
			app_id %[6]s
			mch_id %[5]s
			private_key {file.%[3]s/apiclient_key.pem}
			serial_no %[7]s
			platform_key %[8]s {file.%[3]s/platform_pub_key.pem}
			max_skew 2m
			notify_url http://%[2]s/notify/wxpay
			endpoint %[10]s
		}
	}
	route /notify/wxpay {
		unicloud_payment_notify wxpay {
			app_id %[6]s
			mch_id %[4]s
			api_v3_key {env.%[9]s}
		}
		reverse_proxy %[11]s
	}
}
`, emu, gw, dir, payV3MchID, payV3MchID2, payV3AppID, payV3Serial, payV3PubKey, payV3KeyEnv, proxy, backend)
}

// payV3Hook calls an emulator hook.
func payV3Hook(t *testing.T, method, u string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("hook %s: %d %v %v", u, resp.StatusCode, m, err)
	}
	return m
}

// payV3VerifyPaySign checks an RSA orderInfo signature with the merchant's
// public key.
func payV3VerifyPaySign(t *testing.T, sig string, parts ...string) {
	t.Helper()
	msg := strings.Join(parts, "\n") + "\n"
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatalf("signature is not base64: %v", err)
	}
	sum := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(&payV3Keys.merchant.PublicKey, crypto.SHA256, sum[:], raw); err != nil {
		t.Errorf("orderInfo signature does not verify: %v", err)
	}
}

// TestPaymentWxpayV3 is every call through Caddy against the emulator,
// and the offline flow create → pay → notify → backend on APIv3.
func TestPaymentWxpayV3(t *testing.T) {
	t.Setenv(payV3KeyEnv, payV3Key)
	dir := payV3Files(t)
	backend, backendAddr := newPayBackend(t)
	emu, gw := freeAddr(t), freeAddr(t)
	proxy := newPayV3Tamper(t, "http://"+emu)
	loadCaddy(t, payV3Caddyfile(dir, emu, gw, proxy.srv.URL, backendAddr))
	base := "http://" + gw + "/pay/wxpay"
	today := time.Now().In(time.FixedZone("CST", payV3DayZone)).Format("20060102")

	t.Run("create, pay, notify, backend", func(t *testing.T) {
		status, m := payPost(t, base+"/getOrderInfo", `{"openid":"oV3Flow","body":"demo","outTradeNo":"v3-flow-1","totalFee":88,"clientType":"mp-weixin","attach":"cart=7"}`)
		info, _ := m["orderInfo"].(map[string]any)
		if status != 200 || num(m["errCode"]) != 0 || info == nil {
			t.Fatalf("getOrderInfo: %d %v", status, m)
		}
		pkg, _ := info["package"].(string)
		if info["appId"] != payV3AppID || info["signType"] != "RSA" || !strings.HasPrefix(pkg, "prepay_id=wx") ||
			m["prepayId"] != strings.TrimPrefix(pkg, "prepay_id=") || m["tradeType"] != "JSAPI" || m["mchId"] != payV3MchID {
			t.Errorf("orderInfo %v in %v", info, m)
		}
		payV3VerifyPaySign(t, fmt.Sprint(info["paySign"]), payV3AppID, fmt.Sprint(info["timeStamp"]), fmt.Sprint(info["nonceStr"]), pkg)

		_, m = payPost(t, base+"/orderQuery", `{"outTradeNo":"v3-flow-1"}`)
		if m["tradeState"] != "NOTPAY" || num(m["totalFee"]) != 88 {
			t.Errorf("before paying: %v", m)
		}
		res := payV3Hook(t, http.MethodPost, "http://"+emu+"/_emulator/wxpay/pay?out_trade_no=v3-flow-1")
		if num(res["notify_status"]) != http.StatusNoContent {
			t.Errorf("pay: %v", res)
		}
		got := backend.next(t)
		if got["provider"] != "wxpay" || got["type"] != "payment" || got["outTradeNo"] != "v3-flow-1" || num(got["totalFee"]) != 88 ||
			num(got["cashFee"]) != 88 || got["openid"] != "oV3Flow" || got["tradeState"] != "SUCCESS" || got["transactionId"] != res["transaction_id"] ||
			len(fmt.Sprint(got["timeEnd"])) != 14 {
			t.Errorf("backend received %v", got)
		}
		_, m = payPost(t, base+"/orderQuery", `{"outTradeNo":"v3-flow-1"}`)
		if m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 88 || num(m["cashFee"]) != 88 || m["transactionId"] != res["transaction_id"] ||
			m["openid"] != "oV3Flow" || m["attach"] != "cart=7" || m["appId"] != payV3AppID || m["mchId"] != payV3MchID || num(m["errCode"]) != 0 {
			t.Errorf("after paying: %v", m)
		}
		_, m = payPost(t, base+"/orderQuery", fmt.Sprintf(`{"transactionId":%q}`, res["transaction_id"]))
		if m["outTradeNo"] != "v3-flow-1" || m["tradeState"] != "SUCCESS" {
			t.Errorf("by transactionId: %v", m)
		}

		// Refunds need no merchant certificate in APIv3.
		status, m = payPost(t, base+"/refund", fmt.Sprintf(`{"outTradeNo":"v3-flow-1","outRefundNo":"v3-flow-r1","totalFee":88,"refundFee":30,"refundDesc":"demo","notifyUrl":"http://%s/notify/wxpay"}`, gw))
		if status != 200 || num(m["errCode"]) != 0 || num(m["refundFee"]) != 30 || num(m["totalFee"]) != 88 || m["refundId"] == nil ||
			m["outRefundNo"] != "v3-flow-r1" || m["refundStatus"] != "SUCCESS" {
			t.Errorf("refund: %d %v", status, m)
		}
		got = backend.next(t)
		if got["type"] != "refund" || num(got["refundFee"]) != 30 || got["outRefundNo"] != "v3-flow-r1" || got["refundId"] != m["refundId"] {
			t.Errorf("backend received %v", got)
		}
		status, m = payPost(t, base+"/refund", `{"outTradeNo":"v3-flow-1","outRefundNo":"v3-flow-r2","totalFee":88,"refundFee":59}`)
		if status != 200 || m["errCode"] != "NOT_ENOUGH" || m["errMsg"] == "" {
			t.Errorf("refund over the total: %d %v", status, m)
		}
		status, m = payPost(t, base+"/refundQuery", `{"outRefundNo":"v3-flow-r1"}`)
		list, _ := m["refundList"].([]any)
		if status != 200 || num(m["refundCount"]) != 1 || len(list) != 1 || num(list[0].(map[string]any)["refundFee"]) != 30 {
			t.Errorf("refundQuery: %d %v", status, m)
		}
		status, m = payPost(t, base+"/refundQuery", `{"outTradeNo":"v3-flow-1"}`)
		if status != 400 || m["errCode"] != "UNICLOUD_NOT_SUPPORTED" {
			t.Errorf("refundQuery by order: %d %v", status, m)
		}

		status, m = payPost(t, base+"/downloadBill", `{"billDate":"`+today+`"}`)
		if status != 200 || !strings.Contains(fmt.Sprint(m["content"]), "`v3-flow-1,") || !strings.Contains(fmt.Sprint(m["content"]), "`v3-flow-r1,") {
			t.Errorf("downloadBill: %d %v", status, m)
		}
		status, m = payPost(t, base+"/downloadBill", `{"billDate":"`+today+`","billType":"SUCCESS","tarType":"GZIP"}`)
		if status != 200 || !strings.HasPrefix(fmt.Sprint(m["content"]), "交易时间,") {
			t.Errorf("downloadBill (gzip): %d %v", status, m)
		}
		status, m = payPost(t, base+"/downloadFundflow", `{"billDate":"`+today+`","accountType":"Basic"}`)
		if status != 200 || !strings.Contains(fmt.Sprint(m["content"]), "`v3-flow-1") {
			t.Errorf("downloadFundflow: %d %v", status, m)
		}
		status, m = payPost(t, base+"/downloadBill", `{"billDate":"20010101"}`)
		if status != 200 || m["errCode"] != "NO_STATEMENT_EXIST" {
			t.Errorf("no bill: %d %v", status, m)
		}
		status, m = payPost(t, base+"/downloadBill", `{"billDate":"2001-1-1"}`)
		if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" {
			t.Errorf("bad billDate: %d %v", status, m)
		}
		status, m = payPost(t, base+"/closeOrder", `{"outTradeNo":"v3-flow-1"}`)
		if status != 200 || m["errCode"] != "ORDERPAID" {
			t.Errorf("closing a paid order: %d %v", status, m)
		}
	})

	t.Run("platform certificate rotation", func(t *testing.T) {
		downloads := func() int {
			resp, err := testClient.Get("http://" + emu + "/_emulator/stats")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var st struct {
				Calls map[string]int `json:"calls"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&st)
			return st.Calls["/v3/certificates"]
		}
		status, m := payPost(t, base+"/getOrderInfo", `{"openid":"oRot","body":"demo","outTradeNo":"v3-rot-1","totalFee":1,"clientType":"mp-weixin"}`)
		if status != 200 || num(m["errCode"]) != 0 {
			t.Fatalf("getOrderInfo: %d %v", status, m)
		}
		before := downloads()
		// WeChat Pay signs with a new platform certificate: the first answer
		// with its serial makes one download, and succeeds.
		p := payV3Hook(t, http.MethodPost, "http://"+emu+"/_emulator/wxpay/v3/rotate?mchid="+payV3MchID+"&mode=certificate")
		if p["serial"] == nil {
			t.Fatalf("rotate: %v", p)
		}
		for i := 0; i < 3; i++ {
			status, m = payPost(t, base+"/orderQuery", `{"outTradeNo":"v3-rot-1"}`)
			if status != 200 || m["tradeState"] != "NOTPAY" {
				t.Fatalf("after rotation: %d %v", status, m)
			}
		}
		if n := downloads() - before; n != 1 {
			t.Fatalf("rotation made %d certificate downloads, want 1", n)
		}
	})

	t.Run("client types", func(t *testing.T) {
		status, m := payPost(t, base+"/getOrderInfo", `{"body":"demo","outTradeNo":"v3-app-1","totalFee":5}`, "X-Unicloud-Client-Type", "app-plus")
		info, _ := m["orderInfo"].(map[string]any)
		if status != 200 || info == nil || info["package"] != "Sign=WXPay" || info["partnerid"] != payV3MchID || info["appid"] != payV3AppID {
			t.Fatalf("app-plus: %d %v", status, m)
		}
		payV3VerifyPaySign(t, fmt.Sprint(info["sign"]), payV3AppID, fmt.Sprint(info["timestamp"]), fmt.Sprint(info["noncestr"]), fmt.Sprint(info["prepayid"]))
		status, m = payPost(t, base+"/getOrderInfo", `{"body":"demo","outTradeNo":"v3-native-1","totalFee":5,"clientType":"native"}`)
		if info, _ := m["orderInfo"].(map[string]any); status != 200 || !strings.HasPrefix(fmt.Sprint(info["codeUrl"]), "weixin://") || m["codeUrl"] != info["codeUrl"] {
			t.Errorf("native: %d %v", status, m)
		}
		status, m = payPost(t, base+"/getOrderInfo", `{"body":"demo","outTradeNo":"v3-h5-1","totalFee":5,"clientType":"h5","spbillCreateIp":"203.0.113.7","sceneInfo":{"h5Info":{"type":"Wap","wapUrl":"https://m.example.com"}}}`)
		if info, _ := m["orderInfo"].(map[string]any); status != 200 || !strings.HasPrefix(fmt.Sprint(info["mwebUrl"]), "https://wx.tenpay.com/") {
			t.Errorf("h5: %d %v", status, m)
		}
		status, m = payPost(t, base+"/getOrderInfo", `{"body":"demo","outTradeNo":"v3-h5-2","totalFee":5,"clientType":"h5"}`)
		if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" {
			t.Errorf("h5 without the payer's IP: %d %v", status, m)
		}
		status, m = payPost(t, base+"/closeOrder", `{"outTradeNo":"v3-native-1"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["outTradeNo"] != "v3-native-1" {
			t.Errorf("closeOrder: %d %v", status, m)
		}
		_, m = payPost(t, base+"/orderQuery", `{"outTradeNo":"v3-native-1"}`)
		if m["tradeState"] != "CLOSED" {
			t.Errorf("after closing: %v", m)
		}
		status, m = payPost(t, base+"/orderQuery", `{"outTradeNo":"v3-none"}`)
		if status != 200 || m["errCode"] != "ORDER_NOT_EXIST" || m["errMsg"] != "订单不存在" {
			t.Errorf("unknown order: %d %v", status, m)
		}
		status, m = payPost(t, base+"/cancelOrder", `{"outTradeNo":"v3-app-1"}`)
		if status != 400 || m["errCode"] != "UNICLOUD_NOT_SUPPORTED" {
			t.Errorf("cancelOrder: %d %v", status, m)
		}
		status, m = payPost(t, base+"/getOrderInfo", `{"body":"demo","outTradeNo":"v3-1","totalFee":1.5,"clientType":"native"}`)
		if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" {
			t.Errorf("1.5 fen: %d %v", status, m)
		}
	})

	t.Run("public key mode, tampered answers, unknown serial", func(t *testing.T) {
		base2 := "http://" + gw + "/pay/wxpay2"
		status, m := payPost(t, base2+"/getOrderInfo", `{"openid":"oV3Two","body":"demo","outTradeNo":"v3-two-1","totalFee":9}`)
		if status != 200 || num(m["errCode"]) != 0 {
			t.Fatalf("public key mode: %d %v", status, m)
		}
		proxy.body.Store(true)
		status, m = payPost(t, base2+"/orderQuery", `{"outTradeNo":"v3-two-1"}`)
		if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" {
			t.Errorf("tampered answer: %d %v", status, m)
		}
		status, m = payPost(t, base2+"/orderQuery", `{"outTradeNo":"v3-none"}`)
		if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" {
			t.Errorf("tampered failure answer: %d %v", status, m)
		}
		proxy.body.Store(false)

		// A bill file that is not the one the signed answer hashed.
		payV3Hook(t, http.MethodPost, "http://"+emu+"/_emulator/wxpay/pay?out_trade_no=v3-two-1&mch_id="+payV3MchID2)
		status, m = payPost(t, base2+"/downloadBill", `{"billDate":"`+today+`"}`)
		if status != 200 || !strings.Contains(fmt.Sprint(m["content"]), "`v3-two-1,") {
			t.Errorf("bill: %d %v", status, m)
		}
		proxy.file.Store(true)
		status, m = payPost(t, base2+"/downloadBill", `{"billDate":"`+today+`"}`)
		if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" {
			t.Errorf("bad bill hash: %d %v", status, m)
		}
		proxy.file.Store(false)

		// The emulator moves to a new public key the gateway does not know:
		// answers are refused (no platform_certs auto to learn it).
		p := payV3Hook(t, http.MethodPost, "http://"+emu+"/_emulator/wxpay/v3/rotate?mchid="+payV3MchID2+"&mode=public_key")
		if p["serial"] == payV3PubKey {
			t.Fatalf("rotate: %v", p)
		}
		status, m = payPost(t, base2+"/orderQuery", `{"outTradeNo":"v3-two-1"}`)
		if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" {
			t.Errorf("unknown serial: %d %v", status, m)
		}
	})

}

// BenchmarkPaymentGetOrderInfoV3 is a whole APIv3 getOrderInfo through
// Caddy: the caller's JSON, the signed /v3/pay/transactions/jsapi to the
// emulator (a site of the same Caddy, in public-key mode), the answer's
// signature check, the RSA paySign, the answer. The time includes the
// emulator's own work (it checks the request's RSA signature and signs its
// answer).
func BenchmarkPaymentGetOrderInfoV3(b *testing.B) {
	dir := payV3Files(b)
	b.Setenv(payV3KeyEnv, payV3Key)
	emu, addr := freeAddr(b), freeAddr(b)
	cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		wxpay_v3_merchant %[3]s {env.%[7]s} {file.%[4]s/merchant_pub_key.pem} %[6]s {file.%[4]s/platform_key.pem}
	}
}

http://%[2]s {
	unicloud_payment /pay/* wxpay {
		version v3
		app_id %[5]s
		mch_id %[3]s
		private_key {file.%[4]s/apiclient_key.pem}
		serial_no %[8]s
		platform_key %[6]s {file.%[4]s/platform_pub_key.pem}
		notify_url http://127.0.0.1:1/notify/wxpay
		endpoint http://%[1]s
	}
}
`, emu, addr, payV3MchID2, dir, payV3AppID, payV3PubKey, payV3KeyEnv, payV3Serial)
	loadCaddy(b, cf)
	benchGetOrderInfo(b, addr)
}
