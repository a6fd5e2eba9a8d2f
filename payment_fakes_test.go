package unicloud

import (
	"context"
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

// payAliEmu is Alipay for the payment and login tests: the emulator's
// gateway for the test app (it checks each request's RSA2 signature with
// the app's public key and signs its answers with the stand-in Alipay
// key), a recorder of what it received, and a man in the middle that,
// when tamper is set, changes the signed member of each answer.
type payAliEmu struct {
	emu    *emulator.Server
	rec    emulator.Recorder
	tamper atomic.Bool
}

func newPayAliEmu(t testing.TB) *payAliEmu {
	payRSAKeys(t)
	e := &payAliEmu{}
	e.emu = emulator.New(emulator.Config{
		AlipayApps: []emulator.AlipayApp{{AppID: payAliAppID, AppPublicKey: pubPEMOf(&payKeys.app.PublicKey),
			AlipayPrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(payKeys.ali)}))}},
		Record: e.rec.Record,
	})
	return e
}

// lastForm is the last request the gateway received for method (nil for
// none).
func (e *payAliEmu) lastForm(method string) url.Values {
	all := e.rec.Requests("/gateway.do")
	for i := len(all) - 1; i >= 0; i-- {
		if f := all[i].Form(); f.Get("method") == method {
			return f
		}
	}
	return nil
}

// pay pays the trade outTradeNo (its notification goes to the order's
// notify_url, which no test listens on).
func (e *payAliEmu) pay(t *testing.T, outTradeNo string) {
	t.Helper()
	if _, err := e.emu.PayAlipayOrder(context.Background(), payAliAppID, outTradeNo, ""); err != nil {
		t.Fatal(err)
	}
}

func (e *payAliEmu) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !e.tamper.Load() {
		e.emu.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	e.emu.ServeHTTP(rec, r)
	body := rec.Body.String()
	// Changed on the way, inside the signed member: an amount, or only
	// spacing (which a verifier of the raw bytes notices too).
	if i := strings.Index(body, `":{`); i >= 0 {
		member := body[i+2:]
		if strings.Contains(member, `_amount":"`) {
			member = strings.Replace(member, `_amount":"`, `_amount":"9`, 1)
		} else {
			member = strings.Replace(member, `":"`, `": "`, 1)
		}
		body = body[:i+2] + member
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	io.WriteString(w, body)
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
	r := testSend(t, http.MethodPost, url, headerPairs("application/json", header...), []byte(body))
	m, err := jsonNumbers(r.Body)
	if err != nil {
		t.Fatalf("%s: answer is not JSON (%d): %s", url, r.Status, r.Body)
	}
	return r.Status, m
}

// payStartFakes serves WeChat Pay and Alipay (the emulator's) on loopback:
// the URLs are the endpoints the gateway is configured with.
func payStartFakes(t *testing.T) (*payWxEmu, *payAliEmu, string, string) {
	wx := newPayWxEmu(false)
	ali := newPayAliEmu(t)
	wxSrv := httptest.NewServer(wx.emu)
	t.Cleanup(wxSrv.Close)
	aliSrv := httptest.NewServer(ali)
	t.Cleanup(aliSrv.Close)
	return wx, ali, wxSrv.URL, aliSrv.URL + "/gateway.do"
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
			notify_url http://127.0.0.1:1/notify/alipay
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
