package unicloud

// Acceptance checks of Alipay's certificate mode: the SNs every request
// carries, answers signed by another certificate, the configurations that
// cannot work.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/emulator"
)

// ---------------------------------------------------------------------------
// §5b: the Alipay setup (certificate mode).

const qaAliAESKey2 = "AAECAwQFBgcICQoLDA0ODw==" // another 16-byte key

type qaAli struct {
	base        string
	emu         string
	proxy       *qaProxy
	pki         string
	dir         string
	logFile     string
	backend     *payBackend
	backendAddr string
	emuExtra    string // more unicloud_emulator options

	appCertSN, alipayCertSN, rootCertSN string
	alipayCert                          *x509.Certificate
	alipayKey                           *rsa.PrivateKey // the emulated Alipay's, from the test PKI
}

// qaCertBlocks reads every certificate of a PEM file, skipping entries
// that do not parse.
func qaCertBlocks(t *testing.T, path string) (certs []*x509.Certificate, blocks int) {
	t.Helper()
	rest := mustReadFile(t, path)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return certs, blocks
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		blocks++
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
}

var qaAttrShort = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "STREET",
	"2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "SERIALNUMBER", "1.2.840.113549.1.9.1": "EMAILADDRESS",
}

// qaCertSN is Alipay's SN: md5(issuer attributes in reverse order, SHORT=value,
// joined by ",", followed by the serial in base 10), lowercase hex.
func qaCertSN(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(c.RawIssuer, &rdns); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for i := len(rdns) - 1; i >= 0; i-- {
		for _, atv := range rdns[i] {
			name := qaAttrShort[atv.Type.String()]
			if name == "" {
				name = atv.Type.String()
			}
			parts = append(parts, name+"="+fmt.Sprint(atv.Value))
		}
	}
	sum := md5.Sum([]byte(strings.Join(parts, ",") + c.SerialNumber.Text(10)))
	return hex.EncodeToString(sum[:])
}

func qaRSASigned(c *x509.Certificate) bool {
	switch c.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS:
		return true
	}
	return false
}

func qaAliCaddyfile(a *qaAli, gw string) string {
	certs := fmt.Sprintf(`app_cert {file.%[1]s/%[2]s}
			alipay_cert {file.%[1]s/%[3]s}
			alipay_root_cert {file.%[1]s/%[4]s}`, a.pki, emulator.AlipayAppCertFile(payAliAppID), emulator.AlipayCertFile, emulator.AlipayRootCertFile)
	openapi := func(extra string) string {
		return fmt.Sprintf(`unicloud_openapi alipay {
			app_id %s
			private_key {file.%s/app_private_key.pem}
			key_type PKCS1
			%s
			endpoint %s/gateway.do
			%s
		}`, payAliAppID, a.dir, certs, a.proxy.url, extra)
	}
	return globalOptions(filepath.Join(a.dir, "storage"), a.logFile) + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		alipay_app %[3]s {file.%[4]s/app_public_key.pem}
		alipay_test_pki %[5]s
		%[12]s
	}
}

http://%[2]s {
	handle_path /ali/* {
		%[6]s
	}
	handle_path /aliexp/* {
		%[7]s
	}
	handle_path /alikey2/* {
		%[8]s
	}
	handle_path /pay/alipay/* {
		unicloud_payment alipay {
			app_id %[3]s
			private_key {file.%[4]s/app_private_key.pem}
			key_type PKCS1
			%[9]s
			notify_url http://%[2]s/notify/alipay
			endpoint %[10]s/gateway.do
		}
	}
	route /notify/alipay {
		unicloud_payment_notify alipay {
			app_id %[3]s
			%[9]s
		}
		reverse_proxy %[11]s
	}
}
`, a.emu, gw, payAliAppID, a.dir, a.pki, openapi("aes_key "+testAliAESKey), openapi("aes_key "+testAliAESKey+"\n\t\t\texpose_auth_token"),
		openapi("aes_key "+qaAliAESKey2), certs, a.proxy.url, a.backendAddr, a.emuExtra)
}

func qaStartAlipay(t *testing.T) *qaAli {
	t.Helper()
	payRSAKeys(t)
	a := &qaAli{dir: t.TempDir()}
	a.pki = filepath.Join(a.dir, "pki")
	a.logFile = filepath.Join(a.dir, "caddy.log")
	a.backend, a.backendAddr = newPayBackend(t)
	qaWriteFile(t, filepath.Join(a.dir, "app_private_key.pem"), payKeys.appPEM)
	qaWriteFile(t, filepath.Join(a.dir, "app_public_key.pem"), pubPEMOf(&payKeys.app.PublicKey))
	a.emu = freeAddr(t)
	gw := freeAddr(t)
	a.proxy = newQAProxy(t, a.emu)
	loadCaddy(t, qaAliCaddyfile(a, gw))
	a.base = "http://" + gw

	appCerts, _ := qaCertBlocks(t, filepath.Join(a.pki, emulator.AlipayAppCertFile(payAliAppID)))
	aliCerts, _ := qaCertBlocks(t, filepath.Join(a.pki, emulator.AlipayCertFile))
	roots, _ := qaCertBlocks(t, filepath.Join(a.pki, emulator.AlipayRootCertFile))
	if len(appCerts) == 0 || len(aliCerts) == 0 || len(roots) == 0 {
		t.Fatal("the emulator's test PKI is incomplete")
	}
	a.appCertSN, a.alipayCertSN, a.alipayCert = qaCertSN(t, appCerts[0]), qaCertSN(t, aliCerts[0]), aliCerts[0]
	var sns []string
	for _, c := range roots {
		if qaRSASigned(c) {
			sns = append(sns, qaCertSN(t, c))
		}
	}
	a.rootCertSN = strings.Join(sns, "_")
	if b, _ := pem.Decode(mustReadFile(t, filepath.Join(a.pki, "emulator_alipay_private_key.pem"))); b != nil {
		if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			a.alipayKey = k
		} else if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			a.alipayKey, _ = k.(*rsa.PrivateKey)
		}
	}
	if a.alipayKey == nil || !a.alipayKey.PublicKey.Equal(a.alipayCert.PublicKey) {
		t.Fatal("the emulator's Alipay key is not its certificate's")
	}
	return a
}

// qaAliSignContent is the string Alipay signs: every parameter but sign
// (and those in drop), with a value, sorted, k=v joined by &.
func qaAliSignContent(params map[string]string, drop ...string) string {
	var ks []string
outer:
	for k, v := range params {
		if k == "sign" || v == "" {
			continue
		}
		for _, d := range drop {
			if k == d {
				continue outer
			}
		}
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k + "=" + params[k]
	}
	return strings.Join(parts, "&")
}

func qaRSAVerify(pub *rsa.PublicKey, content, sigB64, signType string) error {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return err
	}
	if signType == "RSA" {
		d := sha1.Sum([]byte(content))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, d[:], sig)
	}
	d := sha256.Sum256([]byte(content))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
}

func qaRSASign(t *testing.T, key *rsa.PrivateKey, content, signType string) string {
	t.Helper()
	var sig []byte
	var err error
	if signType == "RSA" {
		d := sha1.Sum([]byte(content))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256([]byte(content))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func qaFlat(v url.Values) map[string]string {
	m := map[string]string{}
	for k := range v {
		m[k] = v.Get(k)
	}
	return m
}

// checkCertRequest checks a request's certificate-mode parameters and
// its RSA2 signature with the app's key.
func (a *qaAli) checkCertRequest(t *testing.T, what string, params map[string]string) {
	t.Helper()
	if params["app_cert_sn"] != a.appCertSN || params["alipay_root_cert_sn"] != a.rootCertSN {
		t.Errorf("%s: app_cert_sn %q alipay_root_cert_sn %q, want %q and %q", what, params["app_cert_sn"], params["alipay_root_cert_sn"], a.appCertSN, a.rootCertSN)
	}
	if params["sign_type"] != "RSA2" {
		t.Errorf("%s: sign_type %q", what, params["sign_type"])
	}
	if err := qaRSAVerify(&payKeys.app.PublicKey, qaAliSignContent(params), params["sign"], "RSA2"); err != nil {
		t.Errorf("%s: the sign does not verify over every parameter but sign (SNs included): %v", what, err)
	}
}

// TestAcceptanceAlipayCertSNs: the emulator's test PKI has the three files (the
// root bundle with an RSA and a non-RSA root); every gateway call carries
// app_cert_sn and alipay_root_cert_sn, computed as Alipay's SDKs do,
// inside the signed string; the emulator answers with alipay_cert_sn.
func TestAcceptanceAlipayCertSNs(t *testing.T) {
	a := qaStartAlipay(t)
	roots, blocks := qaCertBlocks(t, filepath.Join(a.pki, emulator.AlipayRootCertFile))
	if blocks < 2 || strings.Count(a.rootCertSN, "_") != 0 || len(roots) < 2 {
		t.Errorf("root bundle: %d entries, root SN %q; want an RSA and an ECDSA root, one SN", blocks, a.rootCertSN)
	}
	if aliCerts, _ := qaCertBlocks(t, filepath.Join(a.pki, emulator.AlipayCertFile)); len(aliCerts) != 2 {
		t.Errorf("%s holds %d certificates, want the Alipay certificate then its issuer", emulator.AlipayCertFile, len(aliCerts))
	}

	status, m, raw := qaPost(t, a.base+"/ali/auth/code2Session", `{"code":"qa-sn-user"}`)
	qaWant(t, "code2Session", status, m, raw, 200, 0)
	e := a.proxy.alipayCalls("alipay.system.oauth.token")
	if len(e) != 1 {
		t.Fatalf("%d oauth.token calls", len(e))
	}
	p := qaFlat(e[0].Form)
	a.checkCertRequest(t, "alipay.system.oauth.token", p)
	if p["grant_type"] != "authorization_code" || p["code"] != "qa-sn-user" || p["app_id"] != payAliAppID || p["charset"] == "" {
		t.Errorf("oauth.token parameters %v", qaRedact(e[0].Form))
	}
	if got := qaJSONField(e[0].RespBody, "alipay_cert_sn"); got != a.alipayCertSN {
		t.Errorf("the emulator answered alipay_cert_sn %q, want %q", got, a.alipayCertSN)
	}

	status, m, raw = qaPost(t, a.base+"/pay/alipay/getOrderInfo", `{"subject":"qa","outTradeNo":"qa-sn-native","totalFee":10,"clientType":"native"}`)
	if qaWant(t, "native", status, m, raw, 200, 0) {
		pre := a.proxy.alipayCalls("alipay.trade.precreate")
		if len(pre) != 1 {
			t.Fatalf("%d precreate calls", len(pre))
		}
		a.checkCertRequest(t, "alipay.trade.precreate", qaFlat(pre[0].Form))
		info, _ := m["orderInfo"].(map[string]any)
		if qr := qaJSONField(pre[0].RespBody, "alipay_trade_precreate_response", "qr_code"); qr == "" || qaStr(info, "qrCode") != qr || len(info) != 1 || m["outTradeNo"] != "qa-sn-native" {
			t.Errorf("native answer %s, Alipay's qr_code %q", raw, qr)
		}
		var biz map[string]any
		_ = json.Unmarshal([]byte(pre[0].Form.Get("biz_content")), &biz)
		if biz["total_amount"] != "0.10" || biz["out_trade_no"] != "qa-sn-native" || biz["subject"] != "qa" {
			t.Errorf("precreate biz_content %v", biz)
		}
	}

	// The app order string, built locally, carries the SNs inside its sign.
	before := a.proxy.count("")
	status, m, raw = qaPost(t, a.base+"/pay/alipay/getOrderInfo", `{"subject":"qa","outTradeNo":"qa-sn-app","totalFee":100,"clientType":"app-plus"}`)
	if qaWant(t, "app-plus", status, m, raw, 200, 0) {
		s, _ := m["orderInfo"].(string)
		q, err := url.ParseQuery(s)
		if err != nil {
			t.Fatalf("app order string %q: %v", s, err)
		}
		p := qaFlat(q)
		a.checkCertRequest(t, "app order string", p)
		var biz map[string]any
		_ = json.Unmarshal([]byte(p["biz_content"]), &biz)
		if p["method"] != "alipay.trade.app.pay" || biz["product_code"] != "QUICK_MSECURITY_PAY" || biz["total_amount"] != "1.00" {
			t.Errorf("app order string %v", p)
		}
	}
	if n := a.proxy.count("") - before; n != 0 {
		t.Errorf("app-plus made %d gateway calls, want none", n)
	}
}

// TestAcceptanceAlipayCertAnswerChecks: a correctly signed answer whose
// alipay_cert_sn is not the configured certificate's is refused (502
// UNICLOUD_UPSTREAM_BAD_SIGNATURE, the SN received logged); one without
// alipay_cert_sn is verified with the configured certificate and used; an
// answer whose *_response bytes changed is refused.
func TestAcceptanceAlipayCertAnswerChecks(t *testing.T) {
	a := qaStartAlipay(t)
	snRE := regexp.MustCompile(`"alipay_cert_sn":"[^"]*"`)
	const bogus = "0123456789abcdef0123456789abcdef"
	code := 0
	next := func() string { code++; return fmt.Sprintf(`{"code":"qa-ans-%d"}`, code) }

	a.proxy.set(nil, func(e *qaExchange, body []byte) []byte {
		return snRE.ReplaceAll(body, []byte(`"alipay_cert_sn":"`+bogus+`"`))
	})
	status, m, raw := qaPost(t, a.base+"/ali/auth/code2Session", next())
	if qaWant(t, "another alipay_cert_sn", status, m, raw, 502, "UNICLOUD_UPSTREAM_BAD_SIGNATURE") && m["openid"] != nil {
		t.Errorf("a refused answer leaks its content: %s", raw)
	}
	status, m, raw = qaPost(t, a.base+"/pay/alipay/getOrderInfo", `{"subject":"qa","outTradeNo":"qa-ans-native","totalFee":10,"clientType":"native"}`)
	if qaWant(t, "precreate, another alipay_cert_sn", status, m, raw, 502, "UNICLOUD_UPSTREAM_BAD_SIGNATURE") && m["orderInfo"] != nil {
		t.Errorf("a refused precreate answers an orderInfo: %s", raw)
	}
	logs, _ := os.ReadFile(a.logFile)
	if !bytes.Contains(logs, []byte(bogus)) {
		t.Errorf("no log line names the SN received (%s)", bogus)
	}
	qaNoneOf(t, "the log", logs, testAliAESKey, strings.TrimSpace(strings.Split(payKeys.appPEM, "\n")[1]))

	a.proxy.set(nil, func(e *qaExchange, body []byte) []byte {
		out := snRE.ReplaceAll(body, nil)
		out = bytes.ReplaceAll(out, []byte(",,"), []byte(","))
		out = bytes.ReplaceAll(out, []byte(",}"), []byte("}"))
		return bytes.ReplaceAll(out, []byte("{,"), []byte("{"))
	})
	status, m, raw = qaPost(t, a.base+"/ali/auth/code2Session", next())
	if qaWant(t, "no alipay_cert_sn", status, m, raw, 200, 0) && qaStr(m, "openid") == "" {
		t.Errorf("no alipay_cert_sn: %s", raw)
	}
	if e := a.proxy.alipayCalls("alipay.system.oauth.token"); bytes.Contains(e[len(e)-1].RespBody, []byte("alipay_cert_sn")) {
		t.Fatal("the proxy did not remove alipay_cert_sn")
	}

	a.proxy.set(nil, func(e *qaExchange, body []byte) []byte {
		return bytes.Replace(body, []byte(`"user_id":"2088`), []byte(`"user_id":"2089`), 1)
	})
	status, m, raw = qaPost(t, a.base+"/ali/auth/code2Session", next())
	qaWant(t, "changed response bytes", status, m, raw, 502, "UNICLOUD_UPSTREAM_BAD_SIGNATURE")
	a.proxy.set(nil, nil)
}

// TestAcceptanceAlipayConfig: certificate-mode configurations that must not load
// (message naming the subdirective), and those that must.
func TestAcceptanceAlipayConfig(t *testing.T) {
	payRSAKeys(t)
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	qaWriteFile(t, filepath.Join(dir, "app_private_key.pem"), payKeys.appPEM)
	qaWriteFile(t, filepath.Join(dir, "app_public_key.pem"), pubPEMOf(&payKeys.app.PublicKey))
	// Reading the emulator's Caddyfile writes its test PKI.
	adaptCaddyfile(t, globalOptions(filepath.Join(dir, "storage"), "")+fmt.Sprintf(`
http://127.0.0.1:1 {
	unicloud_emulator {
		alipay_app %s {file.%s/app_public_key.pem}
		alipay_test_pki %s
	}
}
`, payAliAppID, dir, pki))
	appCert := filepath.Join(pki, emulator.AlipayAppCertFile(payAliAppID))
	aliCert := filepath.Join(pki, emulator.AlipayCertFile)
	rootCert := filepath.Join(pki, emulator.AlipayRootCertFile)

	// Extra files: a public key where a certificate belongs, a self-signed
	// "Alipay" certificate, an ECDSA-only root bundle, a bundle with an entry
	// that does not parse, and the app certificate file with its two
	// certificates swapped.
	qaWriteFile(t, filepath.Join(dir, "pubkey.crt"), pubPEMOf(&payKeys.app.PublicKey))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	qaWriteFile(t, filepath.Join(dir, "self_signed.crt"), selfSignedPEM(t, other))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "qa ec root"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	if err != nil {
		t.Fatal(err)
	}
	qaWriteFile(t, filepath.Join(dir, "ec_root.crt"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	junk := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not a certificate at all")})
	qaWriteFile(t, filepath.Join(dir, "root_with_junk.crt"), string(junk)+string(mustReadFile(t, rootCert)))
	var swapped []byte
	rest := mustReadFile(t, appCert)
	var blocks [][]byte
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, pem.EncodeToMemory(b))
	}
	for i := len(blocks) - 1; i >= 0; i-- {
		swapped = append(swapped, blocks[i]...)
	}
	qaWriteFile(t, filepath.Join(dir, "app_swapped.crt"), string(swapped))

	f := func(p string) string { return "{file." + p + "}" }
	good := map[string]string{"app_cert": f(appCert), "alipay_cert": f(aliCert), "alipay_root_cert": f(rootCert)}
	cfg := func(directive string, set map[string]string) string {
		var lines []string
		for _, k := range []string{"app_cert", "alipay_cert", "alipay_root_cert", "alipay_public_key"} {
			if v, ok := set[k]; ok {
				lines = append(lines, k+" "+v)
			}
		}
		inner := fmt.Sprintf("app_id %s\n\t\tprivate_key {file.%s/app_private_key.pem}\n\t\tkey_type PKCS1\n\t\tendpoint http://127.0.0.1:1/gateway.do", payAliAppID, dir)
		if directive == "unicloud_payment_notify alipay" {
			inner = "app_id " + payAliAppID
		}
		return globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://127.0.0.1:1 {
	route {
		%s {
		%s
		%s
		}
		respond 204
	}
}
`, directive, inner, strings.Join(lines, "\n\t\t"))
	}
	with := func(changes map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	pubKey := f(filepath.Join(dir, "app_public_key.pem"))
	for _, d := range []string{"unicloud_openapi alipay", "unicloud_payment alipay", "unicloud_payment_notify alipay"} {
		for _, tc := range []struct {
			name    string
			set     map[string]string
			refused string // "" for a config that loads
		}{
			{"all three", good, ""},
			{"with alipay_public_key too", with(map[string]string{"alipay_public_key": pubKey}), "alipay_public_key"},
			{"a public key as alipay_cert", with(map[string]string{"alipay_cert": f(filepath.Join(dir, "pubkey.crt"))}), "alipay_cert"},
			{"alipay_cert not from the root", with(map[string]string{"alipay_cert": f(filepath.Join(dir, "self_signed.crt"))}), "alipay_cert"},
			{"a root bundle without an RSA certificate", with(map[string]string{"alipay_root_cert": f(filepath.Join(dir, "ec_root.crt"))}), "alipay_root_cert"},
			{"a root bundle with an entry that does not parse", with(map[string]string{"alipay_root_cert": f(filepath.Join(dir, "root_with_junk.crt"))}), ""},
		} {
			err := qaValidate(t, cfg(d, tc.set))
			if tc.refused == "" && err != nil {
				t.Errorf("%s, %s: %v, want it to load", d, tc.name, err)
			}
			if tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)) {
				t.Errorf("%s, %s: %v, want a refusal naming %s", d, tc.name, err, tc.refused)
			}
		}
	}
	for _, d := range []string{"unicloud_openapi alipay", "unicloud_payment alipay"} {
		for _, tc := range []struct {
			name, refused string
			set           map[string]string
		}{
			{"no alipay_root_cert", "alipay_root_cert", with(map[string]string{"alipay_root_cert": ""})},
			{"no app_cert", "app_cert", with(map[string]string{"app_cert": ""})},
			{"the app certificate file's issuer first", "app_cert", with(map[string]string{"app_cert": f(filepath.Join(dir, "app_swapped.crt"))})},
			{"a public key as app_cert", "app_cert", with(map[string]string{"app_cert": f(filepath.Join(dir, "pubkey.crt"))})},
		} {
			if err := qaValidate(t, cfg(d, tc.set)); err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%s, %s: %v, want a refusal naming %s", d, tc.name, err, tc.refused)
			}
		}
	}
	// unicloud_payment_notify needs alipay_cert only; without a root bundle
	// no chain is checked.
	for name, set := range map[string]map[string]string{
		"alipay_cert only":              {"alipay_cert": f(aliCert)},
		"a self-signed alipay_cert":     {"alipay_cert": f(filepath.Join(dir, "self_signed.crt"))},
		"alipay_cert and the root":      {"alipay_cert": f(aliCert), "alipay_root_cert": f(rootCert)},
		"any app_cert, which is unused": {"alipay_cert": f(aliCert), "app_cert": f(filepath.Join(dir, "self_signed.crt"))},
	} {
		if err := qaValidate(t, cfg("unicloud_payment_notify alipay", set)); err != nil {
			t.Errorf("unicloud_payment_notify, %s: %v, want it to load", name, err)
		}
	}
}

// TestAcceptanceAlipayAuthAndUserInfo: code2Session in certificate mode answers
// openid, expiresIn and authStart without the tokens (with
// expose_auth_token: the very tokens Alipay gave); getUserInfo calls
// alipay.user.info.share with auth_token = the kept token and no
// biz_content, and answers the member's fields; an openid without a kept
// token is 400 before any call; an expired token is refreshed once with
// grant_type=refresh_token and the kept refresh token.
