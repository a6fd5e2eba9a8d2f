package alipay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

func TestProvision(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der8, _ := x509.MarshalPKCS8PrivateKey(k)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	pkcs8, pub := base64.StdEncoding.EncodeToString(der8), base64.StdEncoding.EncodeToString(pubDER)
	for _, tc := range []struct {
		key, keyType string
		sandbox      bool
		endpoint     string
	}{
		{pkcs1, "PKCS1", false, alipay.DefaultEndpoint},
		{pkcs8, "", true, alipay.SandboxEndpoint},
		{pkcs1, "PKCS8", false, alipay.DefaultEndpoint}, // a mismatch is read anyway
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		a := &Alipay{AppID: "2021", PrivateKey: tc.key, KeyType: tc.keyType, AlipayPublicKey: pub, Sandbox: tc.sandbox}
		if err := a.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
		if a.client.Endpoint != tc.endpoint || a.client.PrivateKey == nil || a.client.AlipayPublicKey == nil {
			t.Errorf("client: %+v", a.client)
		}
		if p, ok := a.PayProvider(time.Second).(*alipay.Pay); !ok || p.Client != a.client || a.client.HTTP.Timeout != time.Second {
			t.Errorf("the payment API: %+v", p)
		}
		_ = a.Cleanup()
		cancel()
	}
	if err := (&Alipay{}).Cleanup(); err != nil {
		t.Errorf("Cleanup before Provision: %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for in, want := range map[string]string{
		"alipay {\n mch_id 1\n}":            "mch_id is not a subdirective of unicloud_payment alipay",
		"alipay {\n serial_no 1\n}":         "serial_no is not a subdirective of unicloud_payment alipay",
		"alipay {\n key_type X\n}":          `key_type must be PKCS8 or PKCS1, not "X"`,
		"alipay {\n refund_all y\n}":        `unknown subdirective "refund_all"`,
		"alipay {\n app_id a\n app_id b\n}": "app_id is given twice",
	} {
		var a Alipay
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// certPEM issues a certificate for pub, signed by signerKey under parent
// (nil: self-signed), in PEM.
func certPEM(t *testing.T, serial int64, cn string, pub *rsa.PublicKey, parent *x509.Certificate, signerKey *rsa.PrivateKey) (string, *x509.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{Country: []string{"CN"}, CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: parent == nil, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), c
}

// Certificate mode: the three files are read through {file.…}, checked,
// and the client carries their SNs; a mixed or incomplete configuration
// and an app certificate of another key are refused, naming the fix.
func TestProvisionCertMode(t *testing.T) {
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	caKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	aliKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	rootPEM, root := certPEM(t, 1, "Test Root", &caKey.PublicKey, nil, caKey)
	aliPEM, _ := certPEM(t, 2, "Alipay", &aliKey.PublicKey, root, caKey)
	appPEM, _ := certPEM(t, 3, "App", &appKey.PublicKey, root, caKey)
	otherPEM, _ := certPEM(t, 4, "App", &aliKey.PublicKey, root, caKey)
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return "{file." + p + "}"
	}
	key := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey)}))
	base := func() *Alipay {
		return &Alipay{AppID: "2021", PrivateKey: key, KeyType: "PKCS1", CertFiles: alipayconf.CertFiles{AppCert: file("app.crt", appPEM),
			AlipayCert: []string{file("alipay.crt", aliPEM)}, AlipayRootCert: file("root.crt", rootPEM)}}
	}
	check := func(a *Alipay) (provision, validate error) {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		defer cancel()
		defer a.Cleanup()
		if err := a.Provision(ctx); err != nil {
			return err, nil
		}
		return nil, a.Validate()
	}
	a := base()
	if p, v := check(a); p != nil || v != nil {
		t.Fatalf("Provision %v, Validate %v", p, v)
	}
	if a.client.Certs == nil || len(a.client.Certs.AppCertSN) != 32 || len(a.client.Certs.RootCertSN) != 32 {
		t.Fatalf("client certs: %+v", a.client.Certs)
	}
	a = base()
	a.AppCert = file("other.crt", otherPEM)
	if p, _ := check(a); p == nil || !strings.Contains(p.Error(), "app_cert: ") || !strings.Contains(p.Error(), "private_key") {
		t.Errorf("an app certificate of another key: %v", p)
	}
	a = base()
	a.AlipayPublicKey = "MIIB"
	if p, _ := check(a); p == nil || !strings.Contains(p.Error(), "exclude each other") {
		t.Errorf("alipay_public_key with certificates: %v", p)
	}
	a = base()
	a.AlipayRootCert = ""
	if p, _ := check(a); p == nil || !strings.Contains(p.Error(), "needs app_cert, alipay_cert and alipay_root_cert") {
		t.Errorf("no root bundle: %v", p)
	}
	if err := (&Alipay{AppID: "2021", PrivateKey: key, CertFiles: alipayconf.CertFiles{AppCert: "A"}}).Validate(); err == nil || !strings.Contains(err.Error(), "needs app_cert") {
		t.Errorf("Validate, certificate mode incomplete: %v", err)
	}
	a = base()
	a.AlipayCert = append(a.AlipayCert, file("missing.crt", "")+"x")
	if p, _ := check(a); p == nil || !strings.Contains(p.Error(), "alipay_cert") {
		t.Errorf("an unreadable second alipay_cert: %v", p)
	}
}

func TestUnmarshalCaddyfileCertMode(t *testing.T) {
	var a Alipay
	in := "alipay {\n app_cert A\n alipay_cert B1\n alipay_cert B2\n alipay_root_cert R\n}"
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if a.AppCert != "A" || len(a.AlipayCert) != 2 || a.AlipayCert[0] != "B1" || a.AlipayCert[1] != "B2" || a.AlipayRootCert != "R" {
		t.Errorf("%+v", a)
	}
	if err := new(Alipay).UnmarshalCaddyfile(caddyfile.NewTestDispenser("alipay {\n alipay_cert\n}")); err == nil {
		t.Error("alipay_cert without a value was accepted")
	}
}
