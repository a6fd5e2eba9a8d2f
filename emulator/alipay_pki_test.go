package emulator

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/signing"
)

// The emulator's own SN computation gives the SNs published for Alipay's
// real certificates (the bundle's SM2 entry skipped, its ECDSA one not
// counted).
func TestAlipayPKISNVectors(t *testing.T) {
	dir := filepath.Join("..", "testdata", "alipay_cert")
	bundle, err := readCerts(filepath.Join(dir, "alipayRootCert.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if sn := emuRootSN(bundle); sn != "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6" {
		t.Errorf("root SN %q", sn)
	}
	for name, want := range map[string]string{
		"appCertPublicKey_2019090366874103.crt": "4498aaa8ab0c8986c15c41b36186db7d",
		"alipayCertPublicKey_RSA2.crt":          "04afd423ea5bd6f5c5482854ed73278c",
	} {
		certs, err := readCerts(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if sn := emuCertSN(certs[0]); sn != want {
			t.Errorf("%s: SN %q, want %q", name, sn, want)
		}
	}
}

// pkiEmulator runs an emulator in certificate mode with its PKI in dir.
func pkiEmulator(t *testing.T, dir string) (*Server, *httptest.Server) {
	t.Helper()
	app, _ := aliKeys(t)
	emu := New(Config{AlipayApps: []AlipayApp{{AppID: aliAppID, AppPublicKey: pubPEM(&app.PublicKey)}}, AlipayTestPKI: dir})
	if err := emu.validateAlipay(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// fileSN is the SN of the first certificate of a PKI file, and its key.
func fileSN(t *testing.T, path string) (string, *rsa.PublicKey) {
	t.Helper()
	certs, err := readCerts(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := certs[0].PublicKey.(*rsa.PublicKey)
	return emuCertSN(certs[0]), pub
}

// TestAlipayCertMode: the emulator writes the three files; a request
// carrying the app certificate's and the bundle's SNs is answered with
// alipay_cert_sn, signed with the Alipay certificate's key; wrong or
// missing SNs get Alipay's refusals.
func TestAlipayCertMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	_, srv := pkiEmulator(t, dir)
	appSN, appPub := fileSN(t, filepath.Join(dir, AlipayAppCertFile(aliAppID)))
	aliSN, aliPub := fileSN(t, filepath.Join(dir, AlipayCertFile))
	bundle, err := readCerts(filepath.Join(dir, AlipayRootCertFile))
	if err != nil || len(bundle) != 2 {
		t.Fatalf("bundle: %d certificates, %v", len(bundle), err)
	}
	rootSN := emuRootSN(bundle)
	app, _ := aliKeys(t)
	if !appPub.Equal(&app.PublicKey) || strings.Contains(rootSN, "_") || len(rootSN) != 32 {
		t.Fatalf("app certificate key / root SN %q", rootSN)
	}
	c := &aliClient{AppID: aliAppID, PrivateKey: app, AlipayPublicKey: aliPub, Endpoint: srv.URL + "/gateway.do", HTTP: srv.Client()}
	sns := map[string]string{"app_cert_sn": appSN, "alipay_root_cert_sn": rootSN}
	call := func(sns map[string]string) (map[string]any, error) {
		extra := map[string]string{"grant_type": "authorization_code", "code": "pki-code"}
		for k, v := range sns {
			extra[k] = v
		}
		return c.Execute(context.Background(), aliOAuthToken, nil, extra)
	}
	if a, err := call(sns); err != nil || a["open_id"] == "" {
		t.Fatalf("certificate-mode call: %v %v", a, err)
	}

	// The answer names the Alipay certificate.
	form, _ := c.form(aliOAuthToken, nil, map[string]string{"grant_type": "authorization_code", "code": "pki-code", "app_cert_sn": appSN, "alipay_root_cert_sn": rootSN})
	resp, err := srv.Client().PostForm(c.Endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var top struct {
		CertSN string `json:"alipay_cert_sn"`
		Sign   string `json:"sign"`
	}
	if err := json.Unmarshal(body, &top); err != nil || top.CertSN != aliSN || top.Sign == "" {
		t.Errorf("answer %s", body)
	}

	for name, tc := range map[string]struct {
		sns     map[string]string
		subCode string
	}{
		"no app SN":   {map[string]string{"alipay_root_cert_sn": rootSN}, "isv.missing-app-cert-sn"},
		"wrong app":   {map[string]string{"app_cert_sn": aliSN, "alipay_root_cert_sn": rootSN}, "isv.app-cert-not-exist"},
		"no root SN":  {map[string]string{"app_cert_sn": appSN}, "isv.missing-alipay-root-cert-sn"},
		"wrong root":  {map[string]string{"app_cert_sn": appSN, "alipay_root_cert_sn": rootSN + "_" + appSN}, "isv.invalid-alipay-root-cert-sn"},
		"public mode": {nil, "isv.missing-app-cert-sn"},
	} {
		if _, err := call(tc.sns); !isAliBiz(err, tc.subCode) {
			t.Errorf("%s: %v, want %s", name, err, tc.subCode)
		}
	}
	if pub, _ := New(Config{AlipayApps: []AlipayApp{{AppID: aliAppID, AppPublicKey: pubPEM(&app.PublicKey)}}, AlipayTestPKI: dir}).AlipayPublicKey(aliAppID); !strings.Contains(pub, "PUBLIC KEY") {
		t.Errorf("public key hook: %q", pub)
	}
}

// The PKI of a directory is kept: a second emulator on it uses the same
// files; an app whose key changed gets a new certificate.
func TestAlipayPKIKept(t *testing.T) {
	dir := t.TempDir()
	pkiEmulator(t, dir)
	aliSN, _ := fileSN(t, filepath.Join(dir, AlipayCertFile))
	appSN, _ := fileSN(t, filepath.Join(dir, AlipayAppCertFile(aliAppID)))
	emu, _ := pkiEmulator(t, dir)
	if sn, _ := fileSN(t, filepath.Join(dir, AlipayCertFile)); sn != aliSN || emu.alipay().pki.alipaySN != aliSN || emu.alipay().pki.appSNs[aliAppID] != appSN {
		t.Error("the PKI was not kept")
	}
	_, other := aliKeys(t)
	if err := EnsureAlipayTestPKI(dir, []AlipayApp{{AppID: aliAppID, AppPublicKey: pubPEM(&other.PublicKey)}}); err != nil {
		t.Fatal(err)
	}
	if sn, pub := fileSN(t, filepath.Join(dir, AlipayAppCertFile(aliAppID))); sn == appSN || !pub.Equal(&other.PublicKey) {
		t.Error("the app certificate of a changed key was not reissued")
	}
	if err := os.WriteFile(filepath.Join(dir, alipayCertKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := New(Config{AlipayApps: []AlipayApp{{AppID: aliAppID, AppPublicKey: pubPEM(&other.PublicKey)}}, AlipayTestPKI: dir}).validateAlipay()
	if err == nil || !strings.Contains(err.Error(), "alipay_test_pki") || !strings.Contains(err.Error(), "remove the directory") {
		t.Errorf("a broken PKI: %v", err)
	}
}

// Certificate-mode notifications are signed with the Alipay certificate's
// key.
func TestAlipayCertModeNotificationKey(t *testing.T) {
	dir := t.TempDir()
	emu, _ := pkiEmulator(t, dir)
	_, aliPub := fileSN(t, filepath.Join(dir, AlipayCertFile))
	m, err := AlipayTradeNotification(NotifyOrder{AppID: aliAppID, OutTradeNo: "o1", TransactionID: "t1", TotalFee: 1}, emu.alipay().apps[aliAppID].key)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(string(m.Body))
	p := map[string]string{}
	for k := range q {
		p[k] = q.Get(k)
	}
	if err := signing.AlipayVerify(aliPub, []byte(signing.AlipaySignContent(p, false)), p["sign"], "RSA2"); err != nil {
		t.Error(err)
	}
}
