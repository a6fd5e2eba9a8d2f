package unicloud

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	payWxAppID  = "wx2421b1c4370ec43b"
	payWxMchID  = "10000100"
	payWxKey    = "pay-test-apiv2-key-0123456789abc"
	payAliAppID = "2021000117600000"
	payBill     = "交易时间,公众账号ID,商户号\n`2014-11-10 16：33：45,`wx2421b1c4370ec43b,`10000100\n总交易单数,总交易额\n`1,`0.01\n"
)

// payKeys are the RSA keys of the Alipay tests, made once per test binary:
// the application's (signs requests) and the stand-in for Alipay's (signs
// answers).
var payKeys struct {
	once      sync.Once
	app, ali  *rsa.PrivateKey
	appPEM    string // PKCS#1 PEM of the app key
	aliPubB64 string // bare base64 PKIX of Alipay's public key
}

func payRSAKeys(t testing.TB) {
	t.Helper()
	payKeys.once.Do(func() {
		var err error
		if payKeys.app, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if payKeys.ali, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		payKeys.appPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(payKeys.app)}))
		der, _ := x509.MarshalPKIXPublicKey(&payKeys.ali.PublicKey)
		payKeys.aliPubB64 = base64.StdEncoding.EncodeToString(der)
	})
}

// payWxFake is a stand-in for api.mch.weixin.qq.com: it checks each
// request's signature and answers signed documents shaped as WeChat Pay's.
type payWxFake struct {
	t     testing.TB
	mu    sync.Mutex
	last  map[string]map[string]string
	certs map[string]int // path → requests that presented a client certificate
	// wrongKey signs answers with another key.
	wrongKey bool
}

func newPayWxFake(t testing.TB) *payWxFake {
	return &payWxFake{t: t, last: map[string]map[string]string{}, certs: map[string]int{}}
}

func (f *payWxFake) lastReq(path string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[path]
}

func (f *payWxFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, err := wxpay.ParseNotifyXML(body, "xml")
	if err != nil {
		w.Write(wxpay.EncodeXML(map[string]string{"return_code": "FAIL", "return_msg": "XML格式错误"}))
		return
	}
	signType := req["sign_type"]
	if signType == "" {
		signType = signing.SignTypeMD5
	}
	if err := signing.WxpayV2VerifyType(req, payWxKey, signType); err != nil {
		w.Write(wxpay.EncodeXML(map[string]string{"return_code": "FAIL", "return_msg": "签名错误"}))
		return
	}
	f.mu.Lock()
	f.last[r.URL.Path] = req
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		f.certs[r.URL.Path]++
	}
	f.mu.Unlock()
	ans := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS",
		"appid": req["appid"], "mch_id": req["mch_id"], "nonce_str": signing.NonceStr(),
	}
	switch r.URL.Path {
	case "/pay/unifiedorder":
		if req["out_trade_no"] == "already-paid" {
			ans["result_code"], ans["err_code"], ans["err_code_des"] = "FAIL", "ORDERPAID", "该订单已支付"
			break
		}
		ans["trade_type"] = req["trade_type"]
		ans["prepay_id"] = "wx20141027200939" + req["out_trade_no"]
		switch req["trade_type"] {
		case "NATIVE":
			ans["code_url"] = "weixin://wxpay/bizpayurl/up?pr=" + req["product_id"]
		case "MWEB":
			ans["mweb_url"] = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=x"
		}
	case "/pay/orderquery":
		for k, v := range map[string]string{"trade_state": "SUCCESS", "total_fee": "101", "cash_fee": "101", "settlement_total_fee": "101",
			"transaction_id": "4200000001", "out_trade_no": req["out_trade_no"], "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
			"trade_type": "JSAPI", "fee_type": "CNY", "time_end": "20141030133525", "bank_type": "OTHERS"} {
			ans[k] = v
		}
	case "/pay/closeorder":
		ans["result_msg"] = "OK"
	case "/secapi/pay/refund":
		for k, v := range map[string]string{"transaction_id": "4200000001", "out_trade_no": req["out_trade_no"],
			"out_refund_no": req["out_refund_no"], "refund_id": "50000000012", "refund_fee": req["refund_fee"],
			"total_fee": req["total_fee"], "cash_fee": req["total_fee"], "cash_refund_fee": req["refund_fee"]} {
			ans[k] = v
		}
	case "/pay/refundquery":
		for k, v := range map[string]string{"transaction_id": "4200000001", "out_trade_no": "o-1", "total_fee": "101",
			"cash_fee": "101", "refund_count": "1", "out_refund_no_0": "r-1", "refund_id_0": "50000000012",
			"refund_fee_0": "100", "refund_status_0": "SUCCESS", "refund_channel_0": "ORIGINAL",
			"refund_recv_accout_0": "支付用户的零钱", "refund_success_time_0": "2016-07-25 15:26:26"} {
			ans[k] = v
		}
	case "/pay/downloadbill":
		if req["bill_date"] == "20000101" {
			w.Write(wxpay.EncodeXML(map[string]string{"return_code": "FAIL", "return_msg": "No Bill Exist", "error_code": "20002"}))
			return
		}
		if req["tar_type"] == "GZIP" {
			zw := gzip.NewWriter(w)
			zw.Write([]byte(payBill))
			zw.Close()
			return
		}
		io.WriteString(w, payBill)
		return
	case "/pay/downloadfundflow":
		if signType != signing.SignTypeHMACSHA256 {
			w.Write(wxpay.EncodeXML(map[string]string{"return_code": "FAIL", "return_msg": "sign_type must be HMAC-SHA256"}))
			return
		}
		io.WriteString(w, payBill)
		return
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	key := payWxKey
	if f.wrongKey {
		key = "not-the-merchant-key-000000000000"
	}
	sign, err := signing.WxpayV2Sign(ans, key, signType)
	if err != nil {
		f.t.Error(err)
	}
	ans["sign"] = sign
	w.Header().Set("Content-Type", "text/xml")
	w.Write(wxpay.EncodeXML(ans))
}

// payAliFake is a stand-in for Alipay's gateway: it checks each request's
// RSA2 signature with the app public key and signs its answers with the
// stand-in Alipay key.
type payAliFake struct {
	t    testing.TB
	mu   sync.Mutex
	last map[string]url.Values
	// tamper changes a signed answer on the way.
	tamper bool
}

func newPayAliFake(t testing.TB) *payAliFake {
	payRSAKeys(t)
	return &payAliFake{t: t, last: map[string]url.Values{}}
}

func (f *payAliFake) lastForm(method string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[method]
}

func (f *payAliFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	params := map[string]string{}
	for k := range r.PostForm {
		params[k] = r.PostForm.Get(k)
	}
	method := params["method"]
	key := alipay.ResponseKey(method)
	if err := signing.AlipayVerify(&payKeys.app.PublicKey, []byte(signing.AlipaySignContent(params, true)), params["sign"], params["sign_type"]); err != nil {
		io.WriteString(w, `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}}`)
		return
	}
	f.mu.Lock()
	f.last[method] = r.PostForm
	f.mu.Unlock()
	var biz map[string]any
	json.Unmarshal([]byte(params["biz_content"]), &biz)
	str := func(k string) string { s, _ := biz[k].(string); return s }
	var member string
	switch method {
	case alipay.MethodTradeCreate:
		if str("out_trade_no") == "already-paid" {
			member = `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_HAS_SUCCESS","sub_msg":"交易已被支付"}`
			break
		}
		member = fmt.Sprintf(`{"code":"10000","msg":"Success","out_trade_no":%q,"trade_no":"2024050122001400000000000001"}`, str("out_trade_no"))
	case alipay.MethodTradeQuery:
		if str("out_trade_no") == "missing" {
			member = `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}`
			break
		}
		member = fmt.Sprintf(`{"code":"10000","msg":"Success","trade_no":"2024050122001400000000000001","out_trade_no":%q,`+
			`"buyer_logon_id":"159****5620","trade_status":"TRADE_SUCCESS","total_amount":"1.01","receipt_amount":"1.01",`+
			`"buyer_pay_amount":"1.01","point_amount":"0.00","invoice_amount":"1.01","send_pay_date":"2024-05-01 12:00:00",`+
			`"buyer_open_id":"074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"}`, str("out_trade_no"))
	case alipay.MethodTradeClose, alipay.MethodTradeCancel:
		member = fmt.Sprintf(`{"code":"10000","msg":"Success","trade_no":"2024050122001400000000000001","out_trade_no":%q,"retry_flag":"N","action":"close"}`, str("out_trade_no"))
		if method == alipay.MethodTradeClose {
			member = fmt.Sprintf(`{"code":"10000","msg":"Success","trade_no":"2024050122001400000000000001","out_trade_no":%q}`, str("out_trade_no"))
		}
	case alipay.MethodTradeRefund:
		member = fmt.Sprintf(`{"code":"10000","msg":"Success","trade_no":"2024050122001400000000000001","out_trade_no":%q,`+
			`"buyer_logon_id":"159****5620","fund_change":"Y","refund_fee":%q,"send_back_fee":%q}`, str("out_trade_no"), str("refund_amount"), str("refund_amount"))
	case alipay.MethodTradeRefundQuery:
		member = fmt.Sprintf(`{"code":"10000","msg":"Success","trade_no":"2024050122001400000000000001","out_trade_no":%q,`+
			`"out_request_no":%q,"refund_reason":"用户退款","total_amount":"1.01","refund_amount":"1.00","refund_status":"REFUND_SUCCESS"}`,
			str("out_trade_no"), str("out_request_no"))
	case alipay.MethodOAuthToken:
		if params["grant_type"] != "authorization_code" || params["code"] == "bad-code" {
			io.WriteString(w, `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"}}`)
			return
		}
		member = `{"user_id":"2088102150477652","open_id":"074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5",` +
			`"access_token":"20120823ac6ffaa4d2d84e7384bf983531473993","expires_in":3600,` +
			`"refresh_token":"20120823ac6ffdsdf2d84e7384bf983531473993","re_expires_in":3600,"auth_start":"2010-11-11 11:11:11"}`
	default:
		io.WriteString(w, `{"error_response":{"code":"40004","msg":"Business Failed","sub_code":"isv.invalid-method"}}`)
		return
	}
	sign, err := signing.AlipaySign(payKeys.ali, []byte(member), signing.SignTypeRSA2)
	if err != nil {
		f.t.Error(err)
	}
	if f.tamper {
		// Changed on the way: an amount, a trade, a user, or only spacing
		// (which a verifier of the raw bytes notices too).
		member = strings.Replace(member, `"1.01"`, `"101.00"`, 1)
		member = strings.Replace(member, `"2024050122001400000000000001"`, `"2024050122001400000000000666"`, 1)
		member = strings.Replace(member, `"2088102150477652"`, `"2088102150470000"`, 1)
		member = strings.Replace(member, `":`, `": `, 1)
	}
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	fmt.Fprintf(w, `{%q:%s,"sign":%q}`, key, member, sign)
}

// payPKI is a test certificate authority with a server certificate for
// 127.0.0.1 and a merchant client certificate (CN = mch_id, as WeChat
// Pay issues them), the latter in a PKCS#12 file.
type payPKI struct {
	caPEM    string
	caPool   *x509.CertPool
	server   tls.Certificate
	pfxPath  string
	password string
}

func newPayPKI(t *testing.T, password string) *payPKI {
	t.Helper()
	newKey := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unicloud test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (*x509.Certificate, *rsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k
	}
	srvCert, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliCert, cliKey := issue(3, payWxMchID, x509.ExtKeyUsageClientAuth, nil)
	pfx, err := pkcs12.Modern.Encode(cliKey, cliCert, []*x509.Certificate{ca}, password)
	if err != nil {
		t.Fatal(err)
	}
	p := &payPKI{
		caPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		caPool:   x509.NewCertPool(),
		server:   tls.Certificate{Certificate: [][]byte{srvCert.Raw, caDER}, PrivateKey: srvKey},
		pfxPath:  filepath.Join(t.TempDir(), "apiclient_cert.p12"),
		password: password,
	}
	p.caPool.AddCert(ca)
	if err := os.WriteFile(p.pfxPath, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// mtlsServer serves h over TLS, requiring a client certificate of the CA.
func (p *payPKI) mtlsServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.caPool,
		MinVersion:   tls.VersionTLS12,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// payPost calls the gateway and decodes its JSON answer.
func payPost(t testing.TB, url, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: answer is not JSON (%d): %s", url, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// payStartFakes serves the fakes on loopback.
func payStartFakes(t *testing.T) (*payWxFake, *payAliFake, string, string) {
	wx := newPayWxFake(t)
	ali := newPayAliFake(t)
	wxSrv := httptest.NewServer(wx)
	t.Cleanup(wxSrv.Close)
	aliSrv := httptest.NewServer(ali)
	t.Cleanup(aliSrv.Close)
	return wx, ali, wxSrv.URL, aliSrv.URL
}

// payCaddyfile is a gateway with both providers, in front of the fakes.
func payCaddyfile(t *testing.T, addr, wxURL, aliURL, extraWx string) string {
	return payCaddyfileLog(t, "", addr, wxURL, aliURL, extraWx)
}

// payCaddyfileLog is payCaddyfile logging at DEBUG level to logFile, with
// the metrics handler on /metrics.
func payCaddyfileLog(t *testing.T, logFile, addr, wxURL, aliURL, extraWx string) string {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app_private_key.pem")
	if err := os.WriteFile(keyFile, []byte(payKeys.appPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return globalOptions(filepath.Join(dir, "storage"), logFile) + fmt.Sprintf(`
http://%s {
	handle /metrics {
		metrics
	}
	handle_path /pay/wxpay/* {
		unicloud_payment wxpay {
			app_id %s
			mch_id %s
			key {env.UNICLOUD_PAY_TEST_KEY}
			notify_url https://example.com/notify/wxpay
			endpoint %s
			timeout 5s
%s
		}
	}
	handle_path /pay/alipay/* {
		unicloud_payment alipay {
			app_id %s
			private_key {file.%s}
			key_type PKCS1
			alipay_public_key %s
			notify_url https://example.com/notify/alipay
			endpoint %s
		}
	}
	handle_path /ali/* {
		unicloud_openapi alipay {
			app_id %s
			private_key {file.%s}
			alipay_public_key %s
			endpoint %s
		}
	}
}
`, addr, payWxAppID, payWxMchID, wxURL, extraWx, payAliAppID, keyFile, payKeys.aliPubB64, aliURL,
		payAliAppID, keyFile, payKeys.aliPubB64, aliURL)
}

func num(v any) int64 {
	n, ok := v.(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -2
	}
	return i
}

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

// loadCaddyErr loads a config that is expected to fail.
func loadCaddyErr(t *testing.T, cf string) error {
	t.Helper()
	err := caddy.Load(adaptCaddyfile(t, cf), true)
	if err == nil {
		t.Cleanup(func() { _ = caddy.Stop() })
	}
	return err
}

func TestPaymentAlipay(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	_, ali, wxURL, aliURL := payStartFakes(t)
	addr := freeAddr(t)
	loadCaddy(t, payCaddyfile(t, addr, wxURL, aliURL, ""))
	base := "http://" + addr + "/pay/alipay/"

	t.Run("getOrderInfo mp-alipay", func(t *testing.T) {
		status, m := payPost(t, base+"getOrderInfo", `{"openid":"2088102146225135","subject":"订单标题","outTradeNo":"a-1","totalFee":101,"clientType":"mp-alipay","timeoutExpress":"90m"}`)
		info, _ := m["orderInfo"].(map[string]any)
		if status != 200 || num(m["errCode"]) != 0 || info["tradeNo"] != "2024050122001400000000000001" {
			t.Fatalf("%d %v", status, m)
		}
		form := ali.lastForm(alipay.MethodTradeCreate)
		var biz map[string]any
		json.Unmarshal([]byte(form.Get("biz_content")), &biz)
		if biz["total_amount"] != "1.01" || biz["buyer_id"] != "2088102146225135" || biz["subject"] != "订单标题" ||
			biz["out_trade_no"] != "a-1" || biz["timeout_express"] != "90m" || biz["total_fee"] != nil || biz["client_type"] != nil {
			t.Errorf("biz_content %v", biz)
		}
		if form.Get("notify_url") != "https://example.com/notify/alipay" || form.Get("app_id") != payAliAppID {
			t.Errorf("request %v", form)
		}
		_, m = payPost(t, base+"getOrderInfo", `{"openid":"074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5","subject":"s","outTradeNo":"a-2","totalFee":10}`)
		json.Unmarshal([]byte(ali.lastForm(alipay.MethodTradeCreate).Get("biz_content")), &biz)
		if biz["buyer_open_id"] != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" || biz["total_amount"] != "0.10" {
			t.Errorf("open_id payer: %v %v", m, biz)
		}
	})
	t.Run("getOrderInfo app-plus", func(t *testing.T) {
		status, m := payPost(t, base+"getOrderInfo", `{"subject":"大乐透","outTradeNo":"a-3","totalFee":123456,"clientType":"app-plus","notifyUrl":"https://example.com/n"}`)
		s, _ := m["orderInfo"].(string)
		q, err := url.ParseQuery(s)
		if status != 200 || err != nil || q.Get("method") != alipay.MethodTradeAppPay || q.Get("notify_url") != "https://example.com/n" {
			t.Fatalf("%d %v", status, m)
		}
		params := map[string]string{}
		for k := range q {
			params[k] = q.Get(k)
		}
		if err := signing.AlipayVerify(&payKeys.app.PublicKey, []byte(signing.AlipaySignContent(params, true)), params["sign"], "RSA2"); err != nil {
			t.Errorf("order string signature: %v", err)
		}
		var biz map[string]any
		json.Unmarshal([]byte(params["biz_content"]), &biz)
		if biz["total_amount"] != "1234.56" || biz["product_code"] != "QUICK_MSECURITY_PAY" {
			t.Errorf("biz_content %v", biz)
		}
		if ali.lastForm(alipay.MethodTradeAppPay) != nil {
			t.Error("app.pay went over the network")
		}
	})
	t.Run("getOrderInfo business failure", func(t *testing.T) {
		status, m := payPost(t, base+"getOrderInfo", `{"openid":"2088102146225135","subject":"s","outTradeNo":"already-paid","totalFee":1}`)
		if status != 200 || m["errCode"] != "ACQ.TRADE_HAS_SUCCESS" || m["errMsg"] != "交易已被支付" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("orderQuery", func(t *testing.T) {
		status, m := payPost(t, base+"orderQuery", `{"outTradeNo":"a-1"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 101 ||
			num(m["cashFee"]) != 101 || m["transactionId"] != "2024050122001400000000000001" || m["outTradeNo"] != "a-1" || num(m["buyerPayAmount"]) != 101 {
			t.Errorf("%d %v", status, m)
		}
		status, m = payPost(t, base+"orderQuery", `{"outTradeNo":"missing"}`)
		if status != 200 || m["errCode"] != "ACQ.TRADE_NOT_EXIST" || m["errMsg"] != "交易不存在" {
			t.Errorf("missing order: %d %v", status, m)
		}
	})
	t.Run("closeOrder and cancelOrder", func(t *testing.T) {
		for _, call := range []string{"closeOrder", "cancelOrder"} {
			status, m := payPost(t, base+call, `{"outTradeNo":"a-1"}`)
			if status != 200 || num(m["errCode"]) != 0 || m["transactionId"] != "2024050122001400000000000001" || m["outTradeNo"] != "a-1" {
				t.Errorf("%s: %d %v", call, status, m)
			}
		}
		status, m := payPost(t, base+"closeOrder", `{"transactionId":"2024050122001400000000000001"}`)
		var biz map[string]any
		json.Unmarshal([]byte(ali.lastForm(alipay.MethodTradeClose).Get("biz_content")), &biz)
		if status != 200 || biz["trade_no"] != "2024050122001400000000000001" {
			t.Errorf("close by trade_no: %d %v %v", status, m, biz)
		}
	})
	t.Run("refund", func(t *testing.T) {
		status, m := payPost(t, base+"refund", `{"outTradeNo":"a-1","outRefundNo":"ar-1","refundFee":100,"refundDesc":"用户退款"}`)
		if status != 200 || num(m["errCode"]) != 0 || num(m["refundFee"]) != 100 || num(m["cashRefundFee"]) != 100 || m["outRefundNo"] != "ar-1" {
			t.Errorf("%d %v", status, m)
		}
		var biz map[string]any
		json.Unmarshal([]byte(ali.lastForm(alipay.MethodTradeRefund).Get("biz_content")), &biz)
		if biz["refund_amount"] != "1.00" || biz["out_request_no"] != "ar-1" || biz["refund_reason"] != "用户退款" || biz["refund_fee"] != nil {
			t.Errorf("biz_content %v", biz)
		} // totalFee is optional for Alipay, but an amount like any other.
		for _, bad := range []string{`5.5`, `"abc"`, `-3`, `50`} {
			status, m := payPost(t, base+"refund", `{"outTradeNo":"a-1","outRefundNo":"ar-2","refundFee":100,"totalFee":`+bad+`}`)
			if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" || !strings.Contains(fmt.Sprint(m["errMsg"]), "totalFee") {
				t.Errorf("totalFee %s: %d %v", bad, status, m)
			}
		}
	})
	t.Run("refundQuery", func(t *testing.T) {
		status, m := payPost(t, base+"refundQuery", `{"outTradeNo":"a-1"}`)
		if status != 200 || num(m["totalFee"]) != 101 || num(m["refundFee"]) != 100 || m["outRefundNo"] != "a-1" || m["refundDesc"] != "用户退款" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			call, body string
			status     int
			code       string
		}{
			{"downloadBill", `{"billDate":"20141110"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
			{"downloadFundflow", `{"billDate":"20141110"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
			{"getOrderInfo", `{"subject":"s","outTradeNo":"o","totalFee":1,"clientType":"mp-weixin"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
			{"getOrderInfo", `{"subject":"s","outTradeNo":"o","totalFee":0.01,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"getOrderInfo", `{"subject":"s","outTradeNo":"o","totalAmount":"0.01","totalFee":1,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"getOrderInfo", `{"outTradeNo":"o","totalFee":1,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"getOrderInfo", `{"subject":"s","outTradeNo":"o","totalFee":1,"clientType":"mp-alipay"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"refund", `{"outTradeNo":"o"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"orderQuery", `{"outTradeNo":`, 400, "UNICLOUD_BAD_REQUEST"},
		} {
			status, m := payPost(t, base+tc.call, tc.body)
			if status != tc.status || m["errCode"] != tc.code {
				t.Errorf("%s %s: %d %v, want %d %s", tc.call, tc.body, status, m, tc.status, tc.code)
			}
		}
	})
	t.Run("bad answer signature", func(t *testing.T) {
		ali.tamper = true
		defer func() { ali.tamper = false }()
		for _, call := range []string{"orderQuery", "getOrderInfo"} {
			status, m := payPost(t, base+call, `{"outTradeNo":"a-1","subject":"s","totalFee":1,"openid":"2088102146225135"}`)
			if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" || m["totalFee"] != nil || m["orderInfo"] != nil {
				t.Errorf("%s: %d %v", call, status, m)
			}
		}
	})
}

func TestOpenAPIAlipayCode2Session(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	_, ali, wxURL, aliURL := payStartFakes(t)
	addr := freeAddr(t)
	loadCaddy(t, payCaddyfile(t, addr, wxURL, aliURL, ""))
	for _, p := range []string{"/ali/auth/code2Session", "/ali/auth.code2Session", "/ali/auth/getOpenid"} {
		status, m := payPost(t, "http://"+addr+p, `{"code":"4b203fe6c11548bcabd8da5bb087a83b"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["errMsg"] != "ok" || m["openid"] != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" ||
			m["userId"] != "2088102150477652" || m["accessToken"] != "20120823ac6ffaa4d2d84e7384bf983531473993" || num(m["expiresIn"]) != 3600 {
			t.Errorf("%s: %d %v", p, status, m)
		}
		if _, ok := m["openId"]; ok {
			t.Errorf("%s: openId next to openid: %v", p, m)
		}
	}
	form := ali.lastForm(alipay.MethodOAuthToken)
	if form.Get("grant_type") != "authorization_code" || form.Get("code") != "4b203fe6c11548bcabd8da5bb087a83b" || form.Get("app_id") != payAliAppID {
		t.Errorf("request %v", form)
	}
	status, m := payPost(t, "http://"+addr+"/ali/auth/code2Session", `{"code":"bad-code"}`)
	if status != 200 || m["errCode"] != "isv.code-invalid" || m["errMsg"] != "授权码code无效" {
		t.Errorf("bad code: %d %v", status, m)
	}
	status, m = payPost(t, "http://"+addr+"/ali/auth/code2Session", `{}`)
	if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" {
		t.Errorf("no code: %d %v", status, m)
	}
	status, m = payPost(t, "http://"+addr+"/ali/wxacode/get", `{}`)
	if status != 404 || m["errCode"] != "UNICLOUD_API_NOT_FOUND" {
		t.Errorf("unknown API: %d %v", status, m)
	}
	ali.tamper = true
	defer func() { ali.tamper = false }()
	status, m = payPost(t, "http://"+addr+"/ali/auth/code2Session", `{"code":"4b203fe6c11548bcabd8da5bb087a83b"}`)
	if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" || m["openid"] != nil || m["userId"] != nil {
		t.Errorf("tampered answer: %d %v", status, m)
	}
}

// payBackend is the demo backend behind unicloud_payment_notify: it keeps
// what it receives.
type payBackend struct {
	mu  sync.Mutex
	got []map[string]any
	hdr []http.Header
	ch  chan struct{}
}

func newPayBackend(t *testing.T) (*payBackend, string) {
	b := &payBackend{ch: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.got = append(b.got, m)
		b.hdr = append(b.hdr, r.Header.Clone())
		b.mu.Unlock()
		b.ch <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return b, strings.TrimPrefix(srv.URL, "http://")
}

// next waits for the next notification the backend receives.
func (b *payBackend) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case <-b.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend received nothing")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[len(b.got)-1]
}

// TestPaymentFlowThroughEmulator is the offline example's flow: the
// gateway places an order with the emulator, the emulator is told to pay
// it and sends the signed notification to the gateway's notify route,
// which verifies it and hands clean JSON to the backend.
func TestPaymentFlowThroughEmulator(t *testing.T) {
	payRSAKeys(t)
	backend, backendAddr := newPayBackend(t)
	dir := t.TempDir()
	files := map[string]string{
		"app_private_key.pem":    payKeys.appPEM,
		"app_public_key.pem":     pubPEMOf(&payKeys.app.PublicKey),
		"alipay_private_key.pem": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(payKeys.ali)})),
		"alipay_public_key.pem":  pubPEMOf(&payKeys.ali.PublicKey),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	emu, gw := freeAddr(t), freeAddr(t)
	cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		wxpay_merchant %[3]s %[4]s
		alipay_app %[5]s {file.%[6]s/app_public_key.pem} {file.%[6]s/alipay_private_key.pem}
	}
}

http://%[2]s {
	handle_path /pay/wxpay/* {
		unicloud_payment wxpay {
			app_id %[8]s
			mch_id %[3]s
			key %[4]s
			notify_url http://%[2]s/notify/wxpay
			endpoint http://%[1]s
		}
	}
	handle_path /pay/alipay/* {
		unicloud_payment alipay {
			app_id %[5]s
			private_key {file.%[6]s/app_private_key.pem}
			key_type PKCS1
			alipay_public_key {file.%[6]s/alipay_public_key.pem}
			notify_url http://%[2]s/notify/alipay
			endpoint http://%[1]s/gateway.do
		}
	}
	route /notify/wxpay {
		unicloud_payment_notify wxpay {
			app_id %[8]s
			mch_id %[3]s
			key %[4]s
		}
		reverse_proxy %[7]s
	}
	route /notify/alipay {
		unicloud_payment_notify alipay {
			app_id %[5]s
			alipay_public_key {file.%[6]s/alipay_public_key.pem}
		}
		reverse_proxy %[7]s
	}
}
`, emu, gw, payWxMchID, payWxKey, payAliAppID, dir, backendAddr, payWxAppID)
	loadCaddy(t, cf)
	base := "http://" + gw

	hook := func(t *testing.T, u string, form url.Values) map[string]any {
		t.Helper()
		resp, err := testClient.PostForm(u, form)
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

	t.Run("wxpay", func(t *testing.T) {
		status, m := payPost(t, base+"/pay/wxpay/getOrderInfo", `{"openid":"oFlow1","body":"demo","outTradeNo":"flow-wx-1","totalFee":88,"clientType":"mp-weixin"}`)
		if status != 200 || num(m["errCode"]) != 0 {
			t.Fatalf("getOrderInfo: %d %v", status, m)
		}
		_, m = payPost(t, base+"/pay/wxpay/orderQuery", `{"outTradeNo":"flow-wx-1"}`)
		if m["tradeState"] != "NOTPAY" {
			t.Errorf("before paying: %v", m)
		}
		res := hook(t, "http://"+emu+"/_emulator/wxpay/pay?out_trade_no=flow-wx-1", nil)
		if num(res["notify_status"]) != 200 || !strings.Contains(fmt.Sprint(res["notify_answer"]), "<return_code><![CDATA[SUCCESS]]></return_code>") {
			t.Errorf("pay: %v", res)
		}
		got := backend.next(t)
		if got["provider"] != "wxpay" || got["type"] != "payment" || got["outTradeNo"] != "flow-wx-1" || num(got["totalFee"]) != 88 ||
			got["openid"] != "oFlow1" || got["tradeState"] != "SUCCESS" || got["transactionId"] != res["transaction_id"] {
			t.Errorf("backend received %v", got)
		}
		_, m = payPost(t, base+"/pay/wxpay/orderQuery", `{"outTradeNo":"flow-wx-1"}`)
		if m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 88 {
			t.Errorf("after paying: %v", m)
		}
		// A refund without the merchant certificate is refused by the
		// gateway; the emulator's own refund path is tested in emulator/.
		status, m = payPost(t, base+"/pay/wxpay/refund", `{"outTradeNo":"flow-wx-1","outRefundNo":"flow-wr-1","totalFee":88,"refundFee":88}`)
		if status != 400 || m["errCode"] != "UNICLOUD_NOT_SUPPORTED" {
			t.Errorf("refund without pfx: %d %v", status, m)
		}
		status, m = payPost(t, base+"/pay/wxpay/downloadBill", `{"billDate":"`+time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")+`"}`)
		if status != 200 || !strings.Contains(fmt.Sprint(m["content"]), "`flow-wx-1,") {
			t.Errorf("bill: %d %v", status, m)
		}
	})
	t.Run("alipay mini-program", func(t *testing.T) {
		status, m := payPost(t, base+"/pay/alipay/getOrderInfo", `{"openid":"2088102146225135","subject":"demo","outTradeNo":"flow-ali-1","totalFee":1234,"clientType":"mp-alipay"}`)
		info, _ := m["orderInfo"].(map[string]any)
		if status != 200 || info["tradeNo"] == nil {
			t.Fatalf("getOrderInfo: %d %v", status, m)
		}
		res := hook(t, "http://"+emu+"/_emulator/alipay/pay", url.Values{"out_trade_no": {"flow-ali-1"}})
		if num(res["notify_status"]) != 200 || res["notify_answer"] != "success" || res["transaction_id"] != info["tradeNo"] {
			t.Errorf("pay: %v", res)
		}
		got := backend.next(t)
		if got["provider"] != "alipay" || got["type"] != "payment" || got["outTradeNo"] != "flow-ali-1" || num(got["totalFee"]) != 1234 ||
			got["tradeState"] != "SUCCESS" || got["transactionId"] != info["tradeNo"] {
			t.Errorf("backend received %v", got)
		}
		_, m = payPost(t, base+"/pay/alipay/orderQuery", `{"outTradeNo":"flow-ali-1"}`)
		if m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 1234 || num(m["cashFee"]) != 1234 {
			t.Errorf("after paying: %v", m)
		}
		status, m = payPost(t, base+"/pay/alipay/refund", `{"outTradeNo":"flow-ali-1","outRefundNo":"flow-ar-1","refundFee":34}`)
		if status != 200 || num(m["refundFee"]) != 34 {
			t.Errorf("refund: %d %v", status, m)
		}
		got = backend.next(t)
		if got["type"] != "refund" || num(got["refundFee"]) != 34 || got["outTradeNo"] != "flow-ali-1" {
			t.Errorf("backend received %v", got)
		}
		status, m = payPost(t, base+"/pay/alipay/refundQuery", `{"outTradeNo":"flow-ali-1","outRefundNo":"flow-ar-1"}`)
		if status != 200 || num(m["refundFee"]) != 34 || num(m["totalFee"]) != 1234 {
			t.Errorf("refundQuery: %d %v", status, m)
		}
	})
	t.Run("alipay app", func(t *testing.T) {
		status, m := payPost(t, base+"/pay/alipay/getOrderInfo", `{"subject":"demo","outTradeNo":"flow-ali-2","totalFee":5}`, "X-Unicloud-Client-Type", "app-plus")
		s, _ := m["orderInfo"].(string)
		if status != 200 || s == "" {
			t.Fatalf("getOrderInfo: %d %v", status, m)
		}
		res := hook(t, "http://"+emu+"/_emulator/alipay/pay", url.Values{"order_string": {s}})
		if num(res["notify_status"]) != 200 {
			t.Errorf("pay: %v", res)
		}
		if got := backend.next(t); got["outTradeNo"] != "flow-ali-2" || num(got["totalFee"]) != 5 {
			t.Errorf("backend received %v", got)
		}
		_, m = payPost(t, base+"/pay/alipay/closeOrder", `{"outTradeNo":"flow-ali-2"}`)
		if m["errCode"] != "ACQ.TRADE_STATUS_ERROR" {
			t.Errorf("closing a paid trade: %v", m)
		}
		_, m = payPost(t, base+"/pay/alipay/cancelOrder", `{"outTradeNo":"flow-ali-2"}`)
		if num(m["errCode"]) != 0 || m["action"] != "refund" {
			t.Errorf("cancel: %v", m)
		}
	})
}

func pubPEMOf(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
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
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	addr := freeAddr(t)
	cf := payCaddyfile(t, addr, slow.URL, slow.URL, "\t\t\ttimeout 200ms")
	cf = strings.Replace(cf, "\t\t\tendpoint "+slow.URL+"\n\t\t}\n\t}\n\thandle_path /ali/*", "\t\t\tendpoint "+slow.URL+"\n\t\t\ttimeout 200ms\n\t\t}\n\t}\n\thandle_path /ali/*", 1)
	loadCaddy(t, cf)
	for _, p := range []string{"/pay/wxpay/orderQuery", "/pay/alipay/orderQuery"} {
		start := time.Now()
		status, m := payPost(t, "http://"+addr+p, `{"outTradeNo":"o-1"}`)
		if status != 504 || m["errCode"] != "UNICLOUD_UPSTREAM_TIMEOUT" || time.Since(start) > 900*time.Millisecond {
			t.Errorf("%s: %d %v after %v", p, status, m, time.Since(start))
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
