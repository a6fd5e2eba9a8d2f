package unicloud

import (
	"bytes"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	payWxAppID  = "wx2421b1c4370ec43b"
	payWxMchID  = "10000100"
	payWxKey    = "pay-test-apiv2-key-0123456789abc"
	payAliAppID = "2021000117600000"
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

// payWxEmu is WeChat Pay v2 for the payment tests: the emulator (written
// apart from the gateway) with a recorder of what it received and a switch
// that has its answers signed with a key that is not the merchant's.
type payWxEmu struct {
	emu *emulator.Server
	rec emulator.Recorder
	bad atomic.Bool
}

// newPayWxEmu is the emulator with the payment tests' merchant;
// requireCert makes refunds and fund-flow bills require the merchant's
// client certificate.
func newPayWxEmu(requireCert bool) *payWxEmu {
	e := &payWxEmu{}
	e.emu = emulator.New(emulator.Config{
		WxpayMerchants: []emulator.WxpayMerchant{{MchID: payWxMchID, Key: payWxKey, RequireCert: requireCert}},
		Record:         e.rec.Record,
		BadSignature:   func(*http.Request) bool { return e.bad.Load() },
	})
	return e
}

// lastReq is the document WeChat Pay last received at path (nil for none).
func (e *payWxEmu) lastReq(path string) map[string]string {
	r, ok := e.rec.Last(path)
	if !ok {
		return nil
	}
	return r.Fields()
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

// payStartFakes serves WeChat Pay (the emulator) and the Alipay fake on
// loopback.
func payStartFakes(t *testing.T) (*payWxEmu, *payAliFake, string, string) {
	wx := newPayWxEmu(false)
	ali := newPayAliFake(t)
	wxSrv := httptest.NewServer(wx.emu)
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
			notify_url http://127.0.0.1:1/notify/wxpay
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

// loadCaddyErr loads a config that is expected to fail.
func loadCaddyErr(t *testing.T, cf string) error {
	t.Helper()
	err := caddy.Load(adaptCaddyfile(t, cf), true)
	if err == nil {
		t.Cleanup(func() { _ = caddy.Stop() })
	}
	return err
}

func pubPEMOf(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
